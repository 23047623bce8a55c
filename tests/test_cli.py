"""The `sparsecode` command line: dispatch, help, and the demo (the README's main job)."""

import os

import pytest

from sparsecode.cli import main


def test_cli_without_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_cli_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert "sparsecode" in capsys.readouterr().out


def test_cli_unknown_command_exits_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["frobnicate"])
    assert exc.value.code == 2


def test_demo_quick_runs_every_section(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "[coding]" in text and "exact support recovery" in text
    assert "[denoise]" in text and "PSNR" in text
    assert "[cs]" in text and "fista-dct" in text and "tv" in text
    pngs = set(os.listdir(out))
    assert {"camera_clean.png", "camera_noisy_sigma25.png", "camera_denoised_ksvd.png",
            "cs_original.png", "cs_fista-dct.png", "cs_tv.png"} <= pngs
    # one labelled comparison figure per section, PSNR in the titles
    import re

    from sparsecode.image import read_image

    for name, panels in (("coding_comparison.png", 1), ("denoise_comparison.png", 3),
                         ("cs_comparison.png", 4)):
        assert name in pngs
        fig = read_image(out / name)
        assert fig.shape[1] > 300 * panels and fig.std() > 10   # drawn, not blank
    psnrs = [float(v) for v in re.findall(r"([0-9.]+) dB", text)]
    assert len(psnrs) >= 5 and "figure" in text
