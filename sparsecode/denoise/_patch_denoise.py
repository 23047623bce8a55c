"""Image denoising by sparse coding of overlapping patches (Elad & Aharon, 2006)."""

from __future__ import annotations

import numbers

import numpy as np

from .._jit import num_threads
from .._jit import gram as _gram
from ..coding import orthogonal_mp
from ..image._dct import overcomplete_dct_dictionary
from ..image.patches import (
    _axis_counts,
    _extract,
    _extract_at,
    accumulate_patches,
    patch_grid,
    sample_patches,
)
from ..kernels.dictionary import sparse_residual
from ..utils._dask import is_dask_array
from ..utils._validation import check_dictionary, check_positive_int, check_random_state

__all__ = ["denoise_image", "METHODS"]

#: Denoising methods, name -> description (the error message for a bad name lists them).
METHODS = {
    "ksvd": "adaptive: K-SVD dictionary trained on the noisy image's own patches",
    "global": "fixed dictionary (`dictionary`, default the overcomplete DCT)",
    "dct": "alias of 'global' (the fixed overcomplete DCT unless `dictionary` is given)",
    "cscnet": "learned: CSCnet, convolutional LISTA (sparsecode.nn.denoise, needs torch)",
    "deep-ksvd": "learned: Deep K-SVD, unrolled patch sparse coding (needs torch)",
}

#: The methods served by the learned models of :mod:`sparsecode.nn.denoise`.
_LEARNED = ("cscnet", "deep-ksvd")

#: Patches coded per band (bounds memory: codes are (band, n_components) floats).
_BAND_PATCHES = 16384


def _check_image(image):
    if image is None:
        raise TypeError("image must be a 2-D array of numbers, got None.")
    arr = np.asarray(image)
    if arr.dtype.kind == "b" or arr.dtype.kind not in "fiu":
        raise TypeError(f"image must be a real numeric array, got dtype {arr.dtype}.")
    if arr.ndim != 2:
        raise ValueError(
            "image must be a 2-D (grayscale) array or an (H, W, 3) colour one, got an "
            f"array of shape {arr.shape}."
        )
    if arr.size == 0:
        raise ValueError(f"image is empty (shape {arr.shape}).")
    if not np.isfinite(arr).all():
        raise ValueError("image contains NaN or infinity; all pixel values must be finite.")
    return arr


def _check_dask_image(image):
    """Checks of a Dask image; NaN/inf and the float range are found in one lazy pass.

    Returns the largest absolute value of a float image (None for integers).
    """
    import dask
    import dask.array as da

    if image.ndim != 2:
        raise ValueError(
            f"image must be a 2-D (grayscale) array, got an array of shape {image.shape}."
        )
    if image.dtype.kind == "b" or image.dtype.kind not in "fiu":
        raise TypeError(f"image must be a real numeric array, got dtype {image.dtype}.")
    if any(isinstance(n, float) for n in image.shape):
        raise ValueError("image is a Dask array of unknown shape; call "
                         "image.compute_chunk_sizes() first.")
    if image.size == 0:
        raise ValueError(f"image is empty (shape {image.shape}).")
    if image.dtype.kind in "iu":
        return None
    finite, amax = dask.compute(da.isfinite(image).all(), abs(image).max())
    if not finite:
        raise ValueError("image contains NaN or infinity; all pixel values must be finite.")
    return float(amax)


def _sample_patches_dask(image, p, n_patches, rng, dtype):
    """:func:`~sparsecode.image.patches.sample_patches` (stride 1) of a Dask image.

    The same draw from ``rng`` and the same patches in the same order, extracted from
    one band of image rows at a time (a row chunk and the ``p - 1`` rows below it).
    """
    H, W = image.shape
    r, c = patch_grid((H, W), p, 1)
    total = len(r) * len(c)
    if n_patches >= total:
        pick = np.arange(total)
    else:
        pick = rng.choice(total, size=n_patches, replace=False)
        pick.sort()
    rr, cc = r[pick // len(c)], c[pick % len(c)]
    out = []
    start = 0
    for size in image.chunks[0]:
        sel = (rr >= start) & (rr < start + size)
        if sel.any():
            band = np.ascontiguousarray(
                image[start:min(H, start + size + p - 1)].compute(), dtype=dtype)
            out.append(_extract_at(band, rr[sel] - start, cc[sel], p, p))
        start += size
    return np.concatenate(out)


def _accumulate(y, rows, cols, p, code, Dw, sparse_codes, n_jobs, verbose=False):
    """Sum (float64) of the denoised patches at the corners ``rows x cols`` of ``y``."""
    H, W = y.shape
    band = max(1, _BAND_PATCHES // len(cols))
    acc = np.zeros((H, W), dtype=np.float64)
    starts = range(0, len(rows), band)
    if verbose:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="coding", unit="band", leave=False)
    for s in starts:
        r = rows[s:s + band]
        P = _extract(y, r, cols, p, p)
        mean = _remove_dc(P)
        codes = np.asarray(code(P))
        if codes.shape != (P.shape[0], Dw.shape[0]):
            raise ValueError(
                f"coder returned codes of shape {codes.shape}, expected "
                f"{(P.shape[0], Dw.shape[0])}."
            )
        if sparse_codes:  # OMP codes are sparse: reconstruct from the nonzeros only
            rec = np.zeros_like(P)
            with num_threads(n_jobs):
                sparse_residual(np.zeros_like(P), codes, Dw, rec)  # rec = -codes @ D
            np.subtract(mean, rec, out=rec)
        else:
            rec = codes.astype(Dw.dtype, copy=False) @ Dw
            rec += mean
        accumulate_patches(acc, rec, r, cols, p)
    return acc


def _finish(acc, counts, y64, lam, out_dtype, clip, R):
    """``(acc + lam y) / (lam + counts)`` in place, clipped, in the image's dtype."""
    acc += lam * y64
    acc /= lam + counts
    if out_dtype.kind in "iu":
        info = np.iinfo(out_dtype)
        lo, hi = info.min, info.max
        if clip:
            lo, hi = max(lo, 0), min(hi, R)
        return np.clip(np.rint(acc), lo, hi).astype(out_dtype)
    if clip:
        np.clip(acc, 0.0, R, out=acc)
    return acc.astype(out_dtype)


def _denoise_tile(tile, *, rows, cols, p, grid_chunks, coder, D, tol, n_nonzero_coefs, lam,
                  clip, R, work_dtype, n_jobs, block_info=None):
    """One tile of :func:`denoise_image` under :func:`dask.array.map_overlap`.

    ``tile`` is a block of the image (its core) with ``p - 1`` more rows and columns on
    each interior side. The core gets what the whole-image call computes there: every
    grid patch covering a core pixel lies inside the tile and is coded on its own, and
    the counts of the core are those of the whole grid. The margins of the returned
    tile are zeros, trimmed by ``map_overlap``.
    """
    depth = p - 1
    i, j = block_info[0]["chunk-location"]
    a, c = int(sum(grid_chunks[0][:i])), int(sum(grid_chunks[1][:j]))  # core start
    b, d = a + grid_chunks[0][i], c + grid_chunks[1][j]
    r0, c0 = max(0, a - depth), max(0, c - depth)  # tile start, global
    sel_r = rows[(rows >= a - depth) & (rows < b)] - r0  # the patches covering the core
    sel_c = cols[(cols >= c - depth) & (cols < d)] - c0
    y = np.ascontiguousarray(tile, dtype=work_dtype)
    Dw = np.ascontiguousarray(D, dtype=work_dtype)
    code = _make_coder(coder, Dw, tol, n_nonzero_coefs, n_jobs)
    acc = _accumulate(y, sel_r, sel_c, p, code, Dw, coder is None, n_jobs)
    core = (slice(a - r0, b - r0), slice(c - c0, d - c0))
    counts = np.outer(_axis_counts(tile.shape[0], sel_r, p),
                      _axis_counts(tile.shape[1], sel_c, p))[core]
    out = np.zeros(tile.shape, dtype=tile.dtype)
    out[core] = _finish(acc[core], counts, np.asarray(tile[core], dtype=np.float64), lam,
                        tile.dtype, clip, R)
    return out


def _denoise_tiles(image, rows, cols, p, **params):
    """Lazy :func:`denoise_image` of a Dask image by overlapping tiles."""
    import dask.array as da
    from dask.array.overlap import ensure_minimum_chunksize

    depth = p - 1
    if depth:  # every chunk at least as deep as the overlap (map_overlap's requirement)
        image = image.rechunk(tuple(ensure_minimum_chunksize(depth, ch) for ch in image.chunks))
    return da.map_overlap(
        _denoise_tile, image, depth=depth, boundary="none", trim=True, allow_rechunk=False,
        dtype=image.dtype, meta=np.empty((0, 0), dtype=image.dtype), rows=rows, cols=cols,
        p=p, grid_chunks=image.chunks, **params,
    )


def _check_positive_real(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a positive float, got {value!r}.")
    value = float(value)
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite float, got {value}.")
    return value


def _resolve_data_range(arr, data_range):
    if data_range is not None:
        return _check_positive_real(data_range, "data_range")
    if arr.dtype.kind in "iu":
        info = np.iinfo(arr.dtype)
        return float(info.max) if info.min == 0 else float(info.max - info.min)
    # Floats: intensities in [0, 1] unless the values say otherwise. A noisy [0, 1] image
    # stays within [-1, 2] for any sensible sigma; a [0, 255] one does not.
    return 1.0 if float(np.max(np.abs(arr))) <= 2.0 else 255.0


def _resolve_method(method):
    if isinstance(method, str):
        if method not in METHODS:
            raise ValueError(
                f"method must be one of {sorted(METHODS)} or a dictionary-learning "
                f"estimator with fit() and components_, got {method!r}."
            )
        return "global" if method == "dct" else method
    if hasattr(method, "fit"):
        return method
    raise TypeError(
        f"method must be a string in {sorted(METHODS)} or an estimator with fit() and "
        f"components_, got {type(method).__name__}."
    )


def _remove_dc(P):
    mean = P.mean(axis=1, keepdims=True)
    P -= mean
    return mean


def _make_coder(coder, D, tol, n_nonzero_coefs, n_jobs):
    """A function ``codes(X)`` over the fixed dictionary ``D``."""
    if coder is None:
        G = _gram(D)
        return lambda X: orthogonal_mp(
            X, D, n_nonzero_coefs=n_nonzero_coefs, tol=tol, gram=G, n_jobs=n_jobs
        )
    if hasattr(coder, "transform") and hasattr(coder, "get_params"):
        from sklearn.base import clone

        if "dictionary" not in coder.get_params(deep=False):
            raise TypeError(
                "coder must be a callable coder(X, dictionary) -> codes or an estimator "
                f"with a `dictionary` parameter (like SparseCoder); {type(coder).__name__} "
                "has none."
            )
        est = clone(coder).set_params(dictionary=D)
        state = {}

        def run(X):
            if "fitted" not in state:
                est.fit(X)
                state["fitted"] = True
            return est.transform(X)

        return run
    if callable(coder):
        return lambda X: coder(X, D)
    raise TypeError(
        "coder must be None, a callable coder(X, dictionary) -> codes, or an estimator "
        f"with a `dictionary` parameter, got {type(coder).__name__}."
    )


def _train_ksvd(X, D0, *, tol, n_nonzero_coefs, n_iter, ksvd_method, random_state,
                n_jobs, verbose):
    try:
        from ..dictionary import ksvd
    except ImportError as exc:  # pragma: no cover - depends on the build
        raise ImportError(
            "method='ksvd' needs sparsecode.dictionary.ksvd, which is not available in "
            "this installation; use method='dct'."
        ) from exc
    D, _, _ = ksvd(
        X, n_components=D0.shape[0], n_nonzero_coefs=n_nonzero_coefs, tol=tol,
        max_iter=n_iter, init=D0, method=ksvd_method, random_state=random_state,
        n_jobs=n_jobs, verbose=verbose,
    )
    return D


#: Image magnitudes (max |pixel|, sigma, data range) handled as they are; beyond, the
#: image is denoised at unit scale (float32 squares overflow near 1e19).
_SAFE_MAGNITUDE = (2.0**-40, 2.0**40)


def denoise_image(
    image,
    sigma,
    *,
    method="ksvd",
    patch_size=8,
    n_components=256,
    n_iter=10,
    max_patches=65000,
    C=1.15,
    lam=None,
    n_nonzero_coefs=None,
    dictionary=None,
    coder=None,
    stride=1,
    data_range=None,
    clip=True,
    ksvd_method="approx",
    dtype=np.float32,
    random_state=None,
    n_jobs=None,
    verbose=False,
    return_dictionary=False,
    chunks=None,
    weights=None,
):
    r"""Denoise a grayscale or colour image by sparse coding of its overlapping patches.

    The K-SVD denoiser of Elad & Aharon (2006) for additive white Gaussian noise of
    standard deviation :math:`\sigma`. Every :math:`p \times p` patch :math:`y_{ij}` of
    the noisy image :math:`y`, with its mean (DC) removed, is coded by OMP until the
    residual reaches the noise level,

    .. math::

        \hat\alpha_{ij} = \arg\min_\alpha \|\alpha\|_0 \quad\text{s.t.}\quad
        \|y_{ij} - \bar y_{ij} - \alpha D\|_2 \le C \sigma p,

    and the image is the weighted average of the noisy image and the denoised patches,

    .. math::

        \hat x = \Big(\lambda y + \sum_{ij} R_{ij}^\top (\hat\alpha_{ij} D +
        \bar y_{ij})\Big) \oslash \Big(\lambda + \sum_{ij} R_{ij}^\top \mathbf 1\Big).

    With ``method="ksvd"`` (adaptive) the dictionary is first learned by K-SVD on (at
    most ``max_patches``) DC-removed patches of the noisy image itself, starting from
    the overcomplete DCT; with ``method="dct"`` / ``"global"`` it is fixed.

    With ``method="cscnet"`` or ``"deep-ksvd"`` the image is denoised by a learned
    sparse model instead (:func:`sparsecode.nn.denoise.denoise_learned`, needs torch;
    the shipped weights of the nearest trained noise level, or ``weights``); only
    ``data_range`` and ``clip`` of the options below apply then. Colour images
    ``(height, width, 3)`` are denoised channel by channel (the same options, one
    ``data_range`` for all channels).

    Parameters
    ----------
    image : array-like or dask.array.Array of shape (height, width) or (height, width, 3)
        Noisy grayscale (or RGB, denoised per channel) image, any real dtype. ``sigma`` is
        in the image's units. A Dask image (grayscale) is denoised by overlapping tiles
        (see ``chunks``) and the result is lazy.
    sigma : float
        Noise standard deviation (> 0), e.g. 25 for an 8-bit image at σ = 25, or
        25/255 for the same image scaled to [0, 1].
    method : {"ksvd", "dct", "global"} or estimator, default="ksvd"
        ``"ksvd"``: adaptive dictionary (K-SVD on the noisy patches, initialised with
        ``dictionary`` or the overcomplete DCT). ``"dct"``/``"global"``: fixed
        dictionary (``dictionary``, or the overcomplete DCT). An estimator with
        ``fit(X)`` and ``components_`` (e.g. any dictionary learner of this library or
        scikit-learn's ``MiniBatchDictionaryLearning``) is cloned and fitted on the
        DC-removed training patches instead of K-SVD.
    patch_size : int, default=8
        Side ``p`` of the square patches (at most the image's smaller side).
    n_components : int, default=256
        Number of atoms of the default DCT dictionary (ignored if ``dictionary`` is
        given).
    n_iter : int, default=10
        K-SVD iterations (``method="ksvd"``).
    max_patches : int, default=65000
        At most this many noisy patches (drawn at random, without replacement) train the
        dictionary.
    C : float, default=1.15
        Noise gain of the error target :math:`\|r\|_2 \le C\sigma p`.
    lam : float, default=None
        Weight :math:`\lambda` of the noisy image in the final average; None means the
        paper's :math:`30/\sigma_{255}`, with :math:`\sigma_{255} = 255\,\sigma /
        \text{data\_range}` (sigma on the 8-bit scale).
    n_nonzero_coefs : int, default=None
        Cap on the atoms per patch; None means ``p * p // 2`` (KSVD-Box).
    dictionary : array-like of shape (n_atoms, patch_size ** 2), default=None
        Fixed dictionary (``"global"``) or initial dictionary (``"ksvd"``); atoms in
        rows, patches flattened row-major. Default: the overcomplete DCT with
        ``n_components`` atoms.
    coder : callable or estimator, default=None
        How patches are coded over the final dictionary. None: Batch-OMP with the error
        target above and ``n_nonzero_coefs``. A callable ``coder(X, dictionary) ->
        codes`` (e.g. ``functools.partial(sparsecode.orthogonal_mp,
        n_nonzero_coefs=5)``), or an estimator with a ``dictionary`` parameter (e.g.
        :class:`sparsecode.SparseCoder`), cloned with the final dictionary. K-SVD
        training always codes with OMP.
    stride : int, default=1
        Step between the coded patches (the border patches are always included).
        Larger strides are faster and slightly worse.
    data_range : float, default=None
        Intensity range of the clean image, used for the default ``lam`` and for
        clipping. None: the dtype's maximum for integer images (255 for uint8); for
        float images 1.0 if all values lie within [-2, 2], else 255.
    clip : bool, default=True
        Clip the result to ``[0, data_range]``. Integer outputs are always clipped to
        their dtype.
    ksvd_method : {"approx", "exact"}, default="approx"
        Atom update of K-SVD (approximate K-SVD as in the KSVD-Box, or exact SVD).
    dtype : {numpy.float32, numpy.float64}, default=numpy.float32
        Floating type of the training and coding (the final average is accumulated in
        float64). float32 is about a third cheaper and changed the PSNR by less than
        0.001 dB on House and Barbara at sigma = 25.
    random_state : int, RandomState or Generator, default=None
        Seeds the choice of training patches and K-SVD; fix it for a reproducible
        result.
    n_jobs : int, default=None
        Threads of the OMP and K-SVD kernels (None: all).
    verbose : bool, default=False
        Progress bars (tqdm) over K-SVD iterations and coding.
    return_dictionary : bool, default=False
        Also return the dictionary the patches were coded with (grayscale, non-learned
        methods only).
    chunks : int, tuple or str, default=None
        Denoise by tiles of this size (dask chunks; a Dask image is rechunked) with
        :func:`dask.array.map_overlap`: neighbouring tiles overlap by ``patch_size - 1``
        pixels, so every patch covering a pixel of a tile lies inside the tile and the
        result equals the whole-image call to float rounding of ``dtype``. The
        dictionary is trained once, on patches sampled from the whole image (the same
        draw as without tiles, read one band of rows at a time), and used in every
        tile. A Dask image uses its own chunks when this is None. Needs dask; tiles run
        on dask's current scheduler. Chunks smaller than ``patch_size - 1`` are merged.
        ``verbose`` shows no coding progress for tiles, and an estimator ``coder`` is
        fitted once per tile.
    weights : str or Path, default=None
        Weights file of ``sparsecode train-denoiser`` for the learned methods.

    Returns
    -------
    denoised : ndarray of shape (height, width)
        Same dtype as ``image`` (integer images are rounded and clipped to their dtype).
        A lazy Dask array (chunked like the tiles) for a Dask ``image``; a NumPy array
        for a NumPy image with ``chunks``.
        Float images of any magnitude work: beyond about 1e12 (or below 1e-12) the
        image, ``sigma`` and ``data_range`` are divided by the same power of two and the
        result multiplied back (denoising is scale-equivariant; exact in floating
        point), since the squared patch norms would overflow the working float (not
        for tiled images, which must stay within that range).
    dictionary : ndarray of shape (n_atoms, patch_size ** 2)
        Only with ``return_dictionary=True``.

    Raises
    ------
    ValueError
        For ``sigma <= 0``, a non-2-D or NaN-containing image, a patch larger than the
        image, an unknown method, or a dictionary with the wrong number of features.

    References
    ----------
    M. Elad, M. Aharon, "Image denoising via sparse and redundant representations over
    learned dictionaries", IEEE Trans. Image Process. 15(12):3736-3745, 2006,
    doi:10.1109/TIP.2006.881969.

    R. Rubinstein, M. Zibulevsky, M. Elad, "Efficient implementation of the K-SVD
    algorithm using batch orthogonal matching pursuit", Technion CS-2008-08, 2008.

    Examples
    --------
    >>> import numpy as np
    >>> from skimage.data import camera
    >>> from sparsecode.denoise import denoise_image
    >>> from sparsecode.image import psnr
    >>> clean = camera()[200:264, 200:264].astype(float)
    >>> rng = np.random.default_rng(0)
    >>> noisy = clean + 25 * rng.standard_normal(clean.shape)
    >>> out = denoise_image(noisy, 25, method="dct", data_range=255)
    >>> bool(psnr(clean, out, data_range=255) > psnr(clean, noisy, data_range=255) + 3)
    True
    """
    if isinstance(method, str) and method in _LEARNED:
        if return_dictionary:
            raise ValueError(f"return_dictionary=True is not available for method={method!r}.")
        sigma = _check_positive_real(sigma, "sigma")
        from ..nn.denoise import denoise_learned  # lazy: torch

        return denoise_learned(image, sigma, model=method, weights=weights,
                               data_range=data_range, clip=clip)
    if np.ndim(image) == 3 and np.shape(image)[-1] == 3 and not return_dictionary:
        rgb = np.asarray(image)
        _check_image(rgb[..., 0])  # dtype and size
        if not np.isfinite(rgb).all():
            raise ValueError("image contains NaN or infinity; all pixel values must be finite.")
        kw = dict(method=method, patch_size=patch_size, n_components=n_components,
                  n_iter=n_iter, max_patches=max_patches, C=C, lam=lam,
                  n_nonzero_coefs=n_nonzero_coefs, dictionary=dictionary, coder=coder,
                  stride=stride, data_range=_resolve_data_range(rgb, data_range),
                  clip=clip, ksvd_method=ksvd_method, dtype=dtype,
                  random_state=random_state, n_jobs=n_jobs, verbose=verbose,
                  chunks=chunks)
        return np.stack([denoise_image(rgb[..., c], sigma, **kw) for c in range(3)], axis=-1)
    lazy = is_dask_array(image)
    tiled = lazy or chunks is not None
    if tiled:
        import dask.array as da

        arr = image if lazy else da.from_array(_check_image(image), chunks=chunks)
        if lazy and chunks is not None:
            arr = arr.rechunk(chunks)
        amax = _check_dask_image(arr)
    else:
        arr = _check_image(image)
        amax = None
    sigma = _check_positive_real(sigma, "sigma")
    m = _resolve_method(method)
    p = check_positive_int(patch_size, "patch_size")
    H, W = arr.shape
    if p > min(H, W):
        raise ValueError(
            f"patch_size={p} is larger than the image ({H}x{W}); patches must fit inside "
            "the image."
        )
    stride = check_positive_int(stride, "stride")
    if stride > p:
        raise ValueError(
            f"stride must be <= patch_size={p} so that every pixel is covered, got {stride}."
        )
    C = _check_positive_real(C, "C")
    if data_range is None and amax is not None:  # the Dask image's max, already computed
        R = 1.0 if amax <= 2.0 else 255.0
    else:
        R = _resolve_data_range(arr, data_range)
    if not tiled and arr.dtype.kind == "f":
        # Denoising is scale-equivariant. Far outside the range where the squared patch
        # norms and the tolerance fit the working float (1e300 images overflowed), solve
        # at unit scale: dividing by a power of two is exact; the result is scaled back.
        magnitude = max(float(np.max(np.abs(arr))), sigma, R)
        if not _SAFE_MAGNITUDE[0] <= magnitude <= _SAFE_MAGNITUDE[1]:
            if data_range is None:
                raise ValueError(
                    f"image values reach {float(np.max(np.abs(arr))):.3g} (sigma={sigma:g}): "
                    f"far from the [0, 1] or [0, 255] ranges data_range is inferred from; "
                    "pass data_range, the intensity range of the image (it sets the "
                    "clipping and the weight lam).")
            scale = float(np.ldexp(1.0, np.frexp(magnitude)[1]))
            result = denoise_image(
                arr / scale, sigma / scale, method=method, patch_size=patch_size,
                n_components=n_components, n_iter=n_iter, max_patches=max_patches, C=C,
                lam=lam, n_nonzero_coefs=n_nonzero_coefs, dictionary=dictionary,
                coder=coder, stride=stride, data_range=R / scale, clip=clip,
                ksvd_method=ksvd_method, dtype=dtype, random_state=random_state,
                n_jobs=n_jobs, verbose=verbose, return_dictionary=return_dictionary)
            if return_dictionary:
                return result[0] * arr.dtype.type(scale), result[1]
            return result * arr.dtype.type(scale)
    if lam is None:
        lam = 30.0 / (sigma * 255.0 / R)
    else:
        if isinstance(lam, bool) or not isinstance(lam, numbers.Real) or not (
            np.isfinite(lam) and lam >= 0
        ):
            raise ValueError(f"lam must be a non-negative finite float or None, got {lam!r}.")
        lam = float(lam)
    if n_nonzero_coefs is None:
        n_nonzero_coefs = max(1, p * p // 2)
    n_nonzero_coefs = check_positive_int(n_nonzero_coefs, "n_nonzero_coefs")
    if ksvd_method not in ("approx", "exact"):
        raise ValueError(f"ksvd_method must be 'approx' or 'exact', got {ksvd_method!r}.")
    float_types = (np.float32, np.float64, "float32", "float64")
    work_dtype = np.dtype(dtype) if dtype in float_types else None
    if work_dtype is None:
        raise ValueError(f"dtype must be numpy.float32 or numpy.float64, got {dtype!r}.")
    out_dtype = arr.dtype
    if not tiled:
        y64 = np.asarray(arr, dtype=np.float64)
        y = np.ascontiguousarray(arr, dtype=work_dtype)
    tol = (C * sigma) ** 2 * p * p  # squared residual norm target

    if dictionary is None:
        D = overcomplete_dct_dictionary(p, check_positive_int(n_components, "n_components"))
    else:
        D = check_dictionary(dictionary, dtype=np.float64).copy()
        if D.shape[1] != p * p:
            raise ValueError(
                f"dictionary must have patch_size**2 = {p * p} features (columns), got "
                f"shape {D.shape}."
            )
    n_nonzero_coefs = min(n_nonzero_coefs, D.shape[0])

    if m != "global":
        n_iter_ = check_positive_int(n_iter, "n_iter")
        max_patches = check_positive_int(max_patches, "max_patches")
        rng = check_random_state(
            random_state if not isinstance(random_state, np.random.Generator)
            else int(random_state.integers(2**31 - 1))
        )
        if tiled:
            Xtr = _sample_patches_dask(arr, p, max_patches, rng, work_dtype)
        else:
            Xtr = sample_patches(y, p, max_patches, random_state=rng)
        _remove_dc(Xtr)
        if m == "ksvd":
            if Xtr.shape[0] < D.shape[0]:
                raise ValueError(
                    f"the image has only {Xtr.shape[0]} patches of size {p}x{p}, fewer "
                    f"than the {D.shape[0]} atoms K-SVD must learn; use method='dct', a "
                    "smaller n_components or a larger image."
                )
            D = _train_ksvd(
                Xtr, D, tol=tol, n_nonzero_coefs=n_nonzero_coefs, n_iter=n_iter_,
                ksvd_method=ksvd_method, random_state=rng, n_jobs=n_jobs, verbose=verbose,
            )
        else:
            from sklearn.base import clone

            est = clone(m)
            if "random_state" in est.get_params(deep=False):
                est.set_params(random_state=rng.randint(2**31 - 1))
            est.fit(Xtr)
            if not hasattr(est, "components_"):
                raise TypeError(
                    f"method {type(m).__name__} has no components_ after fit; a "
                    "dictionary learner is needed."
                )
            D = check_dictionary(est.components_, dtype=np.float64, name="components_")
            if D.shape[1] != p * p:
                raise ValueError(
                    f"the fitted components_ have {D.shape[1]} features, expected {p * p}."
                )
        D = np.ascontiguousarray(D, dtype=np.float64)

    rows, cols = patch_grid((H, W), p, stride)
    if tiled:
        out = _denoise_tiles(
            arr, rows, cols, p, coder=coder, D=D, tol=tol, n_nonzero_coefs=n_nonzero_coefs,
            lam=lam, clip=clip, R=R, work_dtype=work_dtype, n_jobs=n_jobs,
        )
        if not lazy:
            out = out.compute()
        return (out, D) if return_dictionary else out

    Dw = np.ascontiguousarray(D, dtype=work_dtype)
    code = _make_coder(coder, Dw, tol, n_nonzero_coefs, n_jobs)
    acc = _accumulate(y, rows, cols, p, code, Dw, coder is None, n_jobs, verbose)
    counts = np.outer(_axis_counts(H, rows, p), _axis_counts(W, cols, p))
    out = _finish(acc, counts, y64, lam, out_dtype, clip, R)
    return (out, D) if return_dictionary else out
