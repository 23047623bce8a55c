"""Proximal-gradient solves used by the image CS reconstructions.

The l1 problem in a transform domain goes through the library's batched FISTA
(:func:`sparsecode.coding._fista.fista`), given the composed operator. Total variation
uses the same FISTA through its ``prox`` hook (see ``_reconstruct._tv_solve``).
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

class IterateTracker:
    r"""A FISTA ``callback`` that records the relative change of the iterate,
    :math:`\|z_k - z_{k-1}\| / \|z_k\|`, and forwards each iteration to ``progress(1)``
    (a tqdm bar's ``update``). ``change`` is the last value (NaN before two iterates):
    what a warning reports as the tolerance reached when ``max_iter`` ran out."""

    def __init__(self, progress=None):
        self.progress = progress
        self.previous = None
        self.change = float("nan")

    def __call__(self, it, codes):
        if self.previous is not None and self.previous.shape == codes.shape:
            norm = float(np.linalg.norm(codes))
            self.change = float(np.linalg.norm(codes - self.previous)) / max(norm, 1e-300)
        self.previous = codes
        if self.progress is not None:
            self.progress(1)
        return False


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
    solution in a few hundred iterations. ``callback(1)`` is called after each
    iteration. Returns ``(c, n_iter)``.
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
    tracker = IterateTracker(callback)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for a, n in stages:
            c, info = fista(y[None, :], operator, alpha=float(a), weights=weights, max_iter=n,
                            tol=tol, lipschitz=lipschitz, init=c, callback=tracker,
                            return_info=True)
            done += int(info.n_iter[0])
        tracker.previous = None
        c, info = fista(y[None, :], operator, alpha=alpha, weights=weights, max_iter=final,
                        tol=tol, lipschitz=lipschitz, init=c, callback=tracker,
                        return_info=True)
    done += int(info.n_iter[0])
    if not info.converged[0]:
        warnings.warn(f"fista did not converge within max_iter={max_iter} iterations "
                      f"(tol={tol}; the last relative change of the iterate was "
                      f"{tracker.change:.2g}); increase max_iter or tol.", ConvergenceWarning,
                      stacklevel=3)
    return c[0], done
