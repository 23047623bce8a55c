"""Proximal-gradient solves used by the image CS reconstructions.

The l1 problem in a transform domain goes through the library's batched FISTA
(:func:`sparsecode.coding._fista.fista`), given the composed operator.

``_fista_prox`` is a *minimal private FISTA with a pluggable proximal step*, used only
for total variation, whose proximal step (Chambolle's projection, scikit-image's
``denoise_tv_chambolle``) is not one of the penalties of the shared FISTA.

TODO(sparsecode): route TV through the shared FISTA once it accepts a callable
proximal operator, and delete ``_fista_prox``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

def _fista_prox(y, operator, prox, *, x0, lipschitz, max_iter, tol, callback=None,
                warn=True):
    r"""Minimal private FISTA: :math:`\min_x \tfrac12\|y - Ax\|^2 + g(x)`.

    ``prox(v, step)`` returns :math:`\mathrm{prox}_{\text{step}\cdot g}(v)`. Stops when
    the relative change of the iterate falls below ``tol``; warns with
    ConvergenceWarning otherwise (if ``warn``). Returns ``(x, n_iter, converged)``.

    References
    ----------
    A. Beck, M. Teboulle, "Fast gradient-based algorithms for constrained total
    variation image denoising and deblurring problems", IEEE Trans. Image Process.
    18(11), 2009. doi:10.1109/TIP.2009.2028250
    """
    step = 1.0 / lipschitz
    x = x0.copy()
    z = x0.copy()
    t = 1.0
    n_iter = 0
    converged = False
    for n_iter in range(1, max_iter + 1):
        grad = operator.adjoint(operator.forward(z) - y)
        x_new = prox(z - step * grad, step)
        t_new = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * t * t))
        diff = x_new - x
        z = x_new + ((t - 1.0) / t_new) * diff
        change = float(np.linalg.norm(diff)) / max(float(np.linalg.norm(x_new)), 1e-30)
        x, t = x_new, t_new
        if callback is not None:
            callback(1)
        if change < tol:
            converged = True
            break
    if warn and not converged:
        warnings.warn(f"TV-FISTA did not converge within max_iter={max_iter} iterations "
                      f"(tol={tol}); increase max_iter or tol.", ConvergenceWarning,
                      stacklevel=3)
    return x, n_iter, converged


def l1_solve(y, operator, alpha, *, init, lipschitz, max_iter, tol, weights=None,
             n_stages=10, callback=None):
    r"""Solve :math:`\min_c \tfrac12\|y - Mc\|_2^2 + \alpha\sum_j w_j|c_j|` for one signal.

    ``operator`` is :math:`M` (shape ``(n_measurements, n_coefs)``), ``y`` a 1-D
    measurement vector, ``init`` the starting code, ``lipschitz`` :math:`\|M\|_2^2`.

    Continuation (as in NESTA / fixed-point continuation): the first half of the
    iterations runs the shared FISTA on ``n_stages - 1`` geometrically decreasing
    penalties from :math:`\tfrac12\|w \odot M^\top y\|_\infty` down to ``alpha``, each
    stage warm-started from the previous one; the second half solves at ``alpha``
    until ``tol``. Started from the back-projection, where the data term is already
    zero, plain FISTA with a small ``alpha`` barely moves; continuation reaches the
    solution in a few hundred iterations. ``callback(k)`` is called after each stage.
    Returns ``(c, n_iter)``.
    """
    from ..coding._fista import fista

    w = np.ones(operator.shape[1]) if weights is None else weights
    start = 0.5 * float(np.max(np.abs(w * np.asarray(operator.adjoint(y)))))
    stages = []
    if n_stages > 1 and start > alpha and max_iter >= 2 * (n_stages - 1):
        per = max_iter // (2 * (n_stages - 1))
        stages = [(a, per) for a in np.geomspace(start, alpha, n_stages)[:-1]]
    final = max_iter - sum(n for _, n in stages)
    c = init[None, :]
    done = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for a, n in stages:
            c, info = fista(y[None, :], operator, alpha=float(a), weights=weights, max_iter=n,
                            tol=tol, lipschitz=lipschitz, init=c, return_info=True)
            done += int(info.n_iter[0])
            if callback is not None:
                callback(n)
        c, info = fista(y[None, :], operator, alpha=alpha, weights=weights, max_iter=final,
                        tol=tol, lipschitz=lipschitz, init=c, return_info=True)
    done += int(info.n_iter[0])
    if callback is not None:
        callback(final)
    if not info.converged[0]:
        warnings.warn(f"fista did not converge within max_iter={max_iter} iterations "
                      f"(tol={tol}); increase max_iter or tol.", ConvergenceWarning,
                      stacklevel=3)
    return c[0], done
