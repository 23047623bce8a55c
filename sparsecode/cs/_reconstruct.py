"""Classic compressed-sensing reconstruction of images (block CS, l1 in DCT/Haar, TV)."""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ..operators import (
    BlockCSOperator,
    CropOperator,
    DCT2Operator,
    HaarWaveletOperator,
    LinearOperator,
    block_cs_operator,
)
from ..operators._image import check_image_shape, check_ratio
from ..utils._validation import _as_float_array, check_positive_int, check_tol
from ._solvers import IterateTracker, l1_solve

#: Reconstruction methods, name -> description (the error message lists them).
METHODS = {
    "backprojection": "least-squares (minimum-norm) back-projection A^+ y",
    "fista-dct": "FISTA, l1 prior on the 2-D DCT coefficients of the whole image",
    "fista-wavelet": "FISTA, l1 prior on the Haar wavelet coefficients of the whole image",
    "tv": "FISTA with total-variation proximal step (Chambolle, scikit-image)",
}

#: Learned reconstruction methods (shipped weights of :mod:`sparsecode.nn.cs`, needs torch).
LEARNED_METHODS = {
    "ista-net+": "ISTA-Net+ (Zhang & Ghanem 2018), shipped weights",
    "opine-net+": "OPINE-Net+ (Zhang, Zhao & Ghanem 2020), learned sampling, shipped weights",
}

#: Default penalties for images scaled to [0, 1], chosen with :func:`search_alpha` on
#: Set11 crops and cameraman at ratios 10 and 50 % (flat optimum, within 0.1 dB
#: over [1e-3, 5e-3] for l1 and [2e-3, 5e-3] for TV with continuation).
DEFAULT_ALPHA = {"fista-dct": 2e-3, "fista-wavelet": 2e-3, "tv": 3e-3}

#: Default iteration caps.
DEFAULT_MAX_ITER = {"fista-dct": 300, "fista-wavelet": 300, "tv": 100}


def check_image(image, name="image"):
    """A finite 2-D float image (float32/float64 kept, integers -> float64)."""
    arr = np.asarray(image) if not hasattr(image, "toarray") else image
    if getattr(arr, "ndim", None) is not None and arr.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D grayscale image (height, width), got an array of shape "
            f"{np.shape(arr)}; convert color images to gray first."
        )
    return _as_float_array(image, name, ndim=2)


def _check_method(method, learned=False):
    if method not in METHODS and not (learned and method in LEARNED_METHODS):
        names = sorted(METHODS) + (sorted(LEARNED_METHODS) if learned else [])
        raise ValueError(f"method must be one of {names}, got {method!r}.")
    return method


def learned_sensing_operator(method, image_shape, ratio, *, block_size=33):
    """The block-CS operator a learned method's shipped network was trained with
    (OPINE-Net+ learns its own; ISTA-Net+ uses the seed-0 Gaussian of
    :func:`measure_image`). Imports :mod:`sparsecode.nn.cs` (torch)."""
    from ..nn.cs import pretrained

    _check_method(method, learned=True)
    return pretrained(method, ratio, block_size=block_size).sensing_operator(
        check_image_shape(image_shape))


def _learned_reconstruct(y, operator, method, image_shape, clip):
    """Reconstruct with the shipped network of ``method`` matching ``operator``."""
    if not isinstance(operator, BlockCSOperator):
        raise TypeError(f"method={method!r} needs a BlockCSOperator (block compressed "
                        f"sensing), got {type(operator).__name__}.")
    from ..nn.cs import pretrained

    B = operator.block_size
    m = operator.block_operator.shape[0]
    ratio = m / (B * B)
    from ..operators._image import n_measurements_for

    if n_measurements_for(round(ratio, 3), B * B) == m:  # 109/1089 -> 0.1
        ratio = round(ratio, 3)
    net = pretrained(method, ratio, block_size=B)  # clear error if none for this ratio
    if net.n_measurements_ != m:  # ratio rounding mismatch
        raise ValueError(f"the {method} weights for ratio {net.ratio:g} take "
                         f"{net.n_measurements_} measurements per block, the operator has {m}.")
    phi = operator.block_operator.to_matrix()
    if not np.allclose(phi, net.phi_, rtol=0, atol=1e-6 * np.abs(net.phi_).max()):
        raise ValueError(
            f"the operator's block matrix is not the one the shipped {method} network was "
            "trained with; measure with sparsecode.cs.learned_sensing_operator(method, "
            f"image_shape, {net.ratio:g})" + (" (OPINE-Net+ learns its own matrix)."
                                               if method == "opine-net+" else
                                               " or measure_image(..., random_state=0)."))
    x = net.reconstruct(y, operator.image_shape).astype(np.float64)
    if clip:
        np.clip(x, 0.0, 1.0, out=x)
    return x


def _check_alpha(alpha, method):
    if alpha is None:
        return DEFAULT_ALPHA.get(method, 0.0)
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise TypeError(f"alpha must be a non-negative float or None, got {alpha!r}.")
    alpha = float(alpha)
    if not np.isfinite(alpha) or alpha < 0:
        raise ValueError(f"alpha must be a non-negative finite float, got {alpha}.")
    return alpha


def measure_image(image, ratio=0.25, *, block_size=33, kind="orthogonal-gaussian",
                  random_state=0, noise_std=0.0):
    r"""Block compressed-sensing measurements of a grayscale image.

    .. math::

        y = A x + \sigma\varepsilon,\qquad A = \text{block-diag}(\Phi, \dots, \Phi)

    with one ``round(ratio * block_size**2) x block_size**2`` matrix :math:`\Phi` for
    every non-overlapping block (zero padding at the bottom and right).

    Parameters
    ----------
    image : array-like of shape (height, width)
        Grayscale image, preferably scaled to [0, 1] (the default penalties assume it).
    ratio : float in (0, 1], default=0.25
        CS ratio (measurements per pixel).
    block_size : int, default=33
    kind : str, default="orthogonal-gaussian"
        Per-block ensemble, see :func:`sparsecode.operators.block_cs_operator`.
    random_state : int, Generator or None, default=0
        Seed of the sensing matrix.
    noise_std : float, default=0.0
        Standard deviation :math:`\sigma` of additive Gaussian noise (drawn from the
        same seed).

    Returns
    -------
    y : ndarray of shape (n_measurements,)
    operator : BlockCSOperator of shape (n_measurements, height * width)

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecode.cs import measure_image
    >>> y, A = measure_image(np.zeros((40, 50)), 0.1, block_size=10)
    >>> y.shape, A.shape
    ((200,), (200, 2000))
    """
    image = check_image(image)
    ratio = check_ratio(ratio)
    noise_std = check_tol(noise_std, name="noise_std")
    A = block_cs_operator(image.shape, ratio, block_size=block_size, kind=kind,
                          random_state=random_state, dtype=np.float64)
    y = A.forward(image.astype(np.float64).ravel())
    if noise_std:
        noise = np.random.default_rng(A.block_operator.seed + 1).standard_normal(y.shape)
        y = y + noise_std * noise
    return y, A


def _resolve_image_shape(operator, image_shape):
    if image_shape is None:
        image_shape = getattr(operator, "image_shape", None)
        if image_shape is None:
            raise ValueError(
                "image_shape is required when the operator does not carry one "
                "(only BlockCSOperator and image transforms do)."
            )
    image_shape = check_image_shape(image_shape)
    if image_shape[0] * image_shape[1] != operator.shape[1]:
        raise ValueError(
            f"mismatched operator shapes: image_shape={image_shape} has "
            f"{image_shape[0] * image_shape[1]} pixels but the operator takes "
            f"n_in={operator.shape[1]}."
        )
    return image_shape


def backprojection(y, operator):
    r"""Least-squares (minimum-norm) back-projection :math:`A^+ y`.

    Exact and cheap for block CS (one pseudo-inverse of the block matrix, which is just
    :math:`\Phi^\top` for orthonormal rows); LSQR for other operators.
    """
    if isinstance(operator, BlockCSOperator):
        return _block_backprojection(y, operator)
    from scipy.sparse.linalg import LinearOperator as SciPyOperator, lsqr

    sp = SciPyOperator(operator.shape, matvec=operator.forward, rmatvec=operator.adjoint,
                       dtype=np.float64)
    return lsqr(sp, y, atol=1e-10, btol=1e-10, iter_lim=1000)[0]


def _pinv_rows(M):
    """Pseudo-inverse of a wide matrix, ``M.T (M M.T)^-1`` when its rows are independent."""
    import scipy.linalg

    if M.shape[0] <= M.shape[1]:
        G = M @ M.T
        try:
            c = scipy.linalg.cho_factor(G)
            if np.min(np.diag(c[0])) ** 2 > 1e-10 * np.max(np.diag(G)):
                return scipy.linalg.cho_solve(c, M).T
        except np.linalg.LinAlgError:
            pass
    return np.linalg.pinv(M)


def _block_backprojection(y, operator):
    """Exact minimum-norm solution of block CS, block by block.

    A block cut by the bottom or right border only sees its valid pixels, so its
    pseudo-inverse is that of the block matrix restricted to them (at most four
    distinct cases: interior, right column, bottom row, corner).
    """
    from ..operators._backend import backend_of

    phi = operator.block_operator.to_matrix().astype(np.float64)  # (m, B*B)
    B = operator.block_size
    H, W = operator.image_shape
    nbh, nbw = -(-H // B), -(-W // B)
    Y = y.reshape(nbh, nbw, phi.shape[0])
    blocks = np.zeros((nbh, nbw, B, B))
    rows_h = np.full(nbh, B)
    rows_h[-1] = H - (nbh - 1) * B
    cols_w = np.full(nbw, B)
    cols_w[-1] = W - (nbw - 1) * B
    cache = {}
    for i in range(nbh):
        for j in range(nbw):
            h, w = int(rows_h[i]), int(cols_w[j])
            if (h, w) not in cache:
                mask = np.zeros((B, B), dtype=bool)
                mask[:h, :w] = True
                cache[(h, w)] = (mask, _pinv_rows(phi[:, mask.ravel()]))
            mask, pinv = cache[(h, w)]
            blocks[i, j][mask] = pinv @ Y[i, j]
    blocks = blocks.reshape(operator.n_blocks, B * B)
    return operator._from_blocks(blocks, backend_of(blocks))


def reconstruct_image(y, operator, *, method="tv", alpha=None, image_shape=None,
                      max_iter=None, tol=1e-6, clip=True, verbose=False):
    r"""Reconstruct an image from compressed measurements.

    With :math:`A` the sensing operator and :math:`\Psi` an orthonormal transform of
    the whole image (2-D DCT or Haar wavelets):

    .. math::

        \hat c = \arg\min_c \tfrac12\|y - A\Psi^\top c\|_2^2 + \alpha\|c\|_1,
        \qquad \hat x = \Psi^\top \hat c
        \quad(\text{"fista-dct"}, \text{"fista-wavelet"}),

    .. math::

        \hat x = \arg\min_x \tfrac12\|y - Ax\|_2^2 + \alpha\,\mathrm{TV}(x)
        \quad(\text{"tv"}),

    solved by FISTA started from the least-squares back-projection :math:`A^+y`
    ("backprojection" returns that start). The TV proximal step is Chambolle's
    algorithm (``skimage.restoration.denoise_tv_chambolle`` with
    ``weight = alpha / L``).

    Parameters
    ----------
    y : array-like of shape (n_measurements,)
        Measurements, e.g. from :func:`measure_image`.
    operator : LinearOperator of shape (n_measurements, height * width)
    method : str, default="tv"
        One of ``"fista-dct"``, ``"fista-wavelet"``, ``"tv"``, ``"backprojection"``,
        ``"ista-net+"``, ``"opine-net+"``. Total variation is the default: it is the best of the classic methods on Set11
        at every ratio from 10 % up (``benchmarks/results/cs_set11.md``).
        "ista-net+" and "opine-net+" use the networks shipped with
        :mod:`sparsecode.nn.cs` (needs torch; ratios 0.1, 0.25 and 0.5 with 33x33
        blocks): ISTA-Net+ takes the measurements of :func:`measure_image` with its
        default seed, OPINE-Net+ those of its own learned matrix
        (:func:`learned_sensing_operator`). ``alpha``, ``max_iter``, ``tol`` and
        ``verbose`` do not apply to them.
    alpha : float, default=None
        Penalty; None uses :data:`DEFAULT_ALPHA` (tuned for images in [0, 1]).
    image_shape : (int, int), default=None
        Needed only when the operator does not carry ``image_shape``.
    max_iter : int, default=None
        FISTA iterations (None: :data:`DEFAULT_MAX_ITER`).
    tol : float, default=1e-6
        Stopping tolerance on the relative size of the last proximal-gradient step (the
        shared FISTA's test, :func:`sparsecode.fista`).
    clip : bool, default=True
        Clip the result to [0, 1] (for images in that range).
    verbose : bool, default=False
        Show a tqdm progress bar over the iterations.

    Returns
    -------
    image : ndarray of shape (height, width), float64

    Warns
    -----
    ConvergenceWarning
        When the final stage did not meet ``tol`` within ``max_iter`` iterations.

    Notes
    -----
    The back-projection already fits the data exactly, so with a small penalty the
    first proximal-gradient steps barely move it. Both solvers therefore use
    continuation: the first half of the iterations run on penalties decreasing
    geometrically to ``alpha`` (warm-started), the second half at ``alpha``. The
    coarsest approximation (DCT DC term, Haar LL band) is not penalised. All methods
    use :func:`sparsecode.coding._fista.fista`: the l1 solves on the operator
    :math:`A\Psi^\top`, TV on :math:`A` with its ``prox`` hook set to Chambolle's
    projection (no momentum restart).

    References
    ----------
    A. Beck, M. Teboulle, "A fast iterative shrinkage-thresholding algorithm for linear
    inverse problems", SIAM J. Imaging Sci. 2(1), 2009. doi:10.1137/080716542
    A. Chambolle, "An algorithm for total variation minimization and applications",
    J. Math. Imaging Vis. 20, 2004. doi:10.1023/B:JMIV.0000011325.36760.1e
    L. Gan, "Block compressed sensing of natural images", 15th Int. Conf. on Digital
    Signal Processing, 2007. doi:10.1109/ICDSP.2007.4288604

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecode.cs import measure_image, reconstruct_image
    >>> yy, xx = np.mgrid[:32, :32] / 32.0
    >>> image = 0.5 + 0.25 * np.sin(4 * xx) * np.cos(3 * yy)
    >>> y, A = measure_image(image, 0.5, block_size=8, random_state=0)
    >>> x = reconstruct_image(y, A, method="fista-dct")
    >>> bool(np.abs(x - image).mean() < 0.02)
    True
    """
    if not isinstance(operator, LinearOperator):
        raise TypeError(f"operator must be a LinearOperator, got {type(operator).__name__}.")
    method = _check_method(method, learned=True)
    y = _as_float_array(y, "y", ndim=1, dtype=np.float64)
    if y.shape[0] != operator.shape[0]:
        raise ValueError(
            f"mismatched operator shapes: y has {y.shape[0]} measurements but the operator "
            f"has n_out={operator.shape[0]}."
        )
    shape = _resolve_image_shape(operator, image_shape)
    if method in LEARNED_METHODS:
        return _learned_reconstruct(y, operator, method, shape, clip)
    alpha = _check_alpha(alpha, method)
    max_iter = DEFAULT_MAX_ITER.get(method, 0) if max_iter is None else check_positive_int(
        max_iter, "max_iter")
    tol = check_tol(tol)

    x0 = backprojection(y, operator)
    if method == "backprojection":
        x = x0
    else:
        bar = None
        callback = None
        if verbose:
            from tqdm.auto import tqdm

            bar = tqdm(total=max_iter, desc=method, unit="it", leave=False)
            callback = bar.update
        try:
            if method == "tv":
                x = _tv_solve(y, operator, shape, alpha, x0=x0, max_iter=max_iter, tol=tol,
                              callback=callback)
            else:
                canvas, psi = _sparsifying_transform(method, shape)
                A = operator
                start = x0
                if canvas != shape:  # solve on a padded canvas, measure its crop
                    crop = CropOperator(canvas, shape)
                    A = operator @ crop
                    start = crop.adjoint(x0)
                # Psi is orthonormal and the crop a selection: ||A C Psi^T|| <= ||A||.
                lipschitz = 1.001 * operator.lipschitz()
                c, _ = l1_solve(y, A @ psi.T, alpha, init=psi.forward(start),
                                lipschitz=lipschitz, max_iter=max_iter, tol=tol,
                                weights=_l1_weights(psi), callback=callback)
                x = psi.adjoint(c)
                if canvas != shape:
                    x = crop.forward(x)
        finally:
            if bar is not None:
                bar.close()
    x = np.asarray(x, dtype=np.float64).reshape(shape)
    if clip:
        np.clip(x, 0.0, 1.0, out=x)
    return x


def _sparsifying_transform(method, shape):
    """``(canvas_shape, Psi)``: the DCT on the image itself; Haar with
    ``floor(log2(min(shape)))`` levels on the image padded to a multiple of
    ``2**levels`` (no padding for power-of-two sides such as Set11's)."""
    if method == "fista-dct":
        return shape, DCT2Operator(shape)
    levels = int(np.floor(np.log2(min(shape))))
    step = 2**levels
    canvas = (-(-shape[0] // step) * step, -(-shape[1] // step) * step)
    return canvas, HaarWaveletOperator(canvas, levels=levels)


def _l1_weights(psi):
    """Penalty weights: 1, except 0 on the coarsest approximation (DC / LL band)."""
    w = np.ones(psi.image_shape)
    if isinstance(psi, HaarWaveletOperator):
        w[: psi.image_shape[0] >> psi.levels, : psi.image_shape[1] >> psi.levels] = 0.0
    else:
        w[0, 0] = 0.0
    return w.ravel()


def _tv_solve(y, operator, shape, alpha, *, x0, max_iter, tol, callback, n_stages=6):
    """TV-FISTA with continuation: the first half of the iterations on penalties
    decreasing geometrically from ``20 * alpha`` to ``alpha`` (warm-started), the second
    half at ``alpha`` until ``tol``. Started from the back-projection, where the data
    term is zero, a small penalty alone hardly moves the iterate.

    Each stage is the shared FISTA (:func:`sparsecode.coding._fista.fista`) with its
    ``prox`` hook set to Chambolle's TV projection, without momentum restart (the
    textbook FISTA of Beck & Teboulle's TV paper, doi:10.1109/TIP.2009.2028250)."""
    from skimage.restoration import denoise_tv_chambolle

    from ..coding._fista import fista

    lipschitz = 1.001 * operator.lipschitz()
    stages = []
    if alpha > 0 and max_iter >= 2 * (n_stages - 1):
        per = max_iter // (2 * (n_stages - 1))
        stages = [(a, per) for a in np.geomspace(20.0 * alpha, alpha, n_stages)[:-1]]
    stages.append((alpha, max_iter - sum(n for _, n in stages)))
    x = np.asarray(x0, dtype=np.float64).reshape(1, -1)
    tracker = IterateTracker(callback)
    converged = True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for a, n in stages:
            def prox(V, step, a=a):
                return np.stack([denoise_tv_chambolle(v.reshape(shape), weight=step * a,
                                                      max_num_iter=50).ravel() for v in V])

            x, info = fista(y[None, :], operator, prox=prox, lipschitz=lipschitz,
                            restart=False, max_iter=n, tol=tol, init=x, callback=tracker,
                            return_info=True)
            converged = bool(info.converged[0])
    if not converged:
        warnings.warn(f"TV-FISTA did not converge within max_iter={max_iter} iterations "
                      f"(tol={tol}; the last relative change of the iterate was "
                      f"{tracker.change:.2g}); increase max_iter or tol.", ConvergenceWarning,
                      stacklevel=3)
    return x[0]


#: Smallest image side SSIM works on (scikit-image's default 7x7 window).
SSIM_MIN_SIDE = 7


def image_quality(reference, image, *, data_range=1.0):
    """PSNR (dB) and SSIM of ``image`` against ``reference`` (scikit-image metrics).

    Raises a ValueError for images smaller than SSIM's 7x7 window.
    """
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    reference = check_image(reference, "reference")
    image = check_image(image, "image")
    if reference.shape != image.shape:
        raise ValueError(
            f"image must have the shape of reference {reference.shape}, got {image.shape}."
        )
    if min(reference.shape) < SSIM_MIN_SIDE:
        raise ValueError(
            f"image of shape {reference.shape} is smaller than SSIM's {SSIM_MIN_SIDE}x"
            f"{SSIM_MIN_SIDE} window; compute PSNR alone (sparsecode.image.psnr).")
    psnr = peak_signal_noise_ratio(reference, image, data_range=data_range)
    ssim = structural_similarity(reference, image, data_range=data_range)
    return float(psnr), float(ssim)


def search_alpha(image, operator=None, *, method="fista-dct", alphas=None, ratio=0.25,
                 metric="psnr", noise_std=0.0, random_state=0, **kwargs):
    """Oracle search of the penalty on an image with known ground truth.

    Measures ``image`` (with ``operator`` or, if None, a block-CS operator at
    ``ratio``), reconstructs it for each penalty in ``alphas`` and ranks them by PSNR
    or SSIM. Use it on training images to set ``alpha`` for new measurements.

    Parameters
    ----------
    image : array-like of shape (height, width)
        Ground truth, scaled to [0, 1].
    operator : LinearOperator, default=None
    method : str, default="fista-dct"
        A method of :data:`METHODS` other than "backprojection".
    alphas : sequence of float, default=None
        Candidates; None: a log grid around the method's default.
    ratio : float, default=0.25
        CS ratio when ``operator`` is None.
    metric : {"psnr", "ssim"}, default="psnr"
    noise_std : float, default=0.0
    random_state : int, default=0
    **kwargs
        Passed to :func:`reconstruct_image` (``max_iter``, ``tol``...).

    Returns
    -------
    best_alpha : float
    results : list of dict
        One ``{"alpha", "psnr", "ssim"}`` per candidate, in the order of ``alphas``.
    """
    method = _check_method(method)
    if method == "backprojection":
        raise ValueError("method must be a penalised method to search alpha, got 'backprojection'.")
    if metric not in ("psnr", "ssim"):
        raise ValueError(f"metric must be 'psnr' or 'ssim', got {metric!r}.")
    image = check_image(image)
    if operator is None:
        y, operator = measure_image(image, ratio, random_state=random_state, noise_std=noise_std)
    else:
        if operator.shape[1] != image.size:
            raise ValueError(
                f"mismatched operator shapes: the operator takes n_in={operator.shape[1]} "
                f"but image has {image.size} pixels."
            )
        y = operator.forward(image.astype(np.float64).ravel())
        if noise_std:
            y = y + noise_std * np.random.default_rng(random_state).standard_normal(y.shape)
    if alphas is None:
        alphas = DEFAULT_ALPHA[method] * np.logspace(-1, 1, 5)
    alphas = [_check_alpha(a, method) for a in alphas]
    if not alphas:
        raise ValueError("alphas must contain at least one candidate.")
    results = []
    for a in alphas:
        x = reconstruct_image(y, operator, method=method, alpha=a, image_shape=image.shape,
                              **kwargs)
        psnr, ssim = image_quality(image, x)
        results.append({"alpha": a, "psnr": psnr, "ssim": ssim})
    best = max(results, key=lambda r: r[metric])
    return best["alpha"], results
