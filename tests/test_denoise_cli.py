"""Tests of the ``sparsecode denoise`` command."""

import numpy as np
import pytest
from skimage.data import camera

from sparsecode.cli import main
from sparsecode.image import psnr, read_image, write_image


@pytest.fixture
def clean_png(tmp_path):
    path = tmp_path / "clean.png"
    write_image(path, camera()[100:164, 100:164])
    return path


def test_denoise_cli_add_noise_prints_metrics_and_writes(clean_png, tmp_path, capsys):
    out = tmp_path / "den.png"
    noisy_out = tmp_path / "noisy.png"
    rc = main(["denoise", str(clean_png), "--sigma", "25", "--add-noise", "--seed", "3",
               "--out", str(out), "--noisy-out", str(noisy_out), "--n-iter", "2",
               "--max-patches", "3000"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "noisy:" in text and "denoised:" in text and "SSIM" in text
    lines = {line.split(":")[0]: line for line in text.splitlines() if "PSNR" in line}
    noisy_psnr = float(lines["noisy"].split("PSNR")[1].split("dB")[0])
    den_psnr = float(lines["denoised"].split("PSNR")[1].split("dB")[0])
    assert den_psnr > noisy_psnr + 2
    clean = read_image(clean_png)
    den = read_image(out)
    assert den.shape == clean.shape
    # the written 8-bit file is as good as printed, to within quantisation
    assert psnr(clean, den, data_range=255) == pytest.approx(den_psnr, abs=0.1)
    assert noisy_out.exists()


def test_denoise_cli_clean_reference_and_dct(clean_png, tmp_path, capsys):
    rng = np.random.default_rng(0)
    clean = read_image(clean_png)
    noisy_path = tmp_path / "noisy.png"
    write_image(noisy_path, clean + 15 * rng.standard_normal(clean.shape))
    rc = main(["denoise", str(noisy_path), "--sigma", "15", "--method", "dct",
               "--clean", str(clean_png), "--out", str(tmp_path / "d.png"), "--quiet"])
    assert rc == 0
    assert "denoised: PSNR" in capsys.readouterr().out


def test_denoise_cli_deterministic_for_seed(clean_png, tmp_path):
    outs = []
    for k in range(2):
        out = tmp_path / f"d{k}.png"
        main(["denoise", str(clean_png), "--sigma", "25", "--add-noise", "--seed", "5",
              "--out", str(out), "--n-iter", "2", "--max-patches", "2000", "--quiet"])
        outs.append(read_image(out))
    np.testing.assert_array_equal(outs[0], outs[1])


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--sigma", "0"], "--sigma must be a positive number"),
        (["--sigma", "-3"], "--sigma must be a positive number"),
        (["--sigma", "nan"], "--sigma must be a positive number"),
        (["--sigma", "25", "--add-noise", "--patch-size", "100"], "--patch-size must be between"),
        (["--sigma", "25", "--add-noise", "--clean", "{missing}"],
         "--clean: image file not found"),
        (["--sigma", "25", "--out", "{tmp}/x.xyz"],
         "x.xyz' has extension '.xyz'; supported image extensions: .png, .tif"),
        (["--sigma", "25", "--add-noise", "--noisy-out", "{tmp}/n"],
         "has no extension; supported image extensions"),
        (["--sigma", "25", "--out", "{tmp}/no/such/dir/x.png"], "output folder does not exist"),
    ],
)
def test_denoise_cli_user_errors_exit_2(clean_png, tmp_path, capsys, argv, match):
    argv = [a.format(missing=tmp_path / "missing.png", tmp=tmp_path) for a in argv]
    rc = main(["denoise", str(clean_png), *argv])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sparsecode denoise: error:")
    assert match in err
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize("content", [None, "not an image"])
def test_denoise_cli_bad_image_file_exit_2(tmp_path, capsys, content):
    path = tmp_path / "bad.png"
    if content is not None:
        path.write_text(content)
    rc = main(["denoise", str(path), "--sigma", "25", "--out", str(tmp_path / "o.png")])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sparsecode denoise: error: IMAGE:")
    assert len(err.splitlines()) == 1


def test_denoise_cli_help_lists_command(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["denoise", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--sigma" in out and "--add-noise" in out and "--clean" in out


def test_denoise_cli_missing_file_is_reported_first(capsys, tmp_path):
    # A missing input is the first thing a user needs to hear about, even without --out.
    assert main(["denoise", str(tmp_path / "nope.png"), "--sigma", "25"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("IMAGE: no such file: " + str(tmp_path / "nope.png"))
    assert len(err.splitlines()) == 1


def test_denoise_cli_add_noise_without_out_writes_a_default_file(clean_png, tmp_path, capsys,
                                                               monkeypatch):
    # Regression: --sigma 25 --add-noise without --out wrote nothing.
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    assert main(["denoise", str(clean_png), "--sigma", "25", "--add-noise", "--method", "dct",
                 "--quiet"]) == 0
    text = capsys.readouterr().out
    written = work / "clean-denoised.png"
    assert written.is_file() and f"wrote {written.relative_to(work)}" in text.replace(
        "./", "")
    den = read_image(written)
    noisy = camera()[100:164, 100:164] + 25 * np.random.default_rng(0).standard_normal(
        (64, 64))
    clean = camera()[100:164, 100:164].astype(float)
    assert psnr(clean, den, data_range=255) > psnr(clean, noisy, data_range=255) + 3
    # --out still wins, and nothing else is written then
    assert main(["denoise", str(clean_png), "--sigma", "25", "--add-noise", "--method", "dct",
                 "--quiet", "--out", str(tmp_path / "mine.tif")]) == 0
    assert (tmp_path / "mine.tif").is_file() and sorted(p.name for p in work.iterdir()) == [
        "clean-denoised.png"]
