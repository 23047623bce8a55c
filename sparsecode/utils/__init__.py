"""Validation and small helpers shared across sparsecode."""

from ._validation import (
    check_dictionary,
    check_n_nonzero_coefs,
    check_signals,
    check_tol,
    check_random_state,
)

__all__ = [
    "check_dictionary",
    "check_n_nonzero_coefs",
    "check_signals",
    "check_tol",
    "check_random_state",
]
