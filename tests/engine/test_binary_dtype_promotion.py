"""The dtype, shape and values of every binary op over every pairing of bool, int32, int64,
float32 and float64 tensors (with dimensions and 0-d) and Python bool, int and float numbers
are PyTorch's: bool ** int is int64 (not bool), a 0-d tensor does not widen a dimensioned one
of its kind (float32 with a 0-d float64 is float32), and what PyTorch refuses (two bool
tensors subtracted, raised to a power or divided with remainder) chainrule refuses by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import chainrule as cr

pytestmark = pytest.mark.torch

DTYPES = ("bool", "int32", "int64", "float32", "float64")
NUMBERS: dict[str, bool | int | float] = {"python bool": True, "python int": 2, "python float": 1.5}


def _array(dtype: str, zero_dim: bool) -> np.ndarray:
    """Values with no zero (divisors) and no negative number (powers): bools all True."""
    values = np.array(2.0) if zero_dim else np.array([1.0, 2.5, 3.0])
    return np.asarray(values > 0) if dtype == "bool" else values.astype(dtype)


OPERANDS = [f"{dtype}{' 0-d' if zero_dim else ''}" for dtype in DTYPES for zero_dim in (0, 1)]
OPERANDS += list(NUMBERS)


def _chainrule_operand(name: str) -> Any:
    if name in NUMBERS:
        return NUMBERS[name]
    return cr.Tensor.from_numpy(_array(name.split()[0], name.endswith("0-d")))


def _torch_operand(name: str) -> Any:
    if name in NUMBERS:
        return NUMBERS[name]
    return torch.from_numpy(_array(name.split()[0], name.endswith("0-d")))


def _torch_elementwise(function: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """torch.maximum and torch.minimum take tensors only: numbers as PyTorch's promotion of
    that pair (torch.result_type, which reads a number as a number) would convert them."""

    def oracle(x: Any, y: Any) -> torch.Tensor:
        dtype = torch.result_type(x, y)
        return function(torch.as_tensor(x, dtype=dtype), torch.as_tensor(y, dtype=dtype))

    return oracle


CONDITION = np.array([True, False, True])

OPS: dict[str, tuple[Callable[[Any, Any], Any], Callable[[Any, Any], Any]]] = {
    "add": (lambda x, y: x + y, lambda x, y: x + y),
    "sub": (lambda x, y: x - y, lambda x, y: x - y),
    "mul": (lambda x, y: x * y, lambda x, y: x * y),
    "truediv": (lambda x, y: x / y, lambda x, y: x / y),
    "mod": (lambda x, y: x % y, lambda x, y: x % y),
    "remainder": (cr.remainder, torch.remainder),
    "fmod": (cr.fmod, torch.fmod),
    "pow": (lambda x, y: x**y, lambda x, y: x**y),
    "maximum": (cr.maximum, _torch_elementwise(torch.maximum)),
    "minimum": (cr.minimum, _torch_elementwise(torch.minimum)),
    "lt": (lambda x, y: x < y, lambda x, y: x < y),
    "le": (lambda x, y: x <= y, lambda x, y: x <= y),
    "gt": (lambda x, y: x > y, lambda x, y: x > y),
    "ge": (lambda x, y: x >= y, lambda x, y: x >= y),
    "eq": (lambda x, y: x == y, lambda x, y: x == y),
    "ne": (lambda x, y: x != y, lambda x, y: x != y),
    "where": (
        lambda x, y: cr.where(CONDITION, x, y),
        lambda x, y: torch.where(torch.from_numpy(CONDITION), x, y),
    ),
}


def _excluded(op: str, left: str, right: str) -> bool:
    """Pairs left out of the comparison, and why."""
    if left in NUMBERS and right in NUMBERS:
        return True  # two Python numbers: Python's arithmetic, no tensor involved
    if op == "sub" and (
        left.startswith(("bool", "python bool")) or right.startswith(("bool", "python bool"))
    ):
        # PyTorch refuses any subtraction with a bool; chainrule takes one bool as 0 and 1,
        # as NumPy does (an exact value, not a guess); two bool tensors it refuses (tested).
        return not (left.startswith("bool") and right.startswith("bool"))
    # torch.fmod takes a tensor first; chainrule.fmod(3, x) is fmod of the number 3.
    return op == "fmod" and left in NUMBERS


def _dtype_name(result: Any) -> str:
    return str(result.dtype).removeprefix("torch.")


def _values(result: Any) -> np.ndarray:
    if isinstance(result, torch.Tensor):
        return result.numpy()
    return np.asarray(result.numpy() if isinstance(result, cr.Tensor) else result)


def _disagreement(op: str, left: str, right: str) -> str | None:
    """How chainrule's result of `op` on the pair differs from PyTorch's, or None."""
    chainrule_op, torch_op = OPS[op]
    try:
        expected = torch_op(_torch_operand(left), _torch_operand(right))
    except (RuntimeError, TypeError, ZeroDivisionError):
        try:
            chainrule_op(_chainrule_operand(left), _chainrule_operand(right))
        except (TypeError, ValueError, ZeroDivisionError) as error:
            name = "remainder" if op == "mod" else op
            return None if f"{name}:" in str(error) else f"refused without naming {name}: {error}"
        return "PyTorch refuses it, chainrule does not"
    actual = chainrule_op(_chainrule_operand(left), _chainrule_operand(right))
    if _dtype_name(actual) != _dtype_name(expected):
        return f"dtype {_dtype_name(actual)}, PyTorch's {_dtype_name(expected)}"
    actual_values, expected_values = _values(actual), _values(expected)
    if actual_values.shape != expected_values.shape:
        return f"shape {actual_values.shape}, PyTorch's {expected_values.shape}"
    tolerance = 1e-6 if _dtype_name(expected) == "float32" else 1e-12
    if not np.allclose(actual_values, expected_values, rtol=tolerance, atol=0):
        return f"values {actual_values}, PyTorch's {expected_values}"
    return None


@pytest.mark.parametrize("left", OPERANDS)
@pytest.mark.parametrize("op", list(OPS))
def test_binary_op_promotes_as_pytorch_does(op: str, left: str) -> None:
    disagreements = {
        right: problem
        for right in OPERANDS
        if not _excluded(op, left, right)
        and (problem := _disagreement(op, left, right)) is not None
    }
    assert disagreements == {}, f"{op} with {left} on the left"


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


def test_float32_beside_a_zero_dim_float64_keeps_float32_and_its_gradient_dtypes() -> None:
    x = cr.tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    scale = cr.tensor(np.array(3.0), dtype=np.float64, requires_grad=True)
    out = x * scale
    assert out.dtype == np.float32
    out.sum().backward()
    assert x.grad is not None
    assert scale.grad is not None
    assert x.grad.dtype == np.float32
    assert scale.grad.dtype == np.float64
    assert scale.grad.shape == ()
    np.testing.assert_allclose(scale.grad, 3.0, rtol=1e-7)


def test_zero_dim_integer_outside_the_dimensioned_ones_range_is_refused() -> None:
    small = cr.Tensor.from_numpy(np.array([1, 2], dtype=np.int8))
    with pytest.raises(
        ValueError, match=r"int8 tensor of shape \(2,\) with the 0-d int64 tensor 300"
    ):
        _ = small + cr.Tensor.from_numpy(np.array(300))


def test_floor_division_is_not_an_operator_of_tensors() -> None:
    # chainrule has no `//` (PyTorch's floor_divide): Python's own TypeError, not a value.
    with pytest.raises(TypeError, match="unsupported operand"):
        _ = cr.Tensor.from_numpy(np.array([5, 7])) // 2


def test_negating_a_bool_tensor_is_refused_by_name() -> None:
    mask = cr.Tensor.from_numpy(np.array([True, False]))
    with pytest.raises(TypeError, match=r"^neg: cannot negate a bool tensor \(shape \(2,\)\)"):
        _ = -mask


def test_the_conversion_the_bool_refusals_suggest_works() -> None:
    mask = cr.Tensor.from_numpy(np.array([True, False]))
    with pytest.raises(TypeError, match=r"chainrule\.Tensor\.from_numpy\(x\.numpy\(\)\.astype"):
        _ = mask**mask
    converted = cr.Tensor.from_numpy(mask.numpy().astype(np.int64))
    np.testing.assert_array_equal((converted**mask).numpy(), [1, 1])
    np.testing.assert_array_equal((converted - mask).numpy(), [0, 0])


# Only the weight: torch.lerp refuses an `end` of another dtype than `start`'s.
@pytest.mark.parametrize("zero_dim", ["weight"])
def test_lerp_with_a_zero_dim_float64_operand_keeps_float32(zero_dim: str) -> None:
    rng = np.random.default_rng(5)
    arrays = {
        "start": rng.normal(size=3).astype(np.float32),
        "end": rng.normal(size=3).astype(np.float32),
        "weight": np.full(3, 0.25, dtype=np.float32),
    }
    arrays[zero_dim] = np.array(0.75)
    result = cr.lerp(*(cr.Tensor.from_numpy(array) for array in arrays.values()))
    expected = torch.lerp(*(torch.from_numpy(array) for array in arrays.values()))
    assert result.dtype == np.float32
    assert expected.dtype == torch.float32
    np.testing.assert_allclose(result.numpy(), expected.numpy(), rtol=1e-6)
