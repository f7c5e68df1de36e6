"""The op table the engine tests share: every op written in chainrule and in PyTorch, the
input shapes it is tried on (broadcasting cases included), and how its values are drawn.

Also a tiny float64 central-difference helper and the relative error used everywhere.
"""

from __future__ import annotations

import math
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


# --- linear algebra (issue 14)
# np.dot's rank pairs: 0-d with anything, 1-D and 2-D (matmul), and N-D (the sum over a's last
# axis and b's second-to-last), with size-1 axes.
DOT_SHAPES: tuple[Shapes, ...] = (
    ((), (3,)),
    ((2, 3), ()),
    ((4,), (4,)),
    ((2, 4), (4,)),
    ((4,), (4, 3)),
    ((1, 4), (4, 1)),
    ((2, 3, 4), (4,)),
    ((4,), (2, 4, 3)),
    ((2, 1, 4), (3, 4, 2)),
    ((3, 4), (2, 4, 1)),
)
EINSUM_CASES: tuple[tuple[str, Shapes], ...] = (
    ("ij,jk->ik", ((2, 3), (3, 4))),
    ("bij,bjk->bik", ((2, 1, 3), (2, 3, 2))),
    ("ii->i", ((3, 3),)),
    ("ii", ((3, 3),)),
    ("i,j->ij", ((3,), (1,))),
    ("ij,jk", ((2, 3), (3, 1))),
    ("...ij,...jk->...ik", ((2, 1, 2, 3), (3, 3, 2))),
    ("ij,jk,kl->il", ((2, 3), (3, 4), (4, 2))),
    ("iij->j", ((2, 2, 3),)),
    ("ij->", ((2, 3),)),
    ("i,i->i", ((1,), (3,))),
)
DIAGONALS: tuple[tuple[tuple[int, ...], dict[str, int]], ...] = (
    ((3, 3), {"offset": 0, "axis1": 0, "axis2": 1}),
    ((3, 4), {"offset": 1, "axis1": 0, "axis2": 1}),
    ((4, 3), {"offset": -2, "axis1": 0, "axis2": 1}),
    ((2, 3, 4), {"offset": 1, "axis1": 2, "axis2": 0}),
    ((2, 3, 3), {"offset": 0, "axis1": -1, "axis2": 1}),
    ((1, 3), {"offset": 0, "axis1": 0, "axis2": 1}),
)
TRIANGLES: tuple[tuple[Shapes, int], ...] = (
    (((3, 4),), 0),
    (((4, 3),), -1),
    (((2, 3, 3),), 1),
    (((1, 1),), 0),
    (((3, 2),), 2),
)


def torch_dot(torch: ModuleType, x: Any, y: Any) -> Any:
    """np.dot written with torch.tensordot: the last axis of x with y's second-to-last."""
    if x.ndim == 0 or y.ndim == 0:
        return x * y
    return torch.tensordot(x, y, dims=([x.ndim - 1], [max(y.ndim - 2, 0)]))


def torch_axes(axes: Any) -> Any:
    """np.tensordot's axes as torch.tensordot's dims (lists, not tuples)."""
    if isinstance(axes, int):
        return axes
    return [list(axes[0]), list(axes[1])]


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


# --- reductions (issue 14)
_VECTOR_ORDS: tuple[Any, ...] = (None, 1, 2, np.inf, -np.inf, 3)
_MATRIX_ORDS: tuple[Any, ...] = ("fro", 1, -1, np.inf, -np.inf)
SCANS: tuple[Variant, ...] = (
    (((5,),), {"axis": 0}),
    (((2, 3),), {"axis": 1}),
    (((2, 3),), {"axis": 0}),
    (((2, 3, 2),), {"axis": -2}),
    (((2, 3),), {"axis": None}),
)


def _torch_prod(x: Any, axes: int | tuple[int, ...], keepdims: bool) -> Any:
    """torch.prod over several axes (it takes one at a time), last axis first."""
    axes = (axes,) if isinstance(axes, int) else axes
    for axis in sorted((a % max(x.ndim, 1) for a in axes), reverse=True):
        x = x.prod(dim=axis, keepdim=keepdims)
    return x


def _scan(
    name: str,
    torch_name: str,
    ranges: tuple[tuple[float, float], ...] = ((-2.0, 2.0),),
    grid: bool = False,
) -> OpCase:
    """A scan along one axis; axis=None scans the flattened values, as NumPy."""
    return OpCase(
        name,
        SCANS,
        lambda x, axis: getattr(cr, name)(x, axis=axis),
        lambda torch, x, axis: getattr(torch, torch_name)(
            x.reshape(-1) if axis is None else x, dim=0 if axis is None else axis
        ),
        ranges=ranges,
        grid=grid,
    )


# --- layers and losses (issue 14)
_WEIGHTS3 = np.array([0.5, 2.0, 1.25])
_WEIGHTS4 = np.array([1.5, 0.25, 1.0, 3.0])


def _classes(shape: tuple[int, ...], count: int) -> st.SearchStrategy[np.ndarray]:
    """Class indices in [0, count) of `shape`."""
    return hnp.arrays(np.int64, shape, elements=st.integers(0, count - 1))


def _torch_reduced(losses: Any, reduction: str) -> Any:
    """`losses` reduced as a torch loss reduces them: "none", "sum" or "mean"."""
    return losses if reduction == "none" else getattr(losses, reduction)()


def _torch_weight(torch: ModuleType, weight: np.ndarray | None, like: Any) -> Any:
    """A weight array as a torch tensor of `like`'s dtype (None stays None)."""
    return None if weight is None else torch.from_numpy(np.ascontiguousarray(weight)).to(like.dtype)


def _var_variants() -> list[Variant]:
    shapes = [v for v in REDUCTIONS if v[0] != ((),)]
    return [(s, {**p, "ddof": ddof}) for s, p in shapes for ddof in (0, 1)]


# --- shape (issue 14): how the shape and indexing cases read in PyTorch
def _indices(shape: tuple[int, ...], low: int, high: int) -> st.SearchStrategy[np.ndarray]:
    """Integer index arrays with entries in [low, high]: repeats come up often."""
    return hnp.arrays(np.int64, shape, elements=st.integers(low, high))


def _torch_pad(
    torch: ModuleType, x: Any, pad_width: Any, mode: str, constant_values: float = 0.0
) -> Any:
    """np.pad's call in torch: F.pad lists (before, after) from the last axis back, and pads
    only trailing axes in reflect/replicate mode (the first one is left as a batch axis)."""
    pairs = np.broadcast_to(np.asarray(pad_width), (x.ndim, 2))
    padded = range(x.ndim) if mode == "constant" else range(1, x.ndim)
    flat = [int(width) for axis in reversed(padded) for width in pairs[axis]]
    torch_mode = {"constant": "constant", "reflect": "reflect", "edge": "replicate"}[mode]
    value = constant_values if mode == "constant" else None
    return torch.nn.functional.pad(x, flat, mode=torch_mode, value=value)


def _torch_take(torch: ModuleType, x: Any, indices: np.ndarray, axis: int | None) -> Any:
    index = torch.from_numpy(indices)
    if axis is None:
        return x.reshape(-1)[index]
    return x[(slice(None),) * (axis % x.ndim) + (index,)]


def _torch_expand_dims(x: Any, axis: int | tuple[int, ...]) -> Any:
    axes = (axis,) if isinstance(axis, int) else axis
    ndim = x.ndim + len(axes)
    for position in sorted(a % ndim for a in axes):
        x = x.unsqueeze(position)
    return x


def _weighted_parts(parts: Sequence[Any], axis: int, join: Callable[..., Any]) -> Any:
    """The split parts joined again, part i times i + 1, so each part's gradient differs."""
    return join([part * (i + 1) for i, part in enumerate(parts)], axis)


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
    # --- linear algebra (issue 14)
    OpCase(
        "dot",
        [(s, {}) for s in DOT_SHAPES],
        cr.dot,
        lambda torch, x, y: torch_dot(torch, x, y),
    ),
    OpCase(
        "inner",
        [
            (((3,), (3,)), {}),
            (((2, 3), (3,)), {}),
            (((2, 1, 3), (4, 3)), {}),
            (((1,), (2, 1)), {}),
            (((), (2, 3)), {}),
        ],
        cr.inner,
        lambda torch, x, y: torch.inner(x, y),
    ),
    OpCase(
        "outer",
        [(((3,), (4,)), {}), (((2, 3), (1,)), {}), (((1,), (2, 2)), {}), (((), (3,)), {})],
        cr.outer,
        lambda torch, x, y: torch.outer(x.reshape(-1), y.reshape(-1)),
    ),
    OpCase(
        "tensordot",
        [
            (((2, 3, 4), (3, 4, 2)), {"axes": 2}),
            (((2, 3), (3, 1)), {"axes": 1}),
            (((3,), (2,)), {"axes": 0}),
            (((2, 3, 4), (4, 2, 1)), {"axes": ((0, 2), (1, 0))}),
            (((1, 3), (3,)), {"axes": ((-1,), (0,))}),
        ],
        lambda x, y, axes: cr.tensordot(x, y, axes),
        lambda torch, x, y, axes: torch.tensordot(x, y, dims=torch_axes(axes)),
    ),
    OpCase(
        "einsum",
        [(shapes, {"subscripts": subscripts}) for subscripts, shapes in EINSUM_CASES],
        lambda *xs, subscripts: cr.einsum(subscripts, *xs),
        lambda torch, *xs, subscripts: torch.einsum(subscripts, *xs),
    ),
    OpCase(
        "trace",
        [((shape,), params) for shape, params in DIAGONALS],
        lambda x, offset, axis1, axis2: cr.trace(x, offset, axis1, axis2),
        lambda torch, x, offset, axis1, axis2: torch.diagonal(x, offset, axis1, axis2).sum(-1),
    ),
    OpCase(
        "diagonal",
        [((shape,), params) for shape, params in DIAGONALS],
        lambda x, offset, axis1, axis2: x.diagonal(offset, axis1, axis2),
        lambda torch, x, offset, axis1, axis2: torch.diagonal(x, offset, axis1, axis2),
    ),
    OpCase(
        "diag",
        [
            (((4,),), {"k": 0}),
            (((3,),), {"k": 2}),
            (((2,),), {"k": -1}),
            (((1,),), {"k": 0}),
            (((3, 4),), {"k": 1}),
            (((4, 3),), {"k": -1}),
            (((1, 1),), {"k": 0}),
        ],
        lambda x, k: cr.diag(x, k),
        lambda torch, x, k: torch.diag(x, k),
    ),
    OpCase(
        "tril",
        [(s, {"k": k}) for s, k in TRIANGLES],
        lambda x, k: cr.tril(x, k),
        lambda torch, x, k: torch.tril(x, k),
    ),
    OpCase(
        "triu",
        [(s, {"k": k}) for s, k in TRIANGLES],
        lambda x, k: x.triu(k),
        lambda torch, x, k: torch.triu(x, k),
    ),
    OpCase(
        "kron",
        [
            (((2, 3), (2, 2)), {}),
            (((3,), (2,)), {}),
            (((2,), (2, 1, 3)), {}),
            (((1, 2), (3,)), {}),
            (((), (3,)), {}),
        ],
        cr.kron,
        lambda torch, x, y: torch.kron(x, y),
    ),
    # --- element-wise math (issue 14). Ranges inside each op's domain; the rounding family
    # and sign on the grid (no value within 0.01 of an integer, a half or 0); fmod and
    # remainder with x / y in [2.09, 2.95] (away from the integers where they jump), x < 0
    # for fmod and y < 0 for remainder, where their sign conventions differ.
    _unary("cos", "cos", (-4.0, 4.0)),
    _unary("tan", "tan", (-1.3, 1.3)),
    _unary("arcsin", "arcsin", (-0.95, 0.95)),
    _unary("arccos", "arccos", (-0.95, 0.95)),
    _unary("arctan", "arctan", (-3.0, 3.0)),
    _unary("sinh", "sinh", (-3.0, 3.0)),
    _unary("cosh", "cosh", (-3.0, 3.0)),
    _unary("arcsinh", "arcsinh", (-3.0, 3.0)),
    _unary("arccosh", "arccosh", (1.1, 3.0)),
    _unary("arctanh", "arctanh", (-0.9, 0.9)),
    _unary("exp2", "exp2", (-3.0, 3.0)),
    _unary("expm1", "expm1"),
    _unary("log2", "log2", (0.2, 3.0)),
    _unary("log10", "log10", (0.2, 3.0)),
    _unary("log1p", "log1p", (-0.8, 3.0)),
    _unary("square", "square"),
    _unary("reciprocal", "reciprocal", (0.5, 2.0)),
    _unary("rsqrt", "rsqrt", (0.2, 3.0)),
    _unary("sign", "sign", grid=True),
    _unary("floor", "floor", grid=True),
    _unary("ceil", "ceil", grid=True),
    _unary("round", "round", grid=True),
    _unary("trunc", "trunc", grid=True),
    OpCase(
        "arctan2",
        [(s, {}) for s in BINARY_SHAPES],
        cr.arctan2,
        lambda torch, y, x: torch.arctan2(y, x),
        ranges=((-2.0, 2.0), (0.5, 2.0)),
    ),
    OpCase(
        "logaddexp",
        [(s, {}) for s in BINARY_SHAPES],
        cr.logaddexp,
        lambda torch, x, y: torch.logaddexp(x, y),
        ranges=((-3.0, 3.0),),
    ),
    OpCase(
        "hypot",
        [(s, {}) for s in BINARY_SHAPES],
        cr.hypot,
        lambda torch, x, y: torch.hypot(x, y),
        ranges=((0.5, 2.0), (-2.0, 2.0)),
    ),
    OpCase(
        "fmod",
        [(s, {}) for s in BINARY_SHAPES],
        cr.fmod,
        lambda torch, x, y: torch.fmod(x, y),
        ranges=((-2.8, -2.2), (0.95, 1.05)),
    ),
    _binary("remainder", lambda x, y: x % y, ((2.2, 2.8), (-1.05, -0.95))),
    OpCase(
        "lerp",
        [
            *[(s, {}) for s in (((3,), (3,), (3,)), ((2, 3), (3,), ()), ((3, 1), (1, 4), (4,)))],
            *[(s, {}) for s in (((), (), ()), ((2, 1, 3), (4, 1), (1,)))],
            (((2, 3), (2, 3)), {"weight": 0.25}),
            (((3,), ()), {"weight": 0.75}),
        ],
        lambda *tensors, **weight: cr.lerp(*tensors, **weight),
        lambda torch, *tensors, **weight: torch.lerp(*tensors, **weight),
        ranges=((-2.0, 2.0), (-2.0, 2.0), (-0.5, 1.5)),
    ),
    # --- reductions (issue 14)
    OpCase(
        "prod",
        REDUCTIONS,
        lambda x, axis, keepdims: cr.prod(x, axis=axis, keepdims=keepdims),
        lambda torch, x, axis, keepdims: _torch_prod(x, _all_axes(x, axis), keepdims),
        # On the grid, |x| >= 0.01: where an entry nears 0, the second derivative
        # prod / (x_i x_j) cancels in both libraries' rounding. Zeros: test_reductions_more.
        grid=True,
    ),
    OpCase(
        "std",
        _var_variants(),
        lambda x, axis, keepdims, ddof: cr.std(x, axis=axis, keepdims=keepdims, ddof=ddof),
        lambda torch, x, axis, keepdims, ddof: torch.std(
            x, dim=_all_axes(x, axis), keepdim=keepdims, correction=ddof
        ),
        grid=True,
    ),
    OpCase(
        "norm",
        [
            (((4,),), {"ord": None, "axis": None, "keepdims": False}),
            (((2, 3, 4),), {"ord": None, "axis": None, "keepdims": False}),
            *[(((4,),), {"ord": o, "axis": None, "keepdims": False}) for o in _VECTOR_ORDS],
            *[(((2, 3),), {"ord": o, "axis": 1, "keepdims": True}) for o in _VECTOR_ORDS],
            *[(((2, 3),), {"ord": o, "axis": None, "keepdims": False}) for o in _MATRIX_ORDS],
            (((2, 3, 4),), {"ord": "fro", "axis": (0, 2), "keepdims": True}),
            (((2, 3, 4),), {"ord": np.inf, "axis": (2, 1), "keepdims": False}),
        ],
        lambda x, ord, axis, keepdims: cr.norm(x, ord=ord, axis=axis, keepdims=keepdims),
        lambda torch, x, ord, axis, keepdims: torch.linalg.norm(
            x, ord=ord, dim=axis, keepdim=keepdims
        ),
        grid=True,
    ),
    _scan("cumsum", "cumsum"),
    _scan("cumprod", "cumprod", grid=True),  # |x| >= 0.01, as prod
    _scan("logcumsumexp", "logcumsumexp", ranges=((-5.0, 5.0),)),
    OpCase(
        "sort",
        [
            (((5,),), {"axis": -1, "descending": False}),
            (((2, 4),), {"axis": -1, "descending": True}),
            (((3, 2),), {"axis": 0, "descending": False}),
            (((2, 3, 2),), {"axis": 1, "descending": True}),
            (((2, 3),), {"axis": None, "descending": False}),
        ],
        lambda x, axis, descending: cr.sort(x, axis=axis, descending=descending),
        lambda torch, x, axis, descending: (
            torch.sort(
                x.reshape(-1) if axis is None else x,
                dim=-1 if axis is None else axis,
                descending=descending,
                stable=True,
            ).values
        ),
        grid=True,
    ),
    OpCase(
        "topk",
        [
            (((5,),), {"k": 2, "axis": -1, "largest": True}),
            (((2, 4),), {"k": 3, "axis": -1, "largest": False}),
            (((4, 2),), {"k": 1, "axis": 0, "largest": True}),
            (((2, 3, 2),), {"k": 3, "axis": 1, "largest": True}),
            (((3,),), {"k": 0, "axis": 0, "largest": True}),
        ],
        lambda x, k, axis, largest: cr.topk(x, k, axis=axis, largest=largest)[0],
        lambda torch, x, k, axis, largest: torch.topk(x, k, dim=axis, largest=largest).values,
        grid=True,
    ),
    # --- activations (issue 14)
    _unary("erf", "erf", (-3.0, 3.0)),
    OpCase(
        "softplus",
        [
            (s, {"beta": beta, "threshold": threshold})
            for s in UNARY_SHAPES
            for beta, threshold in ((1.0, 20.0), (2.0, 1.0), (-0.5, 0.25))
        ],
        lambda x, beta, threshold: cr.softplus(x, beta, threshold),
        lambda torch, x, beta, threshold: torch.nn.functional.softplus(x, beta, threshold),
        grid=True,
    ),
    OpCase(
        "logsigmoid",
        [(s, {}) for s in UNARY_SHAPES],
        cr.logsigmoid,
        lambda torch, x: torch.nn.functional.logsigmoid(x),
        ranges=((-8.0, 8.0),),
    ),
    OpCase(
        "silu",
        [(s, {}) for s in UNARY_SHAPES],
        cr.silu,
        lambda torch, x: torch.nn.functional.silu(x),
        ranges=((-6.0, 6.0),),
    ),
    OpCase(
        "gelu",
        [(s, {"approximate": mode}) for s in UNARY_SHAPES for mode in ("none", "tanh")],
        lambda x, approximate: cr.gelu(x, approximate),
        lambda torch, x, approximate: torch.nn.functional.gelu(x, approximate=approximate),
        ranges=((-4.0, 4.0),),
    ),
    OpCase(
        "elu",
        [(s, {"alpha": alpha}) for s in UNARY_SHAPES for alpha in (1.0, 0.5)],
        lambda x, alpha: cr.elu(x, alpha),
        lambda torch, x, alpha: torch.nn.functional.elu(x, alpha),
        grid=True,
    ),
    OpCase(
        "celu",
        [(s, {"alpha": alpha}) for s in UNARY_SHAPES for alpha in (1.0, 2.0)],
        lambda x, alpha: cr.celu(x, alpha),
        lambda torch, x, alpha: torch.nn.functional.celu(x, alpha),
        grid=True,
    ),
    OpCase(
        "selu",
        [(s, {}) for s in UNARY_SHAPES],
        cr.selu,
        lambda torch, x: torch.nn.functional.selu(x),
        grid=True,
    ),
    OpCase(
        "leaky_relu",
        [(s, {"negative_slope": slope}) for s in UNARY_SHAPES for slope in (0.01, 0.2)],
        lambda x, negative_slope: cr.leaky_relu(x, negative_slope),
        lambda torch, x, negative_slope: torch.nn.functional.leaky_relu(x, negative_slope),
        grid=True,
    ),
    OpCase(
        "hardtanh",
        [
            (s, {"min_val": low, "max_val": high})
            for s in UNARY_SHAPES
            for low, high in ((-1, 1), (-0.5, 2))
        ],
        lambda x, min_val, max_val: cr.hardtanh(x, min_val, max_val),
        lambda torch, x, min_val, max_val: torch.nn.functional.hardtanh(x, min_val, max_val),
        grid=True,
    ),
    # The grid spans [-2.5, 2.5]: scaled by 2.5 it reaches past the kinks at -3 and 3 (never
    # onto them). PyTorch's hardsigmoid has no second derivative and multiplies its gradient by
    # a float32 1/6 even in float64, so its reference is relu6(x + 3) / 6, the same function.
    OpCase(
        "hardsigmoid",
        [(s, {}) for s in UNARY_SHAPES],
        lambda x: cr.hardsigmoid(x * 2.5),
        lambda torch, x: torch.nn.functional.relu6(x * 2.5 + 3) / 6,
        grid=True,
    ),
    OpCase(
        "hardswish",
        [(s, {}) for s in UNARY_SHAPES],
        lambda x: cr.hardswish(x * 2.5),
        lambda torch, x: torch.nn.functional.hardswish(x * 2.5),
        grid=True,
    ),
    OpCase(
        "mish",
        [(s, {}) for s in UNARY_SHAPES],
        cr.mish,
        lambda torch, x: torch.nn.functional.mish(x),
        ranges=((-6.0, 6.0),),
    ),
    OpCase(
        "softsign",
        [(s, {}) for s in UNARY_SHAPES],
        cr.softsign,
        lambda torch, x: torch.nn.functional.softsign(x),
        grid=True,
    ),
    OpCase(
        "softmin",
        [
            (((2, 3),), {"axis": -1}),
            (((2, 3),), {"axis": 0}),
            (((2, 3, 4),), {"axis": 1}),
            (((),), {"axis": -1}),
        ],
        lambda x, axis: cr.softmin(x, axis=axis),
        lambda torch, x, axis: torch.nn.functional.softmin(x, dim=axis),
        ranges=((-5.0, 5.0),),
    ),
    # --- layers and losses (issue 14)
    OpCase(
        "layer_norm",
        [
            (((4, 3), (3,), (3,)), {"normalized_shape": (3,)}),
            (((2, 3, 4), (3, 4), (3, 4)), {"normalized_shape": (3, 4)}),
            (((5,), (5,), (5,)), {"normalized_shape": 5}),
        ],
        lambda x, w, b, normalized_shape: functional.layer_norm(x, normalized_shape, w, b),
        lambda torch, x, w, b, normalized_shape: torch.nn.functional.layer_norm(
            x, (normalized_shape,) if isinstance(normalized_shape, int) else normalized_shape, w, b
        ),
    ),
    # Without padding_idx: its row's gradient is 0 by definition, not the derivative that
    # central differences see (tests/nn/test_layernorm_embedding.py checks it against torch).
    OpCase(
        "embedding",
        [
            (((5, 3),), {"indices": hnp.arrays(np.int64, (2, 3), elements=st.integers(0, 4))}),
            (((5, 1),), {"indices": hnp.arrays(np.int64, (4,), elements=st.integers(0, 4))}),
            (((5, 2),), {"indices": hnp.arrays(np.int64, (), elements=st.integers(0, 4))}),
        ],
        lambda w, indices: functional.embedding(indices, w),
        lambda torch, w, indices: torch.nn.functional.embedding(torch.from_numpy(indices), w),
    ),
    # ignore_index only with "sum" and "none": a draw that ignores every target makes "mean"
    # NaN (tests/nn/test_losses_vs_torch.py checks that case against torch).
    OpCase(
        "nll_loss",
        [
            (
                ((4, 3),),
                {
                    "targets": _classes((4,), 3),
                    "weight": None,
                    "ignore_index": -100,
                    "reduction": "mean",
                },
            ),
            (
                ((4, 3),),
                {
                    "targets": _classes((4,), 3),
                    "weight": _WEIGHTS3,
                    "ignore_index": 1,
                    "reduction": "sum",
                },
            ),
            (
                ((2, 3, 2),),
                {
                    "targets": _classes((2, 2), 3),
                    "weight": None,
                    "ignore_index": 0,
                    "reduction": "none",
                },
            ),
            (
                ((2, 3, 2, 2),),
                {
                    "targets": _classes((2, 2, 2), 3),
                    "weight": _WEIGHTS3,
                    "ignore_index": -100,
                    "reduction": "mean",
                },
            ),
        ],
        lambda x, targets, weight, ignore_index, reduction: functional.nll_loss(
            x, targets, weight, ignore_index=ignore_index, reduction=reduction
        ),
        lambda torch, x, targets, weight, ignore_index, reduction: torch.nn.functional.nll_loss(
            x,
            torch.from_numpy(targets),
            _torch_weight(torch, weight, x),
            ignore_index=ignore_index,
            reduction=reduction,
        ),
    ),
    OpCase(
        "cross_entropy_options",
        [
            (
                ((4, 3),),
                {
                    "targets": _classes((4,), 3),
                    "weight": _WEIGHTS3,
                    "ignore_index": -100,
                    "reduction": "mean",
                    "label_smoothing": 0.2,
                },
            ),
            (
                ((2, 3, 2),),
                {
                    "targets": _classes((2, 2), 3),
                    "weight": None,
                    "ignore_index": 2,
                    "reduction": "sum",
                    "label_smoothing": 0.1,
                },
            ),
            (
                ((3, 4),),
                {
                    "targets": _classes((3,), 4),
                    "weight": _WEIGHTS4,
                    "ignore_index": 0,
                    "reduction": "none",
                    "label_smoothing": 0.3,
                },
            ),
            (
                ((2, 3, 2, 2),),
                {
                    "targets": _classes((2, 2, 2), 3),
                    "weight": None,
                    "ignore_index": -100,
                    "reduction": "mean",
                    "label_smoothing": 0.0,
                },
            ),
        ],
        lambda x, targets, weight, ignore_index, reduction, label_smoothing: (
            functional.cross_entropy(
                x,
                targets,
                weight,
                ignore_index=ignore_index,
                reduction=reduction,
                label_smoothing=label_smoothing,
            )
        ),
        lambda torch, x, targets, weight, ignore_index, reduction, label_smoothing: (
            torch.nn.functional.cross_entropy(
                x,
                torch.from_numpy(targets),
                _torch_weight(torch, weight, x),
                ignore_index=ignore_index,
                reduction=reduction,
                label_smoothing=label_smoothing,
            )
        ),
        ranges=((-5.0, 5.0),),
    ),
    OpCase(
        "cross_entropy_probabilities",
        [
            (((4, 3), (4, 3)), {"weight": None, "reduction": "mean", "label_smoothing": 0.0}),
            (
                ((2, 3, 2), (2, 3, 2)),
                {"weight": _WEIGHTS3, "reduction": "sum", "label_smoothing": 0.25},
            ),
            (((3, 4), (3, 4)), {"weight": None, "reduction": "none", "label_smoothing": 0.1}),
        ],
        lambda x, p, weight, reduction, label_smoothing: functional.cross_entropy(
            x, p, weight, reduction=reduction, label_smoothing=label_smoothing
        ),
        lambda torch, x, p, weight, reduction, label_smoothing: torch.nn.functional.cross_entropy(
            x,
            p,
            _torch_weight(torch, weight, x),
            reduction=reduction,
            label_smoothing=label_smoothing,
        ),
        ranges=((-5.0, 5.0), (0.0, 1.0)),
    ),
    OpCase(
        "bce_with_logits",
        [
            (((4, 3), (4, 3)), {"weight": None, "pos_weight": None, "reduction": "mean"}),
            (
                ((5,), (5,)),
                {"weight": np.linspace(0.5, 2.0, 5), "pos_weight": None, "reduction": "sum"},
            ),
            (((2, 3), (2, 3)), {"weight": None, "pos_weight": _WEIGHTS3, "reduction": "none"}),
            (
                ((2, 3), (2, 3)),
                {"weight": _WEIGHTS3, "pos_weight": _WEIGHTS3[::-1], "reduction": "mean"},
            ),
        ],
        lambda x, t, weight, pos_weight, reduction: functional.binary_cross_entropy_with_logits(
            x, t, weight, reduction=reduction, pos_weight=pos_weight
        ),
        lambda torch, x, t, weight, pos_weight, reduction: (
            torch.nn.functional.binary_cross_entropy_with_logits(
                x,
                t,
                _torch_weight(torch, weight, x),
                reduction=reduction,
                pos_weight=_torch_weight(torch, pos_weight, x),
            )
        ),
        ranges=((-8.0, 8.0), (0.0, 1.0)),
    ),
    OpCase(
        "binary_cross_entropy",
        [
            (((4, 3), (4, 3)), {"weight": None, "reduction": "mean"}),
            (((5,), (5,)), {"weight": np.linspace(0.5, 2.0, 5), "reduction": "sum"}),
            (((2, 3), (2, 3)), {"weight": _WEIGHTS3, "reduction": "none"}),
        ],
        lambda p, t, weight, reduction: functional.binary_cross_entropy(
            p, t, weight, reduction=reduction
        ),
        # Its formula in torch, away from p = 0 and 1 (no floor reached): torch's own
        # double backward divides by (p + 1e-12)^2 (1 - p + 1e-12)^2, 1e-11 off the second
        # derivative, past these tables' 1e-10 where a directional sum cancels.
        # tests/nn/test_bce_near_the_ends.py compares torch's binary_cross_entropy itself.
        lambda torch, p, t, weight, reduction: _torch_reduced(
            -(t * torch.log(p) + (1 - t) * torch.log1p(-p))
            * (1 if weight is None else _torch_weight(torch, weight, p)),
            reduction,
        ),
        ranges=((0.05, 0.95), (0.0, 1.0)),
    ),
    # --- shape (issue 14)
    OpCase(
        "squeeze",
        [
            (((1, 3, 1),), {"axis": None}),
            (((2, 1, 3),), {"axis": -2}),
            (((1, 3, 1),), {"axis": (0, 2)}),
        ],
        lambda x, axis: cr.squeeze(x, axis),
        lambda torch, x, axis: x.squeeze() if axis is None else x.squeeze(axis),
    ),
    OpCase(
        "expand_dims",
        [(((2, 3),), {"axis": -1}), (((3,),), {"axis": (0, 2)}), (((2, 3),), {"axis": 1})],
        lambda x, axis: cr.expand_dims(x, axis),
        lambda torch, x, axis: _torch_expand_dims(x, axis),
    ),
    OpCase(
        "flatten",
        [
            (((2, 3, 4),), {"start_dim": 1, "end_dim": -1}),
            (((2, 3, 4),), {"start_dim": 0, "end_dim": -2}),
            (((3,),), {"start_dim": 0, "end_dim": -1}),
        ],
        lambda x, start_dim, end_dim: x.flatten(start_dim, end_dim),
        lambda torch, x, start_dim, end_dim: x.flatten(start_dim, end_dim),
    ),
    OpCase(
        "moveaxis",
        [
            (((2, 3, 4),), {"source": 0, "destination": -1}),
            (((2, 3, 4),), {"source": (0, 1), "destination": (-1, 0)}),
        ],
        lambda x, source, destination: cr.moveaxis(x, source, destination),
        lambda torch, x, source, destination: torch.movedim(x, source, destination),
    ),
    OpCase(
        "flip",
        [
            (((2, 3, 4),), {"axis": (0, -1)}),
            (((3,),), {"axis": None}),
            (((2, 3),), {"axis": -2}),
        ],
        lambda x, axis: cr.flip(x, axis),
        lambda torch, x, axis: torch.flip(
            x,
            tuple(range(x.ndim))
            if axis is None
            else (axis if isinstance(axis, tuple) else (axis,)),
        ),
    ),
    OpCase(
        "roll",
        [
            (((2, 3, 4),), {"shift": 2, "axis": -1}),
            (((2, 3),), {"shift": (1, -4), "axis": (0, 1)}),
            (((2, 3),), {"shift": 4, "axis": None}),
            (((5,),), {"shift": -7, "axis": None}),
        ],
        lambda x, shift, axis: cr.roll(x, shift, axis),
        lambda torch, x, shift, axis: torch.roll(x, shift, axis),
    ),
    OpCase(
        "tile",
        [
            (((2, 3),), {"reps": (2, 1)}),
            (((3,),), {"reps": (2, 1, 3)}),
            (((2, 1, 3),), {"reps": 2}),
        ],
        lambda x, reps: cr.tile(x, reps),
        lambda torch, x, reps: x.tile(reps if isinstance(reps, tuple) else (reps,)),
    ),
    OpCase(
        "repeat",
        [
            (((2, 3),), {"repeats": 2, "axis": -1}),
            (((3, 2),), {"repeats": (1, 0, 3), "axis": 0}),
            (((2, 3),), {"repeats": 3, "axis": None}),
        ],
        lambda x, repeats, axis: cr.repeat(x, repeats, axis),
        lambda torch, x, repeats, axis: torch.repeat_interleave(
            x, repeats if isinstance(repeats, int) else torch.tensor(repeats), axis
        ),
    ),
    OpCase(
        "pad",
        [
            (
                ((2, 3),),
                {"pad_width": ((1, 2), (0, 3)), "mode": "constant", "constant_values": 0.5},
            ),
            (((3,),), {"pad_width": 2, "mode": "constant", "constant_values": 0.0}),
            (((2, 5),), {"pad_width": ((0, 0), (2, 3)), "mode": "reflect", "constant_values": 0}),
            (
                ((2, 3, 4),),
                {"pad_width": ((0, 0), (1, 2), (3, 1)), "mode": "reflect", "constant_values": 0},
            ),
            (((2, 4),), {"pad_width": ((0, 0), (3, 1)), "mode": "edge", "constant_values": 0}),
            (
                ((2, 3, 2),),
                {"pad_width": ((0, 0), (2, 0), (1, 4)), "mode": "edge", "constant_values": 0},
            ),
        ],
        lambda x, pad_width, mode, constant_values: cr.pad(x, pad_width, mode, constant_values),
        _torch_pad,
    ),
    OpCase(
        "array_split",
        [
            (((7, 3),), {"sections": 3, "axis": 0}),
            (((2, 5),), {"sections": [1, 3], "axis": -1}),
            (((2, 6),), {"sections": 2, "axis": 1}),
        ],
        lambda x, sections, axis: _weighted_parts(
            cr.array_split(x, sections, axis), axis, cr.concatenate
        ),
        lambda torch, x, sections, axis: _weighted_parts(
            torch.tensor_split(x, sections, axis), axis, torch.cat
        ),
    ),
    OpCase(
        "vstack",
        [(((3,), (2, 3)), {}), (((2, 3), (1, 3)), {})],
        lambda *xs: cr.vstack(xs),
        lambda torch, *xs: torch.vstack(xs),
    ),
    OpCase(
        "hstack",
        [(((2,), (3,)), {}), (((2, 1), (2, 3)), {})],
        lambda *xs: cr.hstack(xs),
        lambda torch, *xs: torch.hstack(xs),
    ),
    OpCase(
        "take",
        [
            (((3, 4),), {"indices": _indices((4,), -4, 3), "axis": -1}),
            (((5,),), {"indices": _indices((2, 2), -5, 4), "axis": None}),
            (((2, 3),), {"indices": _indices((3,), 0, 1), "axis": 0}),
        ],
        lambda x, indices, axis: cr.take(x, indices, axis),
        _torch_take,
    ),
    OpCase(
        "take_along_axis",
        [
            (((3, 4),), {"indices": _indices((3, 2), 0, 3), "axis": -1}),
            (((3, 4),), {"indices": _indices((1, 4), 0, 2), "axis": 0}),
            (((2, 3, 2),), {"indices": _indices((2, 5, 2), 0, 2), "axis": 1}),
        ],
        lambda x, indices, axis: cr.take_along_axis(x, indices, axis),
        lambda torch, x, indices, axis: torch.take_along_dim(x, torch.from_numpy(indices), axis),
    ),
    OpCase(
        "gather",
        [
            (((3, 4),), {"dim": 1, "index": _indices((3, 2), 0, 3)}),
            (((3, 4),), {"dim": 0, "index": _indices((2, 3), 0, 2)}),
            (((2, 3, 2),), {"dim": -2, "index": _indices((2, 4, 1), 0, 2)}),
        ],
        lambda x, dim, index: x.gather(dim, index),
        lambda torch, x, dim, index: x.gather(dim, torch.from_numpy(index)),
    ),
    OpCase(
        "scatter_add",
        [
            (((3, 4), (2, 4)), {"dim": 0, "index": _indices((2, 4), 0, 2)}),
            (((3, 4), (3, 2)), {"dim": -1, "index": _indices((3, 2), 0, 3)}),
        ],
        lambda x, src, dim, index: x.scatter_add(dim, index, src),
        lambda torch, x, src, dim, index: x.scatter_add(dim, torch.from_numpy(index), src),
    ),
    OpCase(
        "masked_fill",
        [
            (((3, 4),), {"mask": hnp.arrays(np.bool_, (3, 4)), "value": 0.5}),
            (((2, 3),), {"mask": hnp.arrays(np.bool_, (3,)), "value": -1.0}),
        ],
        lambda x, mask, value: x.masked_fill(mask, value),
        lambda torch, x, mask, value: x.masked_fill(torch.from_numpy(mask), value),
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
    # --- review of issue 14: p-norms other than 1, 2 and inf (the pnorm primitive)
    OpCase(
        "pnorm",
        [
            (((4,),), {"ord": 3, "axis": None, "keepdims": False}),
            (((2, 3),), {"ord": 1.5, "axis": 1, "keepdims": True}),
            (((2, 3, 2),), {"ord": 4, "axis": -2, "keepdims": False}),
        ],
        lambda x, ord, axis, keepdims: cr.norm(x, ord=ord, axis=axis, keepdims=keepdims),
        lambda torch, x, ord, axis, keepdims: torch.linalg.vector_norm(
            x, ord, dim=axis, keepdim=keepdims
        ),
        grid=True,
    ),
    # vocabulary: on finite values the identity (its replacements: tests/engine/test_vocabulary.py)
    OpCase(
        "nan_to_num",
        [(shapes, {}) for shapes in UNARY_SHAPES],
        lambda x: cr.nan_to_num(x, posinf=3.0),
        lambda torch, x: torch.nan_to_num(x, posinf=3.0),
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
    (0 if empty; infinite where only one side is NaN, so that a NaN is never lost in a max()).
    `floor` is the inputs' magnitude where the result may cancel to near 0 (a sum of large
    terms), whose rounding error is relative to the terms, not to the sum."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"shape {actual.shape} != expected {expected.shape}"
    if expected.size == 0:
        return 0.0
    actual, expected = actual.astype(np.float64), expected.astype(np.float64)
    nan = np.isnan(actual)
    if np.any(nan != np.isnan(expected)):
        return math.inf  # a NaN on one side only; never lost in a max() of errors
    # Equal entries (infinities of one sign, NaNs on both sides) differ by 0, not by NaN.
    same = (actual == expected) | nan
    with np.errstate(invalid="ignore"):  # inf - inf where `same` already says 0
        difference = np.max(np.where(same, 0.0, np.abs(actual - expected)))
    scale = np.max(np.abs(np.where(nan, 0.0, expected)))
    if difference == 0:
        return 0.0
    return float(difference / max(scale, floor, np.finfo(np.float64).tiny))


LARGEST_TORCH_ERROR: dict[str, tuple[float, str]] = {}


def record_torch_error(dtype: str, error: float, op: str) -> None:
    """Keep the largest relative error against PyTorch per dtype (shown after the run)."""
    if error > LARGEST_TORCH_ERROR.get(dtype, (-1.0, ""))[0]:
        LARGEST_TORCH_ERROR[dtype] = (error, op)


# --- activations (issue 14)
ACTIVATIONS = (
    "erf",
    "softplus",
    "logsigmoid",
    "silu",
    "gelu",
    "elu",
    "celu",
    "selu",
    "leaky_relu",
    "hardtanh",
    "hardsigmoid",
    "hardswish",
    "mish",
    "softsign",
    "softmin",
)

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
    # --- element-wise math (issue 14)
    **{
        name: _ZERO_DIM_UNARY
        for name in (
            "cos",
            "tan",
            "arcsin",
            "arccos",
            "arctan",
            "sinh",
            "cosh",
            "arcsinh",
            "arccosh",
            "arctanh",
            "exp2",
            "expm1",
            "log2",
            "log10",
            "log1p",
            "square",
            "reciprocal",
            "rsqrt",
            "sign",
            "floor",
            "ceil",
            "round",
            "trunc",
        )
    },
    **{name: _ZERO_DIM_BINARY for name in ("arctan2", "logaddexp", "hypot", "fmod", "remainder")},
    "lerp": ((((), (), ()), {}), (((), ()), {"weight": 0.25})),
    # --- reductions (issue 14)
    "prod": _ZERO_DIM_REDUCTIONS,
    "std": tuple((shapes, {**params, "ddof": 0}) for shapes, params in _ZERO_DIM_REDUCTIONS),
    "norm": (
        (((),), {"ord": None, "axis": None, "keepdims": False}),
        (((3,),), {"ord": 1, "axis": 0, "keepdims": False}),
        (((2, 3),), {"ord": "fro", "axis": None, "keepdims": False}),
    ),
    **{
        name: ((((),), {"axis": 0}), (((),), {"axis": -1}), (((3,),), {"axis": 0}))
        for name in ("cumsum", "cumprod", "logcumsumexp")
    },
    "sort": ((((),), {"axis": -1, "descending": False}), (((),), {"axis": 0, "descending": True})),
    "topk": (
        (((),), {"k": 1, "axis": -1, "largest": True}),
        (((),), {"k": 1, "axis": 0, "largest": False}),
    ),
    # --- layers and losses (issue 14): their 0-d results and (BCE) inputs
    "nll_loss": (
        (
            ((1, 3),),
            {
                "targets": _classes((1,), 3),
                "weight": None,
                "ignore_index": -100,
                "reduction": "mean",
            },
        ),
    ),
    "cross_entropy_options": (
        (
            ((2, 3),),
            {
                "targets": _classes((2,), 3),
                "weight": _WEIGHTS3,
                "ignore_index": -100,
                "reduction": "mean",
                "label_smoothing": 0.2,
            },
        ),
    ),
    "cross_entropy_probabilities": (
        (((1, 3), (1, 3)), {"weight": None, "reduction": "mean", "label_smoothing": 0.1}),
    ),
    "bce_with_logits": (
        (((), ()), {"weight": None, "pos_weight": None, "reduction": "mean"}),
        (((), ()), {"weight": None, "pos_weight": None, "reduction": "none"}),
    ),
    "binary_cross_entropy": (
        (((), ()), {"weight": None, "reduction": "mean"}),
        (((), ()), {"weight": None, "reduction": "none"}),
    ),
    # --- activations (issue 14): each one's own 0-d variants
    **{
        case.name: tuple(variant for variant in case.variants if variant[0] == ((),))
        for case in CASES
        if case.name in ACTIVATIONS
    },
    # --- shape (issue 14)
    "squeeze": ((((),), {"axis": None}), (((),), {"axis": 0}), (((1, 1),), {"axis": None})),
    "expand_dims": ((((),), {"axis": 0}), (((),), {"axis": (0, -1)})),
    "flatten": ((((),), {"start_dim": 0, "end_dim": -1}),),
    "moveaxis": ((((),), {"source": (), "destination": ()}),),
    "flip": ((((),), {"axis": None}),),
    "roll": ((((),), {"shift": 1, "axis": None}),),
    "tile": ((((),), {"reps": (3,)}), (((),), {"reps": ()})),
    "repeat": ((((),), {"repeats": 3, "axis": None}),),
    "pad": ((((),), {"pad_width": 0, "mode": "constant", "constant_values": 0.0}),),
    "vstack": ((((), ()), {}),),
    "hstack": ((((), ()), {}),),
    "take": (
        (((),), {"indices": _indices((2,), 0, 0), "axis": None}),
        (((3,),), {"indices": _indices((), -3, 2), "axis": 0}),
    ),
    "masked_fill": ((((),), {"mask": hnp.arrays(np.bool_, ()), "value": 2.0}),),
}

# Ops that have no 0-d form in NumPy or PyTorch either: they refuse 0-d inputs by name.
NO_ZERO_DIM: dict[str, Callable[[Any], Any]] = {
    "concatenate": lambda x: cr.concatenate([x, x]),
    "linear": lambda x: functional.linear(x, np.ones((1, 2)), np.ones(2)),
    # --- layers and losses (issue 14)
    "layer_norm": lambda x: functional.layer_norm(x, 1),
    "embedding": lambda x: functional.embedding(np.array([0]), x),
}

# --- linear algebra (issue 14)
ZERO_DIM_VARIANTS |= {
    "dot": ((((), ()), {}), (((), (3,)), {}), (((3,), (3,)), {})),
    "inner": ((((), ()), {}), (((3,), (3,)), {})),
    "outer": ((((), ()), {}),),
    "tensordot": ((((), ()), {"axes": 0}), (((2, 3), (2, 3)), {"axes": 2})),
    "einsum": (
        (((), ()), {"subscripts": ",->"}),
        (((3, 3),), {"subscripts": "ii"}),
        (((), (3,)), {"subscripts": ",i->i"}),
    ),
    "trace": ((((3, 3),), {"offset": 0, "axis1": 0, "axis2": 1}),),
    "kron": ((((), ()), {}), (((), (2,)), {})),
}
NO_ZERO_DIM |= {
    "diagonal": lambda x: cr.diagonal(x),
    "diag": lambda x: cr.diag(x),
    "tril": lambda x: cr.tril(x),
    "triu": lambda x: cr.triu(x),
    # --- shape (issue 14)
    "array_split": lambda x: cr.array_split(x, 2),
    "take_along_axis": lambda x: cr.take_along_axis(x, np.array(0), 0),
    "gather": lambda x: x.gather(0, np.array(0)),
    "scatter_add": lambda x: x.scatter_add(0, np.array(0), x),
    # --- convolutions (issue 14)
    "conv1d": lambda x: functional.conv1d(x, np.ones((1, 1, 1))),
    "conv2d": lambda x: functional.conv2d(x, np.ones((1, 1, 1, 1))),
    "max_pool2d": lambda x: functional.max_pool2d(x, 1),
    "avg_pool2d": lambda x: functional.avg_pool2d(x, 1),
    "adaptive_avg_pool2d": lambda x: functional.adaptive_avg_pool2d(x, 1),
}

# --- review of issue 14: a p-norm reducing to 0-d (as norm, 0-d input needs an axis)
ZERO_DIM_VARIANTS |= {"pnorm": ((((3,),), {"ord": 3, "axis": 0, "keepdims": False}),)}


def zero_dim_cases() -> list[OpCase]:
    """The cases of CASES that have a 0-d form, restricted to their 0-d variants."""
    return [
        replace(case, variants=ZERO_DIM_VARIANTS[case.name])
        for case in CASES
        if case.name in ZERO_DIM_VARIANTS
    ]


# --- vocabulary: nan_to_num on a 0-d tensor, as torch.nan_to_num
ZERO_DIM_VARIANTS |= {"nan_to_num": ((((),), {}),)}
