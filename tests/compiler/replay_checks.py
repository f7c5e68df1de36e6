"""Comparing a compiled step's results with the eager run's, shared by the compile tests."""

from __future__ import annotations

import numpy as np


def assert_same(got: np.ndarray, expected: np.ndarray, backend: str) -> None:
    """Same shape and dtype; bit for bit on the NumPy replay, to 1e-12 relative on XLA."""
    assert got.shape == expected.shape
    assert got.dtype == expected.dtype
    if backend == "numpy":
        np.testing.assert_array_equal(got, expected)
    else:
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max())
