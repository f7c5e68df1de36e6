"""The op table the engine tests share: every op written in chainrule and in PyTorch, the
input shapes it is tried on (broadcasting cases included), and how its values are drawn.

Also a tiny float64 central-difference helper and the relative error used everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from types import ModuleType
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import chainrule as cr
from chainrule import functional

Shapes = tuple[tuple[int, ...], ...]
Variant = tuple[Shapes, dict[str, Any]]


@dataclass(frozen=True)
class OpCase:
    """One op under test.

    `chainrule(*tensors, **params)` and `torch(torch, *tensors, **params)` compute the same
    thing. Values come from `ranges` (one (low, high) per input, or one for all) or, with
    `grid`, from a grid of spacing 1/16 shifted off multiples of 1/16: entries of one input
    are distinct, inputs never tie with each other, and no entry sits on a kink (0, the clip
    bounds), so max/min/relu/abs/clip are differentiable at every drawn point.
    """

    name: str
    variants: Sequence[Variant]
    chainrule: Callable[..., Any]
    torch: Callable[..., Any]
    ranges: tuple[tuple[float, float], ...] = ((-2.0, 2.0),)
    grid: bool = False
    tags: frozenset[str] = field(default_factory=frozenset)


BINARY_SHAPES: tuple[Shapes, ...] = (
    ((), ()),
    ((3,), ()),
    ((), (3,)),
    ((1,), (3,)),
    ((3, 1), (1, 4)),
    ((2, 3), (3,)),
    ((2, 1, 3), (4, 1)),
    ((2, 3), (2, 3)),
)
UNARY_SHAPES: tuple[Shapes, ...] = (((),), ((1,),), ((3,),), ((3, 1),), ((2, 3),), ((2, 1, 3),))
REDUCTIONS: tuple[Variant, ...] = (
    (((2, 3),), {"axis": None, "keepdims": False}),
    (((2, 3),), {"axis": None, "keepdims": True}),
    (((2, 3),), {"axis": 0, "keepdims": True}),
    (((2, 3),), {"axis": 1, "keepdims": False}),
    (((2, 3, 4),), {"axis": (0, 2), "keepdims": False}),
    (((2, 3, 4),), {"axis": (-1,), "keepdims": True}),
    (((4,),), {"axis": -1, "keepdims": False}),
    (((),), {"axis": None, "keepdims": False}),
)
MATMUL_SHAPES: tuple[Shapes, ...] = (
    ((3, 4), (4, 2)),
    ((4,), (4, 2)),
    ((3, 4), (4,)),
    ((4,), (4,)),
    ((3, 1), (1, 2)),
    ((2, 1, 3, 4), (5, 4, 2)),
    ((2, 3, 4), (4,)),
    ((4,), (2, 4, 3)),
)
INDICES: tuple[tuple[tuple[int, ...], Any], ...] = (
    ((3, 4), (slice(1, None), slice(None, None, 2))),
    ((3, 4), 1),
    ((3, 4), (Ellipsis, 0)),
    ((3, 4), (None, slice(None))),
    ((3, 4), np.array([0, 2, 0, 0])),
    ((3, 4), (np.array([0, 1, 1]), np.array([2, 2, 2]))),
    ((3, 4), (slice(1, None), np.array([0, 2, 2]))),
    ((3, 4), (np.array([1, 1]), slice(None, 2))),
    ((3, 4), np.array([True, False, True])),
    ((3, 4), np.array([[True, False, True, True], [False] * 4, [True, True, False, False]])),
    ((2, 3, 4), (0, np.array([2, 0, 2]), slice(1, 3))),
)


def _all_axes(x: Any, axis: Any) -> Any:
    """NumPy's axis=None as an explicit tuple (PyTorch reads dim=() differently)."""
    if axis is None:
        return tuple(range(x.ndim))
    return axis


def torch_index(torch: ModuleType, index: Any) -> Any:
    """The same index for a torch tensor: NumPy arrays become torch tensors."""
    if isinstance(index, tuple):
        return tuple(torch_index(torch, part) for part in index)
    if isinstance(index, np.ndarray):
        return torch.from_numpy(index)
    return index


def _reduction(name: str, torch_name: str, grid: bool = False) -> OpCase:
    return OpCase(
        name,
        REDUCTIONS,
        lambda x, axis, keepdims: getattr(cr, name)(x, axis=axis, keepdims=keepdims),
        lambda torch, x, axis, keepdims: getattr(torch, torch_name)(
            x, dim=_all_axes(x, axis), keepdim=keepdims
        ),
        grid=grid,
    )


def _unary(
    name: str, torch_name: str, ranges: tuple[float, float] = (-2.0, 2.0), grid: bool = False
) -> OpCase:
    return OpCase(
        name,
        [(shapes, {}) for shapes in UNARY_SHAPES],
        lambda x: getattr(x, name)(),
        lambda torch, x: getattr(torch, torch_name)(x),
        ranges=(ranges,),
        grid=grid,
    )


def _binary(
    name: str,
    function: Callable[[Any, Any], Any],
    ranges: tuple[tuple[float, float], ...] = ((-2.0, 2.0),),
) -> OpCase:
    return OpCase(
        name,
        [(shapes, {}) for shapes in BINARY_SHAPES],
        function,
        lambda torch, x, y: function(x, y),
        ranges=ranges,
    )


def _var_variants() -> list[Variant]:
    shapes = [v for v in REDUCTIONS if v[0] != ((),)]
    return [(s, {**p, "ddof": ddof}) for s, p in shapes for ddof in (0, 1)]


CASES: tuple[OpCase, ...] = (
    _binary("add", lambda x, y: x + y),
    _binary("sub", lambda x, y: x - y),
    _binary("mul", lambda x, y: x * y),
    _binary("div", lambda x, y: x / y, ((-2.0, 2.0), (0.5, 2.0))),
    # Exponents away from 0: PyTorch masks d(x**y)/dx to 0 where y == 0, so its second
    # derivative in y is 0 there instead of the true x**(y-1) (1 + y log x).
    _binary("pow_tensor_exponent", lambda x, y: x**y, ((0.3, 2.0), (0.1, 2.5))),
    OpCase(
        "radd_scalar", [(s, {}) for s in UNARY_SHAPES], lambda x: 2.5 + x, lambda torch, x: 2.5 + x
    ),
    OpCase(
        "rsub_scalar", [(s, {}) for s in UNARY_SHAPES], lambda x: 2.5 - x, lambda torch, x: 2.5 - x
    ),
    OpCase(
        "rmul_scalar", [(s, {}) for s in UNARY_SHAPES], lambda x: 2.5 * x, lambda torch, x: 2.5 * x
    ),
    OpCase(
        "rdiv_scalar",
        [(s, {}) for s in UNARY_SHAPES],
        lambda x: 2.5 / x,
        lambda torch, x: 2.5 / x,
        ranges=((0.5, 2.0),),
    ),
    OpCase(
        "rpow_scalar", [(s, {}) for s in UNARY_SHAPES], lambda x: 2.5**x, lambda torch, x: 2.5**x
    ),
    OpCase(
        "pow_scalar",
        [(s, {"p": p}) for s in (((3,),), ((2, 3),), ((),)) for p in (2, 3, 0.5, -1.5, 1, 0)],
        lambda x, p: x**p,
        lambda torch, x, p: x**p,
        ranges=((0.3, 2.0),),
    ),
    OpCase("neg", [(s, {}) for s in UNARY_SHAPES], lambda x: -x, lambda torch, x: -x),
    OpCase(
        "matmul", [(s, {}) for s in MATMUL_SHAPES], lambda x, y: x @ y, lambda torch, x, y: x @ y
    ),
    OpCase(
        "matmul_function",
        [(s, {}) for s in MATMUL_SHAPES[:3]],
        lambda x, y: cr.matmul(x, y),
        lambda torch, x, y: torch.matmul(x, y),
    ),
    _unary("exp", "exp"),
    _unary("log", "log", (0.2, 3.0)),
    _unary("sqrt", "sqrt", (0.2, 3.0)),
    _unary("abs", "abs", grid=True),
    _unary("tanh", "tanh", (-3.0, 3.0)),
    _unary("sigmoid", "sigmoid", (-6.0, 6.0)),
    _unary("sin", "sin", (-4.0, 4.0)),
    _unary("relu", "relu", grid=True),
    _reduction("sum", "sum"),
    _reduction("mean", "mean"),
    _reduction("max", "amax", grid=True),
    _reduction("min", "amin", grid=True),
    OpCase(
        "var",
        _var_variants(),
        lambda x, axis, keepdims, ddof: cr.var(x, axis=axis, keepdims=keepdims, ddof=ddof),
        lambda torch, x, axis, keepdims, ddof: torch.var(
            x, dim=_all_axes(x, axis), keepdim=keepdims, correction=ddof
        ),
        grid=True,
    ),
    OpCase(
        "reshape",
        [
            (((2, 3),), {"shape": (3, 2)}),
            (((2, 3),), {"shape": (-1,)}),
            (((2, 3),), {"shape": (6, 1)}),
            (((),), {"shape": (1, 1)}),
            (((1,),), {"shape": ()}),
        ],
        lambda x, shape: x.reshape(shape),
        lambda torch, x, shape: x.reshape(shape),
    ),
    OpCase(
        "transpose",
        [
            (((2, 3, 4),), {"axes": (2, 0, 1)}),
            (((2, 3, 4),), {"axes": (1, 0, 2)}),
            (((2, 3, 4),), {"axes": (-1, 0, 1)}),
            (((2, 3),), {"axes": None}),
        ],
        lambda x, axes: cr.transpose(x, axes),
        lambda torch, x, axes: x.permute(tuple(reversed(range(x.ndim))) if axes is None else axes),
    ),
    OpCase(
        "T",
        [(((2, 3),), {}), (((2, 3, 4),), {}), (((3,),), {})],
        lambda x: x.T,
        lambda torch, x: x.permute(tuple(reversed(range(x.ndim)))),
    ),
    OpCase(
        "getitem",
        [((shape,), {"index": index}) for shape, index in INDICES],
        lambda x, index: x[index],
        lambda torch, x, index: x[torch_index(torch, index)],
    ),
    OpCase(
        "maximum",
        [(s, {}) for s in BINARY_SHAPES],
        cr.maximum,
        lambda torch, x, y: torch.maximum(x, y),
        grid=True,
    ),
    OpCase(
        "minimum",
        [(s, {}) for s in BINARY_SHAPES],
        cr.minimum,
        lambda torch, x, y: torch.minimum(x, y),
        grid=True,
    ),
    OpCase(
        "where",
        [
            (((1, 4), ()), {"condition": hnp.arrays(np.bool_, (3, 1))}),
            (((2, 3), (2, 3)), {"condition": hnp.arrays(np.bool_, (2, 3))}),
            (((3, 4), (3, 1)), {"condition": hnp.arrays(np.bool_, (4,))}),
            (((), ()), {"condition": hnp.arrays(np.bool_, ())}),
        ],
        lambda x, y, condition: cr.where(condition, x, y),
        lambda torch, x, y, condition: torch.where(torch.from_numpy(condition), x, y),
    ),
    OpCase(
        "clip",
        [
            (s, {"low": low, "high": high})
            for s in UNARY_SHAPES[1:]
            for low, high in ((-0.5, 0.75), (None, 0.75), (-0.5, None))
        ],
        lambda x, low, high: cr.clip(x, low, high),
        lambda torch, x, low, high: torch.clamp(x, low, high),
        grid=True,
    ),
    OpCase(
        "concatenate",
        [
            (((2, 3), (4, 3)), {"axis": 0}),
            (((2, 3), (2, 1)), {"axis": -1}),
            (((3,), (2,), (1,)), {"axis": 0}),
            (((2, 1, 2), (2, 3, 2)), {"axis": 1}),
        ],
        lambda *xs, axis: cr.concatenate(xs, axis=axis),
        lambda torch, *xs, axis: torch.cat(xs, dim=axis),
    ),
    OpCase(
        "stack",
        [
            (((2, 3), (2, 3)), {"axis": 0}),
            (((2, 3), (2, 3), (2, 3)), {"axis": -1}),
            (((2, 3), (2, 3)), {"axis": 1}),
            (((), ()), {"axis": 0}),
        ],
        lambda *xs, axis: cr.stack(xs, axis=axis),
        lambda torch, *xs, axis: torch.stack(xs, dim=axis),
    ),
    OpCase(
        "logsumexp",
        [v for v in REDUCTIONS if v[0] != ((),)],
        lambda x, axis, keepdims: cr.logsumexp(x, axis=axis, keepdims=keepdims),
        lambda torch, x, axis, keepdims: torch.logsumexp(
            x, dim=_all_axes(x, axis), keepdim=keepdims
        ),
        ranges=((-5.0, 5.0),),
    ),
    OpCase(
        "softmax",
        [
            (((2, 3),), {"axis": -1}),
            (((2, 3),), {"axis": 0}),
            (((4,),), {"axis": 0}),
            (((2, 3, 4),), {"axis": 1}),
        ],
        lambda x, axis: cr.softmax(x, axis=axis),
        lambda torch, x, axis: torch.softmax(x, dim=axis),
        ranges=((-5.0, 5.0),),
    ),
    OpCase(
        "log_softmax",
        [
            (((2, 3),), {"axis": -1}),
            (((2, 3),), {"axis": 0}),
            (((4,),), {"axis": 0}),
            (((2, 3, 4),), {"axis": 1}),
        ],
        lambda x, axis: cr.log_softmax(x, axis=axis),
        lambda torch, x, axis: torch.log_softmax(x, dim=axis),
        ranges=((-5.0, 5.0),),
    ),
    OpCase(
        "astype",
        [(s, {"dtype": dtype}) for s in (((2, 3),), ((),)) for dtype in ("float32", "float64")],
        lambda x, dtype: x.astype(dtype),
        lambda torch, x, dtype: x.to(getattr(torch, dtype)),
        tags=frozenset({"casts"}),
    ),
    OpCase(
        "mse_loss",
        [(((3, 2), (3, 2)), {}), (((4,), (4,)), {}), (((), ()), {})],
        functional.mse_loss,
        lambda torch, x, y: torch.nn.functional.mse_loss(x, y),
    ),
    OpCase(
        "linear",
        [
            (((5, 3), (3, 4), (4,)), {}),
            (((2, 5, 3), (3, 2), (2,)), {}),
            (((6, 1), (1, 3), (3,)), {}),
            (((4, 3), (3, 1), (1,)), {}),
        ],
        functional.linear,
        lambda torch, x, w, b: torch.nn.functional.linear(x, w.T, b),
    ),
    OpCase(
        "cross_entropy",
        [
            (((4, 3),), {"targets": hnp.arrays(np.int64, (4,), elements=st.integers(0, 2))}),
            (((1, 5),), {"targets": hnp.arrays(np.int64, (1,), elements=st.integers(0, 4))}),
        ],
        lambda x, targets: functional.cross_entropy(x, targets),
        lambda torch, x, targets: torch.nn.functional.cross_entropy(x, torch.from_numpy(targets)),
        ranges=((-5.0, 5.0),),
    ),
    # --- convolutions (issue 14)
    OpCase(
        "conv1d",
        [
            (((2, 2, 5), (3, 2, 3), (3,)), {}),
            (((1, 4, 6), (4, 2, 2), (4,)), {"stride": 2, "padding": 1, "groups": 2}),
            (((1, 2, 7), (2, 1, 3)), {"padding": "same", "dilation": 2, "groups": 2}),
        ],
        lambda x, w, *bias, **params: functional.conv1d(x, w, *bias, **params),
        lambda torch, x, w, *bias, **params: torch.nn.functional.conv1d(x, w, *bias, **params),
    ),
    OpCase(
        "conv2d",
        [
            (((1, 2, 4, 4), (3, 2, 3, 2), (3,)), {}),
            (
                ((1, 4, 4, 3), (4, 2, 2, 2), (4,)),
                {"stride": (2, 1), "padding": (1, 0), "groups": 2},
            ),
            (((1, 2, 5, 3), (2, 1, 2, 2)), {"padding": "same", "dilation": 2, "groups": 2}),
            (((1, 2, 5, 3), (2, 2, 3, 2), (2,)), {"stride": 2, "padding": 1, "dilation": (1, 2)}),
        ],
        lambda x, w, *bias, **params: functional.conv2d(x, w, *bias, **params),
        lambda torch, x, w, *bias, **params: torch.nn.functional.conv2d(x, w, *bias, **params),
    ),
    OpCase(
        "max_pool2d",
        [
            (((1, 2, 4, 4),), {"kernel_size": 2}),
            (((1, 1, 6, 5),), {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}),
            (((1, 1, 7, 4),), {"kernel_size": (2, 3), "stride": (2, 1), "dilation": (2, 1)}),
        ],
        lambda x, **params: functional.max_pool2d(x, **params),
        lambda torch, x, **params: torch.nn.functional.max_pool2d(x, **params),
        grid=True,
    ),
    OpCase(
        "avg_pool2d",
        [
            (((1, 2, 4, 4),), {"kernel_size": 2}),
            (
                ((1, 1, 5, 6),),
                {
                    "kernel_size": 3,
                    "stride": 2,
                    "padding": 1,
                    "ceil_mode": True,
                    "count_include_pad": False,
                },
            ),
            (((1, 2, 5, 3),), {"kernel_size": (3, 2), "stride": (1, 2), "padding": (1, 0)}),
        ],
        lambda x, **params: functional.avg_pool2d(x, **params),
        lambda torch, x, **params: torch.nn.functional.avg_pool2d(x, **params),
    ),
    OpCase(
        "adaptive_avg_pool2d",
        [
            (((1, 1, 5, 6),), {"output_size": (2, 3)}),
            (((2, 1, 4, 4),), {"output_size": 2}),
            (((1, 1, 6, 5),), {"output_size": (None, 3)}),
        ],
        lambda x, output_size: functional.adaptive_avg_pool2d(x, output_size),
        lambda torch, x, output_size: torch.nn.functional.adaptive_avg_pool2d(x, output_size),
    ),
)


@st.composite
def op_inputs(draw: st.DrawFn, case: OpCase) -> tuple[list[np.ndarray], dict[str, Any]]:
    """float64 input arrays and params for `case`, drawn by hypothesis."""
    shapes, params = draw(st.sampled_from(case.variants))
    drawn = {
        key: draw(value) if isinstance(value, st.SearchStrategy) else value
        for key, value in params.items()
    }
    arrays = []
    for position, shape in enumerate(shapes):
        if case.grid:
            offset = 0.01 + 0.02 * position
            elements = st.integers(-40, 40).map(lambda k, offset=offset: k / 16 + offset)
            array = draw(hnp.arrays(np.float64, shape, elements=elements, unique=True))
        else:
            low, high = case.ranges[min(position, len(case.ranges) - 1)]
            # No magnitudes below 1e-6 (but 0): in float32 they fall into subnormals, where
            # two correct formulas (ours, PyTorch's) can round to 0 and to 1e-45.
            elements = st.floats(low, high).filter(lambda v: v == 0 or abs(v) >= 1e-6)
            array = draw(hnp.arrays(np.float64, shape, elements=elements))
        arrays.append(array)
    return arrays, drawn


def numerical_grad(
    f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = 1e-6
) -> np.ndarray:
    """df/dx by float64 central differences, entry by entry."""
    point = np.array(x, dtype=np.float64)
    grad = np.empty_like(point)
    for index in np.ndindex(point.shape):
        original = point[index]
        point[index] = original + eps
        f_plus = f(point)
        point[index] = original - eps
        f_minus = f(point)
        point[index] = original
        grad[index] = (f_plus - f_minus) / (2 * eps)
    return grad


def relative_error(actual: Any, expected: Any, *, floor: float = 0.0) -> float:
    """max |actual - expected| / max(max |expected|, floor), after checking shape equality
    (0 if empty). `floor` is the inputs' magnitude where the result may cancel to near 0
    (a sum of large terms), whose rounding error is relative to the terms, not to the sum."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"shape {actual.shape} != expected {expected.shape}"
    if expected.size == 0:
        return 0.0
    difference = np.max(np.abs(actual.astype(np.float64) - expected.astype(np.float64)))
    scale = np.max(np.abs(expected.astype(np.float64)))
    if difference == 0:
        return 0.0
    return float(difference / max(scale, floor, np.finfo(np.float64).tiny))


LARGEST_TORCH_ERROR: dict[str, tuple[float, str]] = {}


def record_torch_error(dtype: str, error: float, op: str) -> None:
    """Keep the largest relative error against PyTorch per dtype (shown after the run)."""
    if error > LARGEST_TORCH_ERROR.get(dtype, (-1.0, ""))[0]:
        LARGEST_TORCH_ERROR[dtype] = (error, op)


_ZERO_DIM_AXES: tuple[Any, ...] = (None, 0, -1, (0,), (-1,))
_ZERO_DIM_REDUCTIONS: tuple[Variant, ...] = (
    *[
        (((),), {"axis": axis, "keepdims": keepdims})
        for axis in _ZERO_DIM_AXES
        for keepdims in (False, True)
    ],
    (((3,),), {"axis": -1, "keepdims": False}),
    (((2, 3),), {"axis": None, "keepdims": False}),
)
_ZERO_DIM_BINARY: tuple[Variant, ...] = ((((), ()), {}),)
_ZERO_DIM_UNARY: tuple[Variant, ...] = ((((),), {}),)

# Every op of CASES on 0-d inputs or with a 0-d result (or both): NumPy hands back a scalar
# (np.float64) there instead of an array, which the engine must never pass on.
ZERO_DIM_VARIANTS: dict[str, tuple[Variant, ...]] = {
    **{
        name: _ZERO_DIM_BINARY
        for name in ("add", "sub", "mul", "div", "pow_tensor_exponent", "maximum", "minimum")
    },
    **{
        name: _ZERO_DIM_UNARY
        for name in (
            "radd_scalar",
            "rsub_scalar",
            "rmul_scalar",
            "rdiv_scalar",
            "rpow_scalar",
            "neg",
            "exp",
            "log",
            "sqrt",
            "abs",
            "tanh",
            "sigmoid",
            "relu",
            "T",
            "sin",
        )
    },
    "pow_scalar": tuple((((),), {"p": p}) for p in (2, 3, 0.5, -1.5, 1, 0)),
    "matmul": ((((4,), (4,)), {}),),
    "matmul_function": ((((4,), (4,)), {}),),
    **{name: _ZERO_DIM_REDUCTIONS for name in ("sum", "mean", "max", "min", "logsumexp")},
    "var": (
        *[(shapes, {**params, "ddof": 0}) for shapes, params in _ZERO_DIM_REDUCTIONS],
        (((3,),), {"axis": 0, "keepdims": False, "ddof": 1}),
    ),
    "reshape": ((((),), {"shape": ()}), (((1, 1),), {"shape": ()}), (((),), {"shape": (-1,)})),
    "transpose": ((((),), {"axes": None}), (((),), {"axes": ()})),
    "getitem": (
        (((3,),), {"index": 1}),
        (((3,),), {"index": -1}),
        (((3, 4),), {"index": (1, 2)}),
        (((2, 3, 4),), {"index": (0, 2, 1)}),
        (((),), {"index": ()}),
        (((),), {"index": Ellipsis}),
        (((),), {"index": None}),
    ),
    "where": ((((), ()), {"condition": hnp.arrays(np.bool_, ())}),),
    "clip": tuple(
        (((),), {"low": low, "high": high})
        for low, high in ((-0.5, 0.75), (None, 0.75), (-0.5, None))
    ),
    "stack": ((((), ()), {"axis": 0}), (((), (), ()), {"axis": -1})),
    **{name: ((((),), {"axis": -1}), (((),), {"axis": 0})) for name in ("softmax", "log_softmax")},
    "astype": tuple((((),), {"dtype": dtype}) for dtype in ("float32", "float64")),
    "mse_loss": ((((), ()), {}), (((3,), (3,)), {})),
    "cross_entropy": (
        (((1, 5),), {"targets": hnp.arrays(np.int64, (1,), elements=st.integers(0, 4))}),
        (((4, 3),), {"targets": hnp.arrays(np.int64, (4,), elements=st.integers(0, 2))}),
    ),
}

# Ops that have no 0-d form in NumPy or PyTorch either: they refuse 0-d inputs by name.
NO_ZERO_DIM: dict[str, Callable[[Any], Any]] = {
    "concatenate": lambda x: cr.concatenate([x, x]),
    "linear": lambda x: functional.linear(x, np.ones((1, 2)), np.ones(2)),
    # --- convolutions (issue 14)
    "conv1d": lambda x: functional.conv1d(x, np.ones((1, 1, 1))),
    "conv2d": lambda x: functional.conv2d(x, np.ones((1, 1, 1, 1))),
    "max_pool2d": lambda x: functional.max_pool2d(x, 1),
    "avg_pool2d": lambda x: functional.avg_pool2d(x, 1),
    "adaptive_avg_pool2d": lambda x: functional.adaptive_avg_pool2d(x, 1),
}


def zero_dim_cases() -> list[OpCase]:
    """The cases of CASES that have a 0-d form, restricted to their 0-d variants."""
    return [
        replace(case, variants=ZERO_DIM_VARIANTS[case.name])
        for case in CASES
        if case.name in ZERO_DIM_VARIANTS
    ]
