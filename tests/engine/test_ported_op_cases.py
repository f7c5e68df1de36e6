"""Corner inputs ported from peer libraries' own op suites, against PyTorch 2.13.

The cases are the kinds of input those suites exercise (facts and shapes, not their code):
tinygrad's test/test_ops.py (0-d and zero-size tensors, size-1 and broadcast dims, negative
and tuple axes, keepdim, transposed and strided inputs, ties, bool inputs), HIPS autograd's
tests/test_numpy.py (the same tensor passed twice, keepdims reductions, non-contiguous
views) and PyTorch's OpInfo sample inputs (mixed dtypes, scalars on either side).

Each case runs in float64 and float32: the value must have PyTorch's shape, dtype and
values, and each float input's gradient for the cotangent 1, 2, 3, ... must equal PyTorch's.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import chainrule as cr

pytestmark = pytest.mark.torch

F64, F32 = np.float64, np.float32


@dataclass(frozen=True)
class Case:
    """`ours(*tensors)` and `theirs(torch, *tensors)` compute the same thing on `inputs`."""

    name: str
    ours: Callable[..., Any]
    theirs: Callable[..., Any]
    inputs: tuple[np.ndarray, ...]


def _floating(x: np.ndarray) -> bool:
    return bool(np.issubdtype(x.dtype, np.floating))


def _cotangent(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    return np.arange(1, int(np.prod(shape)) + 1, dtype=dtype).reshape(shape)


def _run_ours(case: Case) -> tuple[np.ndarray, list[np.ndarray | None]]:
    tensors = [cr.tensor(x, dtype=x.dtype, requires_grad=_floating(x)) for x in case.inputs]
    out = case.ours(*tensors)
    value = out.numpy()
    if out.requires_grad and value.size:
        out.backward(cr.tensor(_cotangent(value.shape, value.dtype)))
    return value, [None if t.grad is None else np.asarray(t.grad.numpy()) for t in tensors]


def _run_torch(torch: ModuleType, case: Case) -> tuple[np.ndarray, list[np.ndarray | None]]:
    tensors = [torch.tensor(x, requires_grad=_floating(x)) for x in case.inputs]
    out = case.theirs(torch, *tensors)
    value = out.detach().numpy()
    if out.requires_grad and value.size:
        out.backward(torch.from_numpy(_cotangent(value.shape, value.dtype)))
    return value, [None if t.grad is None else t.grad.numpy() for t in tensors]


def _assert_same(ours: np.ndarray, theirs: np.ndarray, what: str) -> None:
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} != PyTorch's {theirs.shape}"
    assert ours.dtype == theirs.dtype, f"{what}: dtype {ours.dtype} != PyTorch's {theirs.dtype}"
    if ours.dtype.kind in "biu":
        np.testing.assert_array_equal(ours, theirs, err_msg=what)
        return
    rtol = 1e-5 if ours.dtype == np.float32 else 1e-12
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=rtol * 1e-2, err_msg=what)


def _check(torch: ModuleType, case: Case) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        value, grads = _run_ours(case)
        expected_value, expected_grads = _run_torch(torch, case)
    _assert_same(value, expected_value, f"{case.name}: value")
    for position, (grad, expected) in enumerate(zip(grads, expected_grads, strict=True)):
        if expected is None:
            expected = np.zeros_like(case.inputs[position]) if grad is not None else None
        if expected is None:
            continue
        grad = np.zeros_like(expected) if grad is None else grad
        _assert_same(grad, expected, f"{case.name}: gradient of input {position}")


def _uniform(shape: tuple[int, ...], dtype: Any, low: float = 0.5, high: float = 2.0) -> Any:
    seed = 7 + len(shape) + int(np.prod(shape))
    return np.random.default_rng(seed).uniform(low, high, shape).astype(dtype)


# ------------------------------------------------------------------ bool inputs
# tinygrad's test_ops runs its unary ops on bool tensors; PyTorch's sign keeps bools
# (True, False) and its logsumexp gives float32. NumPy has no sign loop for bools, so these
# raised NumPy's UFuncTypeError / "boolean subtract" TypeError from inside the op.
BOOLS = np.array([[True, False, True], [False, False, True]])


def _bool_cases() -> list[Case]:
    return [
        Case("sign(bool)", cr.sign, lambda t, x: t.sign(x), (BOOLS,)),
        Case(
            "logsumexp(bool, axis=1)",
            lambda x: cr.logsumexp(x, axis=1),
            lambda t, x: t.logsumexp(x, 1),
            (BOOLS,),
        ),
        Case("logsumexp(bool)", cr.logsumexp, lambda t, x: t.logsumexp(x, (0, 1)), (BOOLS,)),
        # PyTorch refuses softmax of bools and ints; we compute them in float32 as for ints.
        Case(
            "softmax(bool)",
            lambda x: cr.softmax(x, 0),
            lambda t, x: t.softmax(x.float(), 0),
            (BOOLS,),
        ),
        Case(
            "log_softmax(bool)",
            lambda x: cr.log_softmax(x, -1),
            lambda t, x: t.log_softmax(x.float(), -1),
            (BOOLS,),
        ),
        Case(
            "log_softmax(int)",
            lambda x: cr.log_softmax(x, 0),
            lambda t, x: t.log_softmax(x.float(), 0),
            (BOOLS.astype(np.int64),),
        ),
    ]


@pytest.mark.parametrize("case", _bool_cases(), ids=lambda case: case.name)
def test_bool_inputs_match_torch(torch: ModuleType, case: Case) -> None:
    _check(torch, case)


def test_abs_of_bool_is_the_bools() -> None:
    # PyTorch refuses abs on bools; NumPy's absolute keeps them, and so do we (it raised
    # NumPy's UFuncTypeError for a missing sign loop, from the gradient it saved).
    flags = cr.tensor(BOOLS, dtype=bool)
    out = cr.abs(flags)
    assert out.dtype == np.bool_
    np.testing.assert_array_equal(out.numpy(), np.absolute(BOOLS))


# ------------------------------------------------------------------ tiny and huge magnitudes
# tinygrad's test_ops and PyTorch's OpInfo reference inputs take reductions to extreme
# magnitudes. PyTorch accumulates a float32 std in float64; ours squared in float32, so a
# spread of 1e-25 gave std 0 (and gradient 0) and one of 3e38 gave inf.
@pytest.mark.parametrize("axis", [None, 0, -1])
@pytest.mark.parametrize("magnitude", [1e-25, 1e-19, 1e15])
def test_float32_std_of_tiny_and_huge_spreads_matches_torch(
    torch: ModuleType, magnitude: float, axis: int | None
) -> None:
    x = (np.array([[1.0, 2.0, 4.0], [3.0, -1.0, 0.5]]) * magnitude).astype(F32)
    dim = tuple(range(x.ndim)) if axis is None else axis
    _check(
        torch,
        Case("std", lambda t: cr.std(t, axis=axis), lambda t, a: t.std(a, dim, correction=0), (x,)),
    )


def test_float32_std_near_the_largest_float_is_finite_with_the_exact_gradient(
    torch: ModuleType,
) -> None:
    x = np.array([3e38, -3e38, 1e38], dtype=F32)
    value, (grad,) = _run_ours(Case("std", cr.std, cr.std, (x,)))
    expected = torch.tensor(x).std(correction=0).numpy()
    _assert_same(value, expected, "std value")
    # PyTorch's float32 backward overflows to 0 here: compare with the float64 formula
    # (x - mean) / (n std) for the cotangent 1.
    wide = x.astype(F64)
    exact = (wide - wide.mean()) / (wide.size * wide.std())
    assert grad is not None
    assert grad.shape == x.shape
    assert grad.dtype == F32
    np.testing.assert_allclose(grad, exact.astype(F32), rtol=1e-6)


# ------------------------------------------------------------------ refusals by name
# tinygrad's test_ops and PyTorch's OpInfo error inputs reduce over a repeated axis
# (PyTorch: "dim 0 appears multiple times"). NumPy's own "duplicate value in 'axis'" named
# neither the op nor the fix.
@pytest.mark.parametrize(
    "reduce", [cr.sum, cr.mean, cr.var, cr.std, cr.prod, cr.max, cr.min, cr.logsumexp, cr.any]
)
def test_a_reduction_over_a_repeated_axis_is_refused_by_name(reduce: Callable[..., Any]) -> None:
    x = cr.tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match=rf"^{reduce.__name__}: axis=\(0, -2\) names axis 0 more"):
        reduce(x, (0, -2))
