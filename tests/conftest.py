import os

import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(0)


#: Standard image sets a data folder may hold (datasets/README.md).
IMAGE_SETS = ("Set11", "Set12", "Train400", "T91")


def data_dir_or_none():
    """``$SPARSECODE_DATA``, else the repository's own ``datasets/`` folder when it holds
    one of the image sets; None when neither does (tests that need it then skip)."""
    here = os.environ.get("SPARSECODE_DATA")
    if here:
        return here
    candidate = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "datasets")
    if any(os.path.isdir(os.path.join(candidate, s)) for s in IMAGE_SETS):
        return os.path.normpath(candidate)
    return None


_data_dir = data_dir_or_none


@pytest.fixture
def data_dir():
    """Folder of the standard test images; tests using it skip when it is absent."""
    d = _data_dir()
    if d is None:
        pytest.skip("standard test images not found (set SPARSECODE_DATA)")
    return d
