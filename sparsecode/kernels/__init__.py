"""Kernels: pure functions on contiguous arrays, Numba-jitted where the loop is hot.

No validation, no classes, no printing. Each kernel has a plain-NumPy reference twin
(``*_reference``) that the tests compare it with.
"""
