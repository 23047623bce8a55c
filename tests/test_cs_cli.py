"""Tests of the ``sparsecode cs`` sub-command."""

import numpy as np
import pytest

from sparsecode.cli import main


@pytest.fixture(scope="module")
def image_file(tmp_path_factory):
    from skimage import data

    from sparsecode.image.io import write_image

    path = tmp_path_factory.mktemp("cs") / "camera.png"
    write_image(path, data.camera()[200:264, 250:314].astype(float))
    return path


@pytest.fixture(autouse=True)
def _single_thread_blas():
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


def test_cs_cli_reconstructs_and_reports_metrics(image_file, tmp_path, capsys):
    from sparsecode.image.io import read_image

    out = tmp_path / "recon.png"
    code = main(["cs", str(image_file), "--ratio", "0.5", "--method", "fista-dct",
                 "--max-iter", "60", "--out", str(out), "--quiet"])
    assert code == 0
    text = capsys.readouterr().out
    assert "PSNR" in text and "SSIM" in text and "wrote" in text
    psnr = float(text.split("PSNR")[1].split("dB")[0])
    assert psnr > 25.0
    rec = read_image(out)
    assert rec.shape == (64, 64)
    # the printed PSNR is the one of the written reconstruction (up to 8-bit rounding)
    from skimage.metrics import peak_signal_noise_ratio

    ref = read_image(image_file)
    assert peak_signal_noise_ratio(ref, rec, data_range=255) == pytest.approx(psnr, abs=0.2)


@pytest.mark.parametrize("method", ["backprojection", "tv"])
def test_cs_cli_methods_without_out(image_file, capsys, method):
    assert main(["cs", str(image_file), "--ratio", "0.25", "--method", method,
                 "--max-iter", "20", "--quiet"]) == 0
    assert "PSNR" in capsys.readouterr().out


@pytest.mark.parametrize("method", ["fista-dct", "tv"])
def test_cs_cli_shows_progress(image_file, capsys, method):
    assert main(["cs", str(image_file), "--ratio", "0.25", "--max-iter", "20",
                 "--method", method]) == 0
    assert method in capsys.readouterr().err  # the tqdm bar


def test_cs_cli_default_method_is_tv(image_file, capsys):
    assert main(["cs", str(image_file), "--ratio", "0.25", "--max-iter", "5"]) == 0
    assert "method=tv" in capsys.readouterr().out


@pytest.mark.parametrize("ratio", ["0", "1.5", "-0.2", "nan"])
def test_cs_cli_bad_ratio_exits_2(image_file, capsys, ratio):
    assert main(["cs", str(image_file), "--ratio", ratio]) == 2
    err = capsys.readouterr().err
    assert "--ratio must be in (0, 1]" in err
    assert len(err.strip().splitlines()) == 1


def test_cs_cli_missing_file_exits_2(tmp_path, capsys):
    assert main(["cs", str(tmp_path / "nope.png")]) == 2
    err = capsys.readouterr().err
    assert "image file not found" in err and len(err.strip().splitlines()) == 1


def test_cs_cli_unreadable_file_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image at all")
    assert main(["cs", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "cannot read" in err and len(err.strip().splitlines()) == 1


def test_cs_cli_bad_output_folder_exits_2(image_file, tmp_path, capsys):
    assert main(["cs", str(image_file), "--out", str(tmp_path / "no" / "r.png")]) == 2
    assert "output folder does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--alpha", "-1"], "--alpha must be a non-negative number"),
    (["--block-size", "0"], "--block-size must be a positive integer"),
    (["--max-iter", "0"], "--max-iter must be a positive integer"),
    (["--tol", "-1"], "--tol must be a non-negative number"),
    (["--out", "recon.xyz"], "--out 'recon.xyz' has extension '.xyz'; supported image "
     "extensions: .png, .tif, .tiff, .bmp, .jpg, .jpeg, .gif, .webp"),
    (["--out", "recon"], "has no extension; supported image extensions"),
])
def test_cs_cli_bad_options_exit_2(image_file, capsys, args, message):
    assert main(["cs", str(image_file)] + args) == 2
    assert message in capsys.readouterr().err


def test_cs_cli_bad_method_is_rejected_by_argparse(image_file, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["cs", str(image_file), "--method", "omp"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_cs_cli_does_not_modify_input_file(image_file):
    before = image_file.read_bytes()
    main(["cs", str(image_file), "--ratio", "0.5", "--method", "backprojection", "--quiet"])
    assert image_file.read_bytes() == before
    assert np.frombuffer(before, dtype=np.uint8).size > 0


def test_cs_cli_huge_block_is_refused_before_allocating(tmp_path, capsys):
    # Regression: --block-size 300 on a 256x256 image grew to 19 GB of memory.
    import tracemalloc

    from sparsecode.image.io import write_image

    path = tmp_path / "big.png"
    write_image(path, np.zeros((256, 256)))
    tracemalloc.start()
    rc = main(["cs", str(path), "--block-size", "300", "--quiet"])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert rc == 2 and peak < 50 * 2**20
    err = capsys.readouterr().err
    assert "block_size=300 at ratio=0.25 needs a 22500x90000" in err and "GiB" in err


def test_block_cs_operator_bounds_its_matrix():
    from sparsecode.operators import block_cs_operator
    from sparsecode.operators._image import MAX_BLOCK_MATRIX_BYTES

    with pytest.raises(ValueError, match="use a smaller block_size"):
        block_cs_operator((256, 256), 0.25, block_size=300)
    A = block_cs_operator((256, 256), 0.25, block_size=300, kind="dct")  # fast: no matrix
    assert A.shape == (22500, 256 * 256)
    assert 4096 * 16384 * 8 > MAX_BLOCK_MATRIX_BYTES >= 4096 * 4096 * 8  # 64-px blocks fit
    assert block_cs_operator((64, 64), 1.0, block_size=64).shape == (4096, 4096)


def test_cs_cli_tiny_image_skips_ssim_with_a_note(tmp_path, capsys):
    # Regression: a 5x5 image ended in a scikit-image traceback from SSIM.
    from sparsecode.image.io import write_image

    path = tmp_path / "tiny.png"
    write_image(path, np.arange(25.0).reshape(5, 5) * 10)
    assert main(["cs", str(path), "--ratio", "0.5", "--quiet", "--max-iter", "10"]) == 0
    out = capsys.readouterr().out
    assert "PSNR" in out and "SSIM skipped: the image is smaller than SSIM's 7x7 window" in out


def test_image_quality_small_image_error_is_clear():
    from sparsecode.cs import image_quality

    with pytest.raises(ValueError, match="smaller than SSIM's 7x7 window"):
        image_quality(np.zeros((5, 5)), np.zeros((5, 5)))


def test_cs_cli_reports_the_tolerance_reached(image_file, capsys):
    # Regression: every default run printed "did not converge". A run that stops at
    # --max-iter says which relative change it reached against which --tol.
    assert main(["cs", str(image_file), "--quiet", "--max-iter", "12", "--tol", "1e-9"]) == 0
    err = capsys.readouterr().err
    assert "did not converge" not in err
    assert "note: tv stopped at --max-iter=12 with a relative change of " in err
    reached = float(err.split("relative change of ")[1].split(" ")[0])
    assert 1e-9 < reached < 1.0 and "above --tol=1e-09" in err


def test_cs_cli_default_tolerance_converges_for_fista_dct(image_file, capsys):
    assert main(["cs", str(image_file), "--quiet", "--method", "fista-dct"]) == 0
    captured = capsys.readouterr()
    assert "note:" not in captured.err and "PSNR" in captured.out
