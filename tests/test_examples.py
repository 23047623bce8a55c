"""Smoke test: every script of ``examples/`` runs and writes what it promises.

Each runs in a subprocess with the Agg backend, in a temporary folder, with ``--out``
pointing there. CI copies ``examples/`` next to the tests (``.ci/run``).
"""

import os
import subprocess
import sys

import pytest

EXAMPLES = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                         os.pardir, "examples"))

#: script -> (files it writes under --out, a line its output must contain)
SCRIPTS = {
    "omp_vs_sklearn.py": ((), "max |codes difference|"),
    "dictionary_learning.py": (("dictionary_atoms.png",), "with the learned dictionary"),
    "ksvd_denoising.py": (("ksvd_denoising.png",), "dB ->"),
    "block_cs.py": (("block_cs.png",), "tv: PSNR"),
}


def test_every_example_is_smoke_tested():
    if not os.path.isdir(EXAMPLES):
        pytest.skip("examples/ not found next to the tests")
    assert sorted(f for f in os.listdir(EXAMPLES) if f.endswith(".py")) == sorted(SCRIPTS)


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_example_runs(script, tmp_path):
    path = os.path.join(EXAMPLES, script)
    if not os.path.isfile(path):
        pytest.skip("examples/ not found next to the tests")
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
