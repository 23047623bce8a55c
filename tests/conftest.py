import os

import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def _data_dir():
    here = os.environ.get("SPARSECODE_DATA")
    if here:
        return here
    candidate = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")
    return candidate if os.path.isdir(candidate) else None


@pytest.fixture
def data_dir():
    """Folder of the standard test images; tests using it skip when it is absent."""
    d = _data_dir()
    if d is None:
        pytest.skip("standard test images not found (set SPARSECODE_DATA)")
    return d
