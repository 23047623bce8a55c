"""Smoke test: every script of ``examples/`` runs and writes what it promises.

Each runs in a subprocess with the Agg backend, in a temporary folder, with ``--out``
pointing there (without ``--out`` the scripts show their figures, which is what the
sphinx-gallery of the docs captures). CI copies ``examples/`` next to the tests
(``.ci/run``).
"""

import os
import subprocess
import sys

import pytest

EXAMPLES = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                         os.pardir, "examples"))

#: script -> (files it writes under --out, a line its output must contain)
SCRIPTS = {
    "plot_omp_vs_sklearn.py": (("omp_codes.png",), "max |codes difference|"),
    "plot_dictionary_learning.py": (("dictionary_atoms.png",), "with the learned dictionary"),
    "plot_ksvd_denoising.py": (("ksvd_denoising.png",), "dB ->"),
    "plot_block_cs.py": (("block_cs.png",), "tv: PSNR"),
    "plot_phase_transition.py": (("phase_transition.png",), "l1: mean success"),
    "plot_lista_layers.py": (("lista_layers.png",), "ALISTA: "),
    "plot_sae_patches.py": (("sae_atoms.png",), "held-out: l0 5.000"),
    "plot_pruning_digits.py": (("pruning_digits.png",), "overall sparsity 0.980"),
}
#: the scripts that need torch
TORCH = {"plot_lista_layers.py", "plot_sae_patches.py", "plot_pruning_digits.py"}


def test_every_example_is_smoke_tested():
    if not os.path.isdir(EXAMPLES):
        pytest.skip("examples/ not found next to the tests")
    assert sorted(f for f in os.listdir(EXAMPLES) if f.endswith(".py")) == sorted(SCRIPTS)


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_example_runs(script, tmp_path):
    path = os.path.join(EXAMPLES, script)
    if not os.path.isfile(path):
        pytest.skip("examples/ not found next to the tests")
    if script in TORCH:
        pytest.importorskip("torch")
    out = tmp_path / "out"
    env = dict(os.environ, MPLBACKEND="Agg", OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, path, "--out", str(out)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    files, line = SCRIPTS[script]
    assert line in proc.stdout
    assert "Warning" not in proc.stderr, proc.stderr[-3000:]
    for name in files:
        assert (out / name).stat().st_size > 10_000
