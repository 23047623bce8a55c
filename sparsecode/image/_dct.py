"""The overcomplete 2-D DCT dictionary of the KSVD-Box (``odctdict`` / ``odctndict``)."""

from __future__ import annotations

import math

import numpy as np

from ..utils._validation import check_positive_int

__all__ = ["overcomplete_dct_dictionary"]


def _odct_1d(n, L):
    """1-D overcomplete DCT: ``(L, n)`` unit-norm atoms, the constant atom first.

    Atom ``k >= 1`` is ``cos(pi * k * t / L)``, ``t = 0..n-1``, with its mean removed,
    normalised (Rubinstein's ``odctdict``).
    """
    D = np.empty((L, n), dtype=np.float64)
    D[0] = 1.0 / math.sqrt(n)
    t = np.arange(n, dtype=np.float64)
    for k in range(1, L):
        v = np.cos(np.pi * k * t / L)
        v -= v.mean()
        norm = np.linalg.norm(v)
        if norm <= 1e-12:
            raise ValueError(
                f"patch_size={n} is too small for {L} atoms per axis: a 1-D DCT atom "
                "vanishes; use a larger patch_size or fewer n_atoms."
            )
        D[k] = v / norm
    return D


def overcomplete_dct_dictionary(patch_size=8, n_atoms=256):
    r"""The separable overcomplete 2-D DCT dictionary, one unit-norm atom per row.

    With :math:`L = \lceil\sqrt{n_\text{atoms}}\rceil` 1-D atoms per axis,
    :math:`d_0 = \mathbf 1/\sqrt p` and, for :math:`k \ge 1`,
    :math:`d_k \propto c_k - \operatorname{mean}(c_k)` with
    :math:`c_k(t) = \cos(\pi k t / L)`, the 2-D atoms are the outer products

    .. math::

        D_{aL + b} = \operatorname{vec}(d_a d_b^\top), \qquad 0 \le a, b < L,

    truncated to the first ``n_atoms`` (the KSVD-Box's ``odctndict``). Atom 0 is the
    constant (DC) atom.

    Parameters
    ----------
    patch_size : int, default=8
        Side ``p`` of the square patches; atoms have ``p * p`` features (patches
        flattened row-major).
    n_atoms : int, default=256
        Number of atoms (256 = 16 × 16 for the classic 8×8 dictionary, 4× overcomplete).

    Returns
    -------
    dictionary : ndarray of shape (n_atoms, patch_size ** 2), float64
        Unit-norm atoms in rows, DC atom first.

    References
    ----------
    M. Elad, M. Aharon, "Image denoising via sparse and redundant representations over
    learned dictionaries", IEEE Trans. Image Process. 15(12):3736-3745, 2006,
    doi:10.1109/TIP.2006.881969.

    R. Rubinstein, KSVD-Box v13 (``odctdict.m``, ``odctndict.m``), Technion, 2009.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecode.image import overcomplete_dct_dictionary
    >>> D = overcomplete_dct_dictionary(8, 256)
    >>> D.shape
    (256, 64)
    >>> bool(np.allclose(np.linalg.norm(D, axis=1), 1.0)), bool(np.allclose(D[0], 1 / 8))
    (True, True)
    """
    p = check_positive_int(patch_size, "patch_size")
    n_atoms = check_positive_int(n_atoms, "n_atoms")
    L = math.isqrt(n_atoms)
    if L * L < n_atoms:
        L += 1
    if L > 1 and p < 2:
        raise ValueError(f"patch_size must be >= 2 for more than one atom, got {p}.")
    D1 = _odct_1d(p, L)
    D = np.einsum("ai,bj->abij", D1, D1).reshape(L * L, p * p)[:n_atoms]
    return np.ascontiguousarray(D)
