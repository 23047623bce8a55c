"""Bad inputs common to every coding function get clear errors naming the argument."""

import numpy as np
import pytest

import sparsecode
from sparsecode import SparseCoder

#: Every public coding function, called on (X, D) with its own required arguments.
CODERS = {
    "orthogonal_mp": lambda X, D, **kw: sparsecode.orthogonal_mp(X, D, n_nonzero_coefs=2, **kw),
    "orthogonal_mp_gram": lambda X, D, **kw: sparsecode.orthogonal_mp_gram(
        D @ D.T, X @ D.T, n_nonzero_coefs=2, **kw),
    "lasso_lars": lambda X, D, **kw: sparsecode.lasso_lars(X, D, alpha=0.1, **kw),
    "lars": lambda X, D, **kw: sparsecode.lars(X, D, n_nonzero_coefs=2, **kw),
    "fista": lambda X, D, **kw: sparsecode.fista(X, D, alpha=0.1, **kw),
    "ista": lambda X, D, **kw: sparsecode.ista(X, D, alpha=0.1, **kw),
    "iht": lambda X, D, **kw: sparsecode.iht(X, D, n_nonzero_coefs=2, **kw),
    "cosamp": lambda X, D, **kw: sparsecode.cosamp(X, D, n_nonzero_coefs=2, **kw),
}


@pytest.fixture
def data(rng):
    D = rng.standard_normal((30, 12))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    return rng.standard_normal((4, 12)), D


@pytest.mark.parametrize("name", sorted(CODERS))
@pytest.mark.parametrize("n_jobs", ["2", 2.0, True])
def test_n_jobs_of_wrong_type_names_n_jobs(data, name, n_jobs):
    # Regression: n_jobs="2" raised "'<' not supported between instances of 'str'...".
    X, D = data
    with pytest.raises(TypeError, match="n_jobs must be None or an integer"):
        CODERS[name](X, D, n_jobs=n_jobs)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("name", sorted(CODERS))
def test_integer_n_jobs_still_accepted(data, name):
    X, D = data
    np.testing.assert_allclose(CODERS[name](X, D, n_jobs=1), CODERS[name](X, D, n_jobs=-1),
                               atol=1e-10)


@pytest.mark.parametrize("name", sorted(set(CODERS) - {"orthogonal_mp_gram"}))
def test_transposed_dictionary_is_blamed_by_shape(data, name):
    X, D = data
    with pytest.raises(ValueError, match=r"dictionary has shape \(12, 30\) but X has 12 "
                       r"features per sample: the dictionary looks transposed.*"
                       r"pass dictionary.T \(shape \(30, 12\)\)"):
        CODERS[name](X, D.T)


def test_sparse_coder_transposed_dictionary_is_blamed(data):
    X, D = data
    with pytest.raises(ValueError, match=r"dictionary has shape \(12, 30\).*looks transposed"):
        SparseCoder(D.T, n_nonzero_coefs=2).fit(X)
    with pytest.raises(ValueError, match="looks transposed"):
        SparseCoder(D.T, n_nonzero_coefs=2).transform(X)   # unfitted


def test_mismatch_that_is_not_a_transpose_still_blames_X(data):
    X, D = data
    with pytest.raises(ValueError, match=r"X must have shape \(n_samples, 12\)"):
        sparsecode.orthogonal_mp(X[:, :7], D, n_nonzero_coefs=2)


@pytest.mark.parametrize("algorithm", ["fista", "ista"])
def test_sparse_coder_lasso_solvers_reject_n_nonzero_coefs(data, algorithm):
    X, D = data
    with pytest.raises(ValueError, match=f"n_nonzero_coefs=3 is not used by "
                       f"algorithm='{algorithm}'"):
        SparseCoder(D, algorithm=algorithm, n_nonzero_coefs=3).fit(X)
    with pytest.raises(ValueError, match="n_nonzero_coefs=3 is not used"):
        SparseCoder(D, algorithm=algorithm, n_nonzero_coefs=3).transform(X)
