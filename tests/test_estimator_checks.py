"""Every estimator of the library through scikit-learn's estimator checks.

Estimators over a fixed dictionary (SparseCoder) cannot accept arbitrary numbers of
features, so, like scikit-learn does for its own SparseCoder, each check gets a
dictionary whose width matches the data that check feeds.
"""

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from sparsecode import SparseCoder

# n_features of the data each check uses (scikit-learn's test data); default 3.
_CHECK_WIDTH = {
    "check_estimators_overwrite_params": 2,
    "check_estimators_fit_returns_self": 2,
    "check_readonly_memmap_input": 2,
    "check_n_features_in_after_fitting": 4,
    "check_dtype_object": 10,
    "check_fit2d_1sample": 10,
    "check_fit2d_1feature": 1,
    "check_fit_idempotent": 2,
    "check_fit_check_is_fitted": 2,
    "check_n_features_in": 2,
    "check_estimators_dtypes": 5,
    "check_transformers_unfitted_stateless": 5,
    "check_set_output_transform": 5,
    "check_global_output_transform_pandas": 5,
    "check_global_set_output_transform_polars": 5,
    "check_set_output_transform_pandas": 5,
    "check_set_output_transform_polars": 5,
    "check_array_api_input": 10,
    "check_positive_only_tag_during_fit": 4,
}


def _check_name(check):
    return getattr(check, "func", check).__name__


def _coder_for(check_name):
    width = _CHECK_WIDTH.get(check_name, 3)
    D = np.random.default_rng(0).normal(size=(6, width))
    return SparseCoder(D)


def _sparse_coder_checks():
    from sklearn.utils.estimator_checks import estimator_checks_generator

    seen = set()
    for _, check in estimator_checks_generator(SparseCoder(np.ones((6, 3))), legacy=True,
                                               mark="skip"):
        name = _check_name(check)
        key = (name, repr(getattr(check, "keywords", "")))
        if key in seen:
            continue
        seen.add(key)
        yield pytest.param(name, check, id=f"{name}{'-' + str(len(seen))}")


@pytest.mark.parametrize("name, check", list(_sparse_coder_checks()))
def test_sparse_coder_estimator_checks(name, check):
    estimator = _coder_for(name)
    check(estimator)
