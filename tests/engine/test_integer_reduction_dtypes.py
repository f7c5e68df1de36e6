"""Sums and products of bool and integer tensors are int64, as PyTorch's: NumPy accumulates
unsigned integers in uint64 (where a sum of 3 less 5 wraps to 2**64 - 2) and squares a bool
into int8; signed integers and bools already summed to int64."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import chainrule as cr

pytestmark = pytest.mark.torch

OPS: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "sum": (lambda x: x.sum(), lambda x: x.sum()),
    "sum over an axis": (lambda x: cr.sum(x, axis=1), lambda x: x.sum(dim=1)),
    "numpy sum": (np.sum, lambda x: x.sum()),
    "prod": (cr.prod, lambda x: x.prod()),
    "cumsum": (lambda x: cr.cumsum(x, axis=0), lambda x: x.cumsum(0)),
    "cumprod": (lambda x: cr.cumprod(x, axis=1), lambda x: x.cumprod(1)),
    "square": (cr.square, torch.square),
}
DTYPES = ("bool", "uint8", "uint16", "uint32", "int8", "int32", "int64")
# PyTorch has no square (pow) kernel for uint16 and uint32: those pairs are left out.
CASES = [
    (op, dtype)
    for op in OPS
    for dtype in DTYPES
    if not (op == "square" and dtype in ("uint16", "uint32"))
]


@pytest.mark.parametrize(("op", "dtype"), CASES)
def test_integer_sums_and_products_take_pytorchs_dtype(op: str, dtype: str) -> None:
    ours, theirs = OPS[op]
    values = np.array([[1, 0, 2], [3, 1, 1]]).astype(dtype)
    result = ours(cr.Tensor.from_numpy(values))
    expected = theirs(torch.from_numpy(values))
    assert str(result.dtype) == str(expected.dtype).removeprefix("torch.")
    assert result.shape == tuple(expected.shape)
    np.testing.assert_array_equal(result.numpy(), expected.numpy())


def test_a_sum_of_unsigned_integers_less_a_larger_number_is_negative() -> None:
    counts = cr.Tensor.from_numpy(np.array([1, 2], dtype=np.uint8))
    difference = counts.sum() - 5
    assert difference.dtype == np.int64
    assert difference.item() == -2
