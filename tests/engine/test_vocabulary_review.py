"""An adversarial review of the vocabulary ops (ops/vocabulary.py, ops/creation.py and the new
parts of functional.py) against PyTorch 2.13, on the cases their first tests did not try:
dtypes other than float64 and float32, shapes that broadcast past the op's own, values past
float64's exact integers. Each test here failed before the fix named in its docstring."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest

import chainrule as cr

TORCH = pytest.mark.torch


# ------------------------------------------------------------------ clone and nan_to_num
@TORCH
@pytest.mark.parametrize("dtype", [np.bool_, np.int8, np.uint8, np.int32, np.int64])
def test_clone_and_nan_to_num_keep_an_integer_or_bool_dtype_as_torch(
    torch: ModuleType, dtype: type
) -> None:
    """clone was x * 1, which made a bool tensor int64."""
    values = np.array([[1, 0], [0, 1]], dtype=dtype)
    x = cr.Tensor.from_numpy(values)
    for ours, theirs in (
        (x.clone(), torch.from_numpy(values).clone()),
        (cr.nan_to_num(x), torch.nan_to_num(torch.from_numpy(values))),
    ):
        assert ours.dtype == np.dtype(dtype) == theirs.numpy().dtype
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
        assert not np.shares_memory(ours.numpy(), values)


# ------------------------------------------------------------------ round(decimals)
@TORCH
@pytest.mark.parametrize("decimals", [-2, -1, 1, 2, 3, 4])
def test_round_decimals_in_float16_matches_torch_without_overflowing(
    torch: ModuleType, decimals: int
) -> None:
    """round(decimals) scaled in float16, where 1234.5 * 100 overflows: inf came back (torch
    computes half in float32 and rounds the result back)."""
    values = np.array([1234.5678, 31415.9, 25.0, 65.5, -2.5, 0.0349, 1e-5, -0.0], np.float16)
    x = cr.tensor(values, requires_grad=True)
    rounded = x.round(decimals)
    assert rounded.dtype == np.float16
    expected = torch.from_numpy(values).round(decimals=decimals).numpy()
    np.testing.assert_array_equal(rounded.numpy(), expected)
    rounded.sum().backward()
    assert x.grad is not None
    assert x.grad.dtype == np.float16
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros(values.shape, np.float16))
