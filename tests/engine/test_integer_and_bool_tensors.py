"""Integer and bool tensors are constants that flow through the ops without a gradient:
arithmetic between them stays integer (as NumPy), comparisons, indexing, where and the
integer-valued reductions take them; a float operand makes the result that float (as
PyTorch: int64 with float32 is float32), and only the float operand gets a gradient.
Requiring or asking for a gradient of one is refused, naming the dtype. float16 computes
every op of the table where NumPy does."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from engine_cases import CASES, OpCase, op_inputs, relative_error
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr


def _ints() -> cr.Tensor:
    return cr.tensor([4, -2, 7], dtype=np.int64)


# ------------------------------------------------------------------ construction
def test_python_integers_become_float32_unless_a_dtype_is_given() -> None:
    # The documented default (README, cr.tensor): an integer tensor is asked for by dtype.
    assert cr.tensor([1, 2]).dtype == np.float32
    assert cr.tensor(np.arange(3)).dtype == np.float32
    assert cr.tensor(np.arange(3), dtype=np.int64).dtype == np.int64
    assert cr.tensor([True, False], dtype=bool).dtype == np.bool_


def test_from_numpy_keeps_an_integer_arrays_dtype() -> None:
    indices = np.array([2, 0], dtype=np.int32)
    assert cr.Tensor.from_numpy(indices).dtype == np.int32


@pytest.mark.parametrize("dtype", [np.int64, np.int8, np.uint8, np.bool_])
def test_requiring_grad_of_an_integer_or_bool_tensor_names_its_dtype(dtype: type) -> None:
    name = np.dtype(dtype).name
    with pytest.raises(TypeError, match=rf"only floating-point tensors can .* dtype {name}"):
        cr.tensor([1, 0], dtype=dtype, requires_grad=True)
    with pytest.raises(TypeError, match=rf"only floating-point tensors can .* dtype {name}"):
        cr.tensor([1, 0], dtype=dtype).requires_grad_()


@pytest.mark.parametrize(
    "transform",
    [
        lambda f, x: cr.grad(f)(x),
        lambda f, x: cr.value_and_grad(f)(x),
        lambda f, x: cr.jacobian(f)(x),
        lambda f, x: cr.vjp(f, x),
    ],
    ids=["grad", "value_and_grad", "jacobian", "vjp"],
)
def test_asking_for_a_gradient_with_respect_to_an_integer_tensor_names_its_dtype(
    transform: Callable[[Any, Any], Any],
) -> None:
    with pytest.raises(TypeError, match=r"dtype int64\W+(and )?only floating-point"):
        transform(lambda v: (v * v).sum(), _ints())


# ------------------------------------------------------------------ integer arithmetic
@pytest.mark.parametrize(
    ("op", "expected"),
    [
        (lambda x: x + x, [8, -4, 14]),
        (lambda x: x * 3, [12, -6, 21]),
        (lambda x: 10 - x, [6, 12, 3]),
        (lambda x: x**2, [16, 4, 49]),
        (lambda x: -x, [-4, 2, -7]),
        (lambda x: x @ x, 69),
        (lambda x: x.sum(), 9),
        (lambda x: x.max(), 7),
        (lambda x: x.prod(), -56),
        (lambda x: x.cumsum(), [4, 2, 9]),
        (lambda x: x.sort(), [-2, 4, 7]),
        (lambda x: x[np.array([2, 0])], [7, 4]),
        (lambda x: x.reshape(3, 1)[1:], [[-2], [7]]),
    ],
)
def test_integer_arithmetic_stays_integer_as_numpy(
    op: Callable[[cr.Tensor], cr.Tensor], expected: Any
) -> None:
    result = op(_ints())
    assert result.dtype == np.int64
    assert not result.requires_grad
    np.testing.assert_array_equal(result.numpy(), expected)


def test_bool_tensors_add_as_logical_or_and_count_as_ints_beside_ints() -> None:
    flags = cr.tensor([True, False, True], dtype=bool)
    assert (flags + flags).dtype == np.bool_
    counted = flags + 1
    assert counted.dtype == np.int64
    np.testing.assert_array_equal(counted.numpy(), [2, 1, 2])


@pytest.mark.parametrize(
    "op",
    [lambda x: x * 2.5, lambda x: 2.5 * x, lambda x: x + np.float64(0.5), lambda x: x**0.5],
    ids=["mul", "rmul", "numpy-scalar", "pow"],
)
def test_a_float_number_with_an_integer_tensor_gives_float32_not_a_truncated_int(
    op: Callable[[cr.Tensor], cr.Tensor],
) -> None:
    ints = cr.tensor([4, 9], dtype=np.int64)
    result = op(ints)
    assert result.dtype == np.float32
    np.testing.assert_allclose(result.numpy(), op(np.array([4.0, 9.0])), rtol=1e-6)


def test_true_division_of_integers_is_float32_as_torch(torch: ModuleType) -> None:
    result = _ints() / cr.tensor([2, 4, 7], dtype=np.int64)
    reference = torch.tensor([4, -2, 7]) / torch.tensor([2, 4, 7])
    assert result.dtype == np.float32 == reference.numpy().dtype
    np.testing.assert_array_equal(result.numpy(), reference.numpy())


def test_a_negative_integer_power_of_an_integer_tensor_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"^pow: a tensor of dtype int64 to the negative .* -1"):
        _ints() ** -1


def test_comparisons_of_integer_tensors_give_boolean_masks_that_index() -> None:
    ints = _ints()
    mask = ints > 0
    assert mask.dtype == np.bool_
    np.testing.assert_array_equal(ints[mask].numpy(), [4, 7])
    np.testing.assert_array_equal(cr.argmax(ints).numpy(), 2)


# ------------------------------------------------------------------ mixing with floats
MIXED: dict[str, tuple[Callable[[Any, Any], Any], Callable[..., Any]]] = {
    "add": (lambda i, f: i + f, lambda torch, i, f: i + f),
    "mul": (lambda i, f: f * i, lambda torch, i, f: f * i),
    "sub": (lambda i, f: i - f, lambda torch, i, f: i - f),
    "div": (lambda i, f: f / i, lambda torch, i, f: f / i),
    # torch.matmul does not promote; the int operand taken as the float dtype is the same.
    "matmul": (lambda i, f: i @ f, lambda torch, i, f: i.to(f.dtype) @ f),
    "maximum": (cr.maximum, lambda torch, i, f: torch.maximum(i, f)),
    "where": (
        lambda i, f: cr.where(np.array([True, False, True]), i, f),
        lambda torch, i, f: torch.where(torch.tensor([True, False, True]), i, f),
    ),
    "concatenate": (lambda i, f: cr.concatenate([i, f]), lambda torch, i, f: torch.cat([i, f])),
}


@pytest.mark.parametrize("float_dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("name", sorted(MIXED))
def test_an_integer_tensor_with_a_float_one_promotes_as_torch_and_only_the_float_gets_a_gradient(
    torch: ModuleType, float_dtype: type, name: str
) -> None:
    ours, theirs = MIXED[name]
    floats = np.array([0.5, -1.5, 2.25], dtype=float_dtype)
    ints = cr.tensor([4, -2, 7], dtype=np.int64)
    x = cr.tensor(floats, requires_grad=True)
    result = ours(ints, x)
    t = torch.tensor(floats, requires_grad=True)
    reference = theirs(torch, torch.tensor([4, -2, 7]), t)
    assert result.dtype == reference.detach().numpy().dtype == float_dtype
    np.testing.assert_array_equal(result.numpy(), reference.detach().numpy())
    result.sum().backward()
    reference.sum().backward()
    assert x.grad is not None
    assert x.grad.dtype == float_dtype
    np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())
    assert ints.grad is None


# ------------------------------------------------------------------ float16
FLOAT16_CASES = [case for case in CASES if "casts" not in case.tags]


# float16 keeps 11 bits (eps 9.8e-4): 4e-3 is four of its ulps, against the exact float64
# result on the same (float16) inputs.
@pytest.mark.torch
@pytest.mark.parametrize("case", FLOAT16_CASES, ids=[case.name for case in FLOAT16_CASES])
@settings(max_examples=3, deadline=None)
@given(data=st.data())
def test_float16_values_and_gradients_match_float64_to_a_few_ulps(
    torch: ModuleType, case: OpCase, data: st.DataObject
) -> None:
    arrays, params = data.draw(op_inputs(case))
    inputs = [array.astype(np.float16) for array in arrays]
    ours = [cr.tensor(array, requires_grad=True) for array in inputs]
    theirs = [torch.tensor(array.astype(np.float64), requires_grad=True) for array in inputs]
    out = case.chainrule(*ours, **params)
    reference = case.torch(torch, *theirs, **params)
    assert out.dtype == np.float16
    cotangent = np.random.default_rng(0).normal(size=out.shape).astype(np.float16)
    out.backward(cotangent)
    reference.backward(torch.from_numpy(cotangent.astype(np.float64)))
    input_scale = max((float(np.max(np.abs(a))) for a in inputs if a.size), default=0.0)
    # Below float16's smallest normal number (6.1e-5) its spacing is absolute (6e-8): a
    # subnormal result (gelu(1e-6) = 5e-7) is a few ulps off relative to that, not to itself.
    floor = max(input_scale, float(np.finfo(np.float16).smallest_normal))
    assert relative_error(out.numpy(), reference.detach().numpy(), floor=floor) <= 4e-3
    for tensor, torch_tensor in zip(ours, theirs, strict=True):
        assert tensor.grad is not None
        assert tensor.grad.dtype == np.float16
        floor = float(np.max(np.abs(cotangent), initial=0.0))
        assert relative_error(tensor.grad.numpy(), torch_tensor.grad.numpy(), floor=floor) <= 4e-3
