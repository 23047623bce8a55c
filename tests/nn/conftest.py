"""Fixtures of the torch tests (the generic ``rng`` fixture comes from tests/conftest.py)."""

import pytest


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Small models train faster on one thread than on an oversubscribed pair."""
    torch = pytest.importorskip("torch")
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
