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


def _assert_same(ours: np.ndarray, theirs: np.ndarray, what: str, floor: float = 0.0) -> None:
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} != PyTorch's {theirs.shape}"
    assert ours.dtype == theirs.dtype, f"{what}: dtype {ours.dtype} != PyTorch's {theirs.dtype}"
    if ours.dtype.kind in "biu":
        np.testing.assert_array_equal(ours, theirs, err_msg=what)
        return
    rtol = 1e-5 if ours.dtype == np.float32 else 1e-12
    # rounding where a result cancels to 0 (the gradient of x / x), at the result's scale:
    # a gradient's scale is at least the cotangents', a value's its own largest entry
    finite = np.abs(theirs[np.isfinite(theirs)])
    scale = max(floor, float(finite.max()) if finite.size else 0.0)
    atol = 16 * float(np.finfo(ours.dtype).eps) * scale
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol, err_msg=what)


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
        _assert_same(grad, expected, f"{case.name}: gradient of input {position}", floor=1.0)


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


# ------------------------------------------------------------------ the ported sweep
# Each op on the layouts tinygrad's helper_test_op and PyTorch's OpInfo sample inputs feed
# it: a matrix, a 0-d tensor, a zero-size tensor, a transposed view and a strided view.
UNARY: dict[str, tuple[Callable[..., Any], str, tuple[float, float]]] = {
    "exp": (cr.exp, "exp", (-2, 2)),
    "log": (cr.log, "log", (0.1, 3)),
    "sqrt": (cr.sqrt, "sqrt", (0.1, 3)),
    "abs": (cr.abs, "abs", (-2, 2)),
    "tanh": (cr.tanh, "tanh", (-2, 2)),
    "sigmoid": (cr.sigmoid, "sigmoid", (-3, 3)),
    "relu": (cr.relu, "relu", (-2, 2)),
    "sin": (cr.sin, "sin", (-2, 2)),
    "cos": (cr.cos, "cos", (-2, 2)),
    "tan": (cr.tan, "tan", (-1, 1)),
    "arcsin": (cr.arcsin, "asin", (-0.9, 0.9)),
    "arccos": (cr.arccos, "acos", (-0.9, 0.9)),
    "arctan": (cr.arctan, "atan", (-3, 3)),
    "sinh": (cr.sinh, "sinh", (-2, 2)),
    "cosh": (cr.cosh, "cosh", (-2, 2)),
    "arcsinh": (cr.arcsinh, "asinh", (-2, 2)),
    "arccosh": (cr.arccosh, "acosh", (1.1, 3)),
    "arctanh": (cr.arctanh, "atanh", (-0.9, 0.9)),
    "exp2": (cr.exp2, "exp2", (-2, 2)),
    "expm1": (cr.expm1, "expm1", (-2, 2)),
    "log2": (cr.log2, "log2", (0.1, 3)),
    "log10": (cr.log10, "log10", (0.1, 3)),
    "log1p": (cr.log1p, "log1p", (-0.5, 3)),
    "square": (cr.square, "square", (-2, 2)),
    "reciprocal": (cr.reciprocal, "reciprocal", (0.5, 2)),
    "rsqrt": (cr.rsqrt, "rsqrt", (0.5, 2)),
    "sign": (cr.sign, "sign", (-2, 2)),
    "floor": (cr.floor, "floor", (-2, 2)),
    "ceil": (cr.ceil, "ceil", (-2, 2)),
    "trunc": (cr.trunc, "trunc", (-2, 2)),
    "erf": (cr.erf, "erf", (-2, 2)),
    "softplus": (cr.softplus, "nn.functional.softplus", (-3, 3)),
    "logsigmoid": (cr.logsigmoid, "nn.functional.logsigmoid", (-3, 3)),
    "silu": (cr.silu, "nn.functional.silu", (-3, 3)),
    "gelu": (cr.gelu, "nn.functional.gelu", (-3, 3)),
    "elu": (cr.elu, "nn.functional.elu", (-3, 3)),
    "selu": (cr.selu, "nn.functional.selu", (-3, 3)),
    "leaky_relu": (cr.leaky_relu, "nn.functional.leaky_relu", (-3, 3)),
    "hardtanh": (cr.hardtanh, "nn.functional.hardtanh", (-3, 3)),
    "hardswish": (cr.hardswish, "nn.functional.hardswish", (-4, 4)),
    "mish": (cr.mish, "nn.functional.mish", (-3, 3)),
    "softsign": (cr.softsign, "nn.functional.softsign", (-3, 3)),
}


def _torch_function(torch: ModuleType, dotted: str) -> Any:
    function: Any = torch
    for part in dotted.split("."):
        function = getattr(function, part)
    return function


def _layouts(dtype: Any, low: float, high: float) -> dict[str, np.ndarray]:
    matrix = _uniform((3, 4), dtype, low, high)
    return {
        "(3, 4)": matrix,
        "0-d": matrix[1, 2].copy().reshape(()),
        "(0, 3)": np.zeros((0, 3), dtype),
        "transposed": matrix.T,
        "strided": matrix[:, ::2],
        "(1, 4, 1)": matrix[:1, :, None],
    }


def _unary_cases() -> list[Case]:
    cases = []
    for name, (ours, theirs, (low, high)) in UNARY.items():
        for dtype in (F64, F32):
            for layout, x in _layouts(dtype, low, high).items():
                cases.append(
                    Case(
                        f"{name} {layout} {np.dtype(dtype)}",
                        ours,
                        lambda t, x, dotted=theirs: _torch_function(t, dotted)(x),
                        (x,),
                    )
                )
    return cases


@pytest.mark.parametrize("case", _unary_cases(), ids=lambda case: case.name)
def test_unary_ops_on_every_layout_match_torch(torch: ModuleType, case: Case) -> None:
    _check(torch, case)


BINARY: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
    "add": (lambda a, b: a + b, lambda t, a, b: a + b),
    "sub": (lambda a, b: a - b, lambda t, a, b: a - b),
    "mul": (lambda a, b: a * b, lambda t, a, b: a * b),
    "div": (lambda a, b: a / b, lambda t, a, b: a / b),
    "pow": (lambda a, b: a**b, lambda t, a, b: a**b),
    "mod": (lambda a, b: a % b, lambda t, a, b: a % b),
    "maximum": (cr.maximum, lambda t, a, b: t.maximum(a, b)),
    "minimum": (cr.minimum, lambda t, a, b: t.minimum(a, b)),
    "arctan2": (cr.arctan2, lambda t, a, b: t.atan2(a, b)),
    "logaddexp": (cr.logaddexp, lambda t, a, b: t.logaddexp(a, b)),
    "hypot": (cr.hypot, lambda t, a, b: t.hypot(a, b)),
    "fmod": (cr.fmod, lambda t, a, b: t.fmod(a, b)),
}
# broadcasting from either side, size-1 dims on both, 0-d and zero-size operands
BROADCAST_SHAPES = [
    ((3, 4), (4,)),
    ((4,), (3, 4)),
    ((3, 1), (1, 4)),
    ((), (3,)),
    ((3,), ()),
    ((0, 3), (3,)),
    ((1,), (0,)),
]


def _binary_cases() -> list[Case]:
    cases = []
    for name, (ours, theirs) in BINARY.items():
        for dtype in (F64, F32):
            for left, right in BROADCAST_SHAPES:
                a, b = _uniform(left, dtype), _uniform(right, dtype, 0.6, 1.9)
                cases.append(Case(f"{name} {left} {right} {np.dtype(dtype)}", ours, theirs, (a, b)))
            x = _uniform((4, 3), dtype)
            cases.append(
                Case(
                    f"{name} transposed {np.dtype(dtype)}",
                    ours,
                    theirs,
                    (x.T, (x[::-1] * 0.7 + 0.6).T),
                )
            )
            cases.append(
                Case(
                    f"{name} same tensor twice {np.dtype(dtype)}",
                    lambda a, f=ours: f(a, a),
                    lambda t, a, f=theirs: f(t, a, a),
                    (x,),
                )
            )
            ties = (np.array([1.0, 2.0, 3.0, -1.0], dtype), np.array([1.0, -2.0, 3.0, 2.0], dtype))
            cases.append(Case(f"{name} ties {np.dtype(dtype)}", ours, theirs, ties))
        mixed = (_uniform((3,), F32), np.array([1, 2, 3]))
        cases.append(Case(f"{name} float32 with int64", ours, theirs, mixed))
        cases.append(Case(f"{name} int64 with float32", ours, theirs, mixed[::-1]))
    return cases


@pytest.mark.parametrize("case", _binary_cases(), ids=lambda case: case.name)
def test_binary_ops_on_broadcast_shapes_match_torch(torch: ModuleType, case: Case) -> None:
    _check(torch, case)


def _dim(axis: Any, ndim: int) -> Any:
    return tuple(range(ndim)) if axis is None else axis


REDUCTIONS: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
    "sum": (cr.sum, lambda t, x, d, k: x.sum(d, keepdim=k)),
    "mean": (cr.mean, lambda t, x, d, k: x.mean(d, keepdim=k)),
    "max": (cr.max, lambda t, x, d, k: x.amax(d, keepdim=k)),
    "min": (cr.min, lambda t, x, d, k: x.amin(d, keepdim=k)),
    "var": (cr.var, lambda t, x, d, k: x.var(d, keepdim=k, correction=0)),
    "std": (cr.std, lambda t, x, d, k: x.std(d, keepdim=k, correction=0)),
    "logsumexp": (cr.logsumexp, lambda t, x, d, k: x.logsumexp(d, keepdim=k)),
    "norm": (
        lambda x, axis, keepdims: cr.norm(x, axis=axis, keepdims=keepdims),
        lambda t, x, d, k: t.linalg.vector_norm(x, dim=d, keepdim=k),
    ),
}
# tinygrad's test_sum/test_max/test_std: negative and tuple axes, keepdim, all axes,
# transposed inputs; ties so the max's gradient split shows
AXES = [None, 0, -1, (0, 2), (-1, -3)]


def _reduction_cases() -> list[Case]:
    cases = []
    for name, (ours, theirs) in REDUCTIONS.items():
        for dtype in (F64, F32):
            cube = _uniform((2, 3, 4), dtype)
            ties = np.array([[[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0], [5, -1, 5, -1]]] * 2)
            for axis in AXES:
                for keep in (False, True):
                    for label, x in (("", cube), (" transposed", cube.transpose(2, 0, 1))):
                        cases.append(
                            Case(
                                f"{name} axis={axis} keepdims={keep}{label} {np.dtype(dtype)}",
                                lambda t, a=axis, k=keep, f=ours: f(t, axis=a, keepdims=k),
                                lambda t, x, a=axis, k=keep, f=theirs: f(t, x, _dim(a, x.ndim), k),
                                (x,),
                            )
                        )
            cases.append(
                Case(
                    f"{name} ties {np.dtype(dtype)}",
                    lambda t, f=ours: f(t, axis=-1, keepdims=False),
                    lambda t, x, f=theirs: f(t, x, -1, False),
                    (ties.astype(dtype),),
                )
            )
            cases.append(
                Case(
                    f"{name} 0-d {np.dtype(dtype)}",
                    lambda t, f=ours: f(t, axis=None, keepdims=False),
                    lambda t, x, f=theirs: f(t, x, (), False),
                    (np.array(1.5, dtype),),
                )
            )
    return cases


@pytest.mark.parametrize("case", _reduction_cases(), ids=lambda case: case.name)
def test_reductions_over_ported_axes_match_torch(torch: ModuleType, case: Case) -> None:
    _check(torch, case)


def _along_axis_cases() -> list[Case]:
    ops: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
        "cumsum": (cr.cumsum, lambda t, x, a: x.cumsum(a)),
        "cumprod": (cr.cumprod, lambda t, x, a: x.cumprod(a)),
        "logcumsumexp": (cr.logcumsumexp, lambda t, x, a: x.logcumsumexp(a)),
        "softmax": (cr.softmax, lambda t, x, a: x.softmax(a)),
        "log_softmax": (cr.log_softmax, lambda t, x, a: x.log_softmax(a)),
        "softmin": (cr.softmin, lambda t, x, a: t.nn.functional.softmin(x, a)),
        "sort": (cr.sort, lambda t, x, a: x.sort(dim=a, stable=True)[0]),
        "sort descending": (
            lambda x, a: cr.sort(x, a, descending=True),
            lambda t, x, a: x.sort(dim=a, descending=True, stable=True)[0],
        ),
        "argsort": (cr.argsort, lambda t, x, a: x.argsort(dim=a, stable=True)),
        "argmax": (cr.argmax, lambda t, x, a: x.argmax(a)),
        "argmin": (cr.argmin, lambda t, x, a: x.argmin(a)),
        "topk 2": (
            lambda x, a: cr.topk(x, 2, a)[0],
            lambda t, x, a: x.topk(2, a)[0],
        ),
    }
    cases = []
    for name, (ours, theirs) in ops.items():
        for dtype in (F64, F32):
            matrix = _uniform((3, 4), dtype)
            ties = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 1.0, 2.0], [5, -1, 5, -1]], dtype)
            layouts = {"": matrix, " transposed": matrix.T.copy().T, " ties": ties}
            if not name.startswith(("arg", "topk")):
                layouts[" zero-size"] = np.zeros((0, 3), dtype)
            for label, x in layouts.items():
                for axis in (0, -1):
                    if name.startswith("topk") and label == " ties":
                        continue  # PyTorch does not promise which tied entry topk picks
                    cases.append(
                        Case(
                            f"{name} axis={axis}{label} {np.dtype(dtype)}",
                            lambda t, a=axis, f=ours: f(t, a),
                            lambda t, x, a=axis, f=theirs: f(t, x, a),
                            (x,),
                        )
                    )
    return cases


@pytest.mark.parametrize("case", _along_axis_cases(), ids=lambda case: case.name)
def test_scans_sorts_and_softmaxes_along_an_axis_match_torch(torch: ModuleType, case: Case) -> None:
    _check(torch, case)


# ------------------------------------------------------------------ zero-size batches
# PyTorch's OpInfo sample inputs for cross_entropy include zero-size batches: summed, the
# loss is 0, unreduced, an empty tensor. We refused every reduction ("no samples (N = 0)"),
# where nll_loss and cross_entropy with class probabilities already gave PyTorch's results.
@pytest.mark.parametrize("reduction", ["sum", "none"])
@pytest.mark.parametrize("shape", [(0, 3), (0, 3, 2), (2, 3, 0)], ids=str)
@pytest.mark.parametrize("dtype", [F64, F32], ids=["float64", "float32"])
def test_cross_entropy_of_a_zero_size_batch_matches_torch(
    torch: ModuleType, reduction: str, shape: tuple[int, ...], dtype: Any
) -> None:
    targets = np.zeros((shape[0], *shape[2:]), np.int64)
    _check(
        torch,
        Case(
            f"cross_entropy {shape} {reduction}",
            lambda x: cr.functional.cross_entropy(x, targets, reduction=reduction),
            lambda t, x: t.nn.functional.cross_entropy(
                x, t.from_numpy(targets), reduction=reduction
            ),
            (np.zeros(shape, dtype),),
        ),
    )


def test_cross_entropy_refuses_the_mean_of_no_samples_and_no_classes_by_name() -> None:
    with pytest.raises(ValueError, match=r"^cross_entropy: no samples .* reduction='sum'"):
        cr.functional.cross_entropy(cr.tensor(np.zeros((0, 3))), np.zeros(0, np.int64))
    with pytest.raises(ValueError, match=r"^cross_entropy: .* no classes \(C = 0\)"):
        cr.functional.cross_entropy(
            cr.tensor(np.zeros((2, 0))), np.zeros(2, np.int64), reduction="sum"
        )


# ------------------------------------------------------------------ shape ops and linear algebra
def _shape_and_linalg_cases() -> list[Case]:
    cases = []
    for dtype in (F64, F32):
        cube = _uniform((2, 3, 4), dtype, -1.0, 1.0)
        layouts = {"": cube, " transposed": cube.transpose(2, 1, 0).copy().transpose(2, 1, 0)}
        layouts[" strided"] = _uniform((2, 6, 5), dtype, -1.0, 1.0)[:, ::2, 1:]
        shaping: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
            "reshape(-1, 2)": (lambda x: cr.reshape(x, (-1, 2)), lambda t, x: x.reshape(-1, 2)),
            "transpose(1, -1, 0)": (
                lambda x: cr.transpose(x, (1, -1, 0)),
                lambda t, x: x.permute(1, 2, 0),
            ),
            "flip((0, -1))": (lambda x: cr.flip(x, (0, -1)), lambda t, x: x.flip((0, -1))),
            "roll((1, 5), (0, -1))": (
                lambda x: cr.roll(x, (1, 5), (0, -1)),
                lambda t, x: x.roll((1, 5), (0, -1)),
            ),
            "moveaxis(0, -1)": (lambda x: cr.moveaxis(x, 0, -1), lambda t, x: x.movedim(0, -1)),
            "expand_dims(-1)": (lambda x: cr.expand_dims(x, -1), lambda t, x: x.unsqueeze(-1)),
            "repeat(2, axis=1)": (
                lambda x: cr.repeat(x, 2, axis=1),
                lambda t, x: x.repeat_interleave(2, dim=1),
            ),
            "tile((2, 1, 3))": (lambda x: cr.tile(x, (2, 1, 3)), lambda t, x: x.repeat(2, 1, 3)),
            "split [1] axis=-1": (
                lambda x: cr.split(x, [1], axis=-1)[1],
                lambda t, x: t.split(x, [1, x.shape[-1] - 1], dim=-1)[1],
            ),
            "narrow(-1, 1, 2)": (
                lambda x: cr.narrow(x, -1, 1, 2),
                lambda t, x: t.narrow(x, -1, 1, 2),
            ),
            "pad": (
                lambda x: cr.pad(x, ((0, 0), (1, 2), (0, 1))),
                lambda t, x: t.nn.functional.pad(x, (0, 1, 1, 2)),
            ),
            "diagonal(1, -1, -2)": (
                lambda x: cr.diagonal(x, 1, -1, -2),
                lambda t, x: t.diagonal(x, 1, -1, -2),
            ),
            "tril(-1)": (lambda x: cr.tril(x, -1), lambda t, x: t.tril(x, -1)),
            "triu(1)": (lambda x: cr.triu(x, 1), lambda t, x: t.triu(x, 1)),
            "getitem [-1, :, -2:]": (lambda x: x[-1, :, -2:], lambda t, x: x[-1, :, -2:]),
            "getitem int array with repeats": (
                lambda x: x[np.array([1, 1, 0, -1])],
                lambda t, x: x[t.tensor([1, 1, 0, -1])],
            ),
            "getitem None and Ellipsis": (lambda x: x[None, ..., 1], lambda t, x: x[None, ..., 1]),
            "concatenate with itself": (
                lambda x: cr.concatenate([x, x[:1]], axis=0),
                lambda t, x: t.cat([x, x[:1]], 0),
            ),
            "stack with itself axis=-1": (
                lambda x: cr.stack([x, x * 2], axis=-1),
                lambda t, x: t.stack([x, x * 2], -1),
            ),
            "matmul with its own transpose": (
                lambda x: x @ cr.swapaxes(x, -1, -2),
                lambda t, x: x @ x.transpose(-1, -2),
            ),
            "einsum bij,bkj->bik with itself": (
                lambda x: cr.einsum("bij,bkj->bik", x, x),
                lambda t, x: t.einsum("bij,bkj->bik", x, x),
            ),
            "tensordot with itself": (
                lambda x: cr.tensordot(x, x, axes=([0, 2], [0, 2])),
                lambda t, x: t.tensordot(x, x, dims=([0, 2], [0, 2])),
            ),
        }
        for name, (ours, theirs) in shaping.items():
            for label, x in layouts.items():
                cases.append(Case(f"{name}{label} {np.dtype(dtype)}", ours, theirs, (x,)))
        matmul_shapes = [
            ((3, 4), (4, 2)),
            ((4,), (4,)),
            ((4,), (4, 2)),
            ((3, 4), (4,)),
            ((2, 3, 4), (4, 5)),
            ((1, 3, 4), (2, 4, 2)),
            ((2, 1, 3, 4), (5, 4, 2)),
            ((0, 4), (4, 2)),
            ((3, 0), (0, 2)),
        ]
        for left, right in matmul_shapes:
            a, b = _uniform(left, dtype, -1.0, 1.0), _uniform(right, dtype, -1.0, 1.0)
            cases.append(
                Case(f"matmul {left} {right} {np.dtype(dtype)}", cr.matmul, _torch_matmul, (a, b))
            )
    return cases


def _torch_matmul(torch: ModuleType, a: Any, b: Any) -> Any:
    return torch.matmul(a, b)


@pytest.mark.parametrize("case", _shape_and_linalg_cases(), ids=lambda case: case.name)
def test_shape_ops_and_products_on_ported_layouts_match_torch(
    torch: ModuleType, case: Case
) -> None:
    _check(torch, case)


# PyTorch's CPU scans accumulate float32 in float64 (tinygrad's test_cumsum and OpInfo's
# reference inputs take large and small magnitudes): a float32 running sum of 1e8, 1, -1e8
# was silently 0 where PyTorch has 1, and a running product of 1e30, 1e30, 1e-30 was inf.
SCAN_ROWS = {
    "cumsum cancelling": (cr.cumsum, "cumsum", [[1e8, 1.0, -1e8, 1.0], [3.0, 1e8, -1e8, 0.5]]),
    "cumprod over and back": (
        cr.cumprod,
        "cumprod",
        [[1e30, 1e30, 1e-30, 2.0], [1e20, 1e20, 1e-20, 1e-20]],
    ),
}


@pytest.mark.parametrize("axis", [-1, 0])
@pytest.mark.parametrize("name", list(SCAN_ROWS))
def test_float32_scans_accumulate_as_torch(torch: ModuleType, name: str, axis: int) -> None:
    ours, theirs, rows = SCAN_ROWS[name]
    x = np.array(rows, F32)
    if axis == 0:
        x = np.ascontiguousarray(x.T)
    case = Case(name, lambda t: ours(t, axis), lambda t, a: getattr(t, theirs)(a, axis), (x,))
    _check(torch, case)
    # no absolute slack: the lost 1 of the cancelling sum is far below 1e8's scale
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the product's inf on the way
        value, _ = _run_ours(case)
        expected, _ = _run_torch(torch, case)
    np.testing.assert_allclose(value, expected, rtol=1e-6, atol=0)
