"""Linear operators: sensing matrices, dictionaries, fast transforms, image block CS.

One type, :class:`LinearOperator`, with ``shape = (n_out, n_in)``, ``dtype``,
``forward`` / ``adjoint`` on batches in rows (NumPy or torch), composition (``@``),
scaling, stacking, ``to_matrix()``, ``lipschitz()`` and ``dot_test()``. Every solver
of sparsecode that needs only products (FISTA, IHT) accepts one; OMP takes the
explicit matrix (``op.to_matrix()``).

:data:`OPERATORS` maps a name to a factory ``f(rng) -> LinearOperator`` building a small
instance of every kind; the contract tests run over it, so adding an operator there
adds it to the dot / parity / explicit-matrix tests.
"""

from ._base import (
    AdjointOperator,
    ComposedOperator,
    HStackOperator,
    LinearOperator,
    ScaledOperator,
    SumOperator,
    VStackOperator,
    dot_test,
    hstack,
    vstack,
)
from ._dense import (
    BernoulliOperator,
    DictionaryOperator,
    GaussianOperator,
    MatrixOperator,
    OrthogonalGaussianOperator,
    from_matrix,
)
from ._fast import SubsampledDCTOperator, SubsampledFourierOperator, SubsampledHadamardOperator
from ._image import (
    BLOCK_ENSEMBLES,
    BlockCSOperator,
    CropOperator,
    DCT2Operator,
    HaarWaveletOperator,
    block_cs_operator,
    check_image_shape,
    check_ratio,
    n_measurements_for,
)


def _seed(rng):
    return int(rng.integers(2**31))


#: name -> factory(rng) of a small operator of every kind (drives the contract tests).
OPERATORS = {
    "matrix": lambda rng: MatrixOperator(rng.standard_normal((7, 11))),
    "dictionary": lambda rng: DictionaryOperator(rng.standard_normal((13, 9))),
    "gaussian": lambda rng: GaussianOperator(10, 24, random_state=_seed(rng)),
    "bernoulli": lambda rng: BernoulliOperator(10, 24, random_state=_seed(rng)),
    "orthogonal-gaussian": lambda rng: OrthogonalGaussianOperator(10, 24, random_state=_seed(rng)),
    "subsampled-dct": lambda rng: SubsampledDCTOperator(12, 30, random_state=_seed(rng)),
    "subsampled-hadamard": lambda rng: SubsampledHadamardOperator(9, 32, random_state=_seed(rng)),
    "subsampled-hadamard-padded": lambda rng: SubsampledHadamardOperator(
        12, 23, random_state=_seed(rng)),
    "subsampled-fourier-even": lambda rng: SubsampledFourierOperator(
        14, 32, random_state=_seed(rng)),
    "subsampled-fourier-odd": lambda rng: SubsampledFourierOperator(
        15, 31, random_state=_seed(rng)),
    "block-cs": lambda rng: block_cs_operator((13, 10), 0.3, block_size=4, random_state=_seed(rng)),
    "block-cs-fast": lambda rng: BlockCSOperator(
        (8, 12), SubsampledDCTOperator(5, 16, random_state=_seed(rng)), block_size=4),
    "dct2": lambda rng: DCT2Operator((6, 10)),
    "haar": lambda rng: HaarWaveletOperator((8, 12)),
    "crop": lambda rng: CropOperator((7, 9), (5, 6)),
    "adjoint": lambda rng: GaussianOperator(6, 15, random_state=_seed(rng)).T,
    "composed": lambda rng: block_cs_operator((8, 8), 0.5, block_size=4,
                                              random_state=_seed(rng)) @ DCT2Operator((8, 8)).T,
    "scaled": lambda rng: 2.5 * SubsampledDCTOperator(7, 16, random_state=_seed(rng)),
    "sum": lambda rng: (MatrixOperator(rng.standard_normal((5, 8)))
                        - GaussianOperator(5, 8, random_state=_seed(rng))),
    "vstack": lambda rng: vstack([MatrixOperator(rng.standard_normal((3, 8))),
                                  SubsampledHadamardOperator(4, 8, random_state=_seed(rng))]),
    "hstack": lambda rng: hstack([MatrixOperator(rng.standard_normal((6, 3))),
                                  GaussianOperator(6, 5, random_state=_seed(rng))]),
}

__all__ = [
    "AdjointOperator",
    "BLOCK_ENSEMBLES",
    "BernoulliOperator",
    "BlockCSOperator",
    "ComposedOperator",
    "CropOperator",
    "DCT2Operator",
    "DictionaryOperator",
    "GaussianOperator",
    "HStackOperator",
    "HaarWaveletOperator",
    "LinearOperator",
    "MatrixOperator",
    "OPERATORS",
    "OrthogonalGaussianOperator",
    "ScaledOperator",
    "SubsampledDCTOperator",
    "SubsampledFourierOperator",
    "SubsampledHadamardOperator",
    "SumOperator",
    "VStackOperator",
    "block_cs_operator",
    "check_image_shape",
    "check_ratio",
    "dot_test",
    "from_matrix",
    "hstack",
    "n_measurements_for",
    "vstack",
]
