"""Binary ops of bool and integer tensors give PyTorch's dtypes: bool ** int is int64 (not
bool, where mask ** 2 + mask ** 2 would be True instead of 2), and what PyTorch refuses (two
bool tensors subtracted, raised to a power or divided with remainder; an integer remainder by
zero) chainrule refuses by name, where NumPy would give int8 or 0."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr


def test_bool_mask_squared_is_int64_and_adds_as_integers() -> None:
    mask = cr.Tensor.from_numpy(np.array([True, False, True]))
    squares = mask**2 + mask**2
    assert squares.dtype == np.int64
    np.testing.assert_array_equal(squares.numpy(), [2, 0, 2])


def test_bool_to_a_bool_power_stays_bool() -> None:
    mask = cr.Tensor.from_numpy(np.array([True, False]))
    assert (mask**True).dtype == np.bool_
    np.testing.assert_array_equal((mask**True).numpy(), [True, False])
    np.testing.assert_array_equal((mask**False).numpy(), [True, True])


@pytest.mark.parametrize(
    ("name", "op"),
    [
        ("sub", lambda x, y: x - y),
        ("pow", lambda x, y: x**y),
        ("remainder", lambda x, y: x % y),
        ("fmod", cr.fmod),
    ],
)
def test_two_bool_tensors_are_refused_by_name(name: str, op: Callable[[Any, Any], Any]) -> None:
    mask = cr.Tensor.from_numpy(np.array([True, False]))
    with pytest.raises(
        TypeError, match=rf"^{name}: .*two bool tensors \(shapes \(2,\) and \(2,\)\)"
    ):
        op(mask, mask)


@pytest.mark.parametrize("op", [cr.remainder, cr.fmod], ids=["remainder", "fmod"])
def test_integer_remainder_by_zero_is_refused(op: Callable[[Any, Any], Any]) -> None:
    integers = cr.Tensor.from_numpy(np.array([5, 7], dtype=np.int64))
    with pytest.raises(ZeroDivisionError, match="divisor of 0"):
        op(integers, cr.Tensor.from_numpy(np.array([2, 0])))
