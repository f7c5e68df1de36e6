"""The ops as functions, `chainrule.exp(x)` beside `x.exp()`, taking Tensors or array-likes.

Each returns a Tensor; see the Tensor method of the same name for the derivative. A
one-input primitive that declares a `function` name gets its function generated here from
that declaration (`unary_function`); the others are written out below.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from chainrule import devices  # noqa: F401  (devices, issue 16: Tensor.to and Tensor.cpu)
from chainrule import primitives as P
from chainrule.modes import CompileError
from chainrule.ops import (  # noqa: F401
    composites,
    detaching,
    inplace,
    operators,
    reductions,
    shaping,
)
from chainrule.ops.activations import (
    celu,
    elu,
    gelu,
    hardsigmoid,
    hardswish,
    hardtanh,
    leaky_relu,
    logsigmoid,
    mish,
    selu,
    silu,
    softmin,
    softplus,
    softsign,
)
from chainrule.ops.operators import _binary, _operand, matmul, promote
from chainrule.placement import refuse_stacking, to_numpy
from chainrule.primitives.reduction import Axis
from chainrule.tensor import Tensor, _raw, as_tensor


def tensor(
    data: Any,
    *,
    requires_grad: bool = False,
    dtype: npt.DTypeLike | None = None,
    name: str | None = None,
) -> Tensor:
    """A new Tensor. NumPy float arrays keep their dtype (and are shared, not copied); Python
    numbers, lists and integer data become float32 unless `dtype` says otherwise."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, name=name)


def unary_function(primitive: type[P.Primitive]) -> Callable[[Any], Tensor]:
    """`chainrule.<function>(x)`: `primitive` on x (a Tensor or array-like)."""

    def function(x: Any) -> Tensor:
        return Tensor.apply(primitive, as_tensor(x))

    function.__name__ = function.__qualname__ = str(primitive.function)
    function.__doc__ = primitive.__doc__
    return function


# Written out only so that type checkers see them; the loop below makes the same from any
# one-input primitive that declares a `function` name.
abs = unary_function(P.Abs)
exp = unary_function(P.Exp)
log = unary_function(P.Log)
relu = unary_function(P.ReLU)
sigmoid = unary_function(P.Sigmoid)
sqrt = unary_function(P.Sqrt)
tanh = unary_function(P.Tanh)
# --- activations (issue 14)
erf = unary_function(P.Erf)

GENERATED: dict[str, Callable[[Any], Tensor]] = {
    primitive.function: unary_function(primitive)
    for primitive in P.PRIMITIVES
    if primitive.function is not None
    and P.is_unary(primitive)
    and primitive.function not in globals()
}
"""The functions generated from declarations alone, by name."""
globals().update(GENERATED)


def _pair(x: Any, y: Any) -> tuple[Tensor, Tensor]:
    if isinstance(x, Tensor):
        return promote(x, _operand(y, x))
    right = as_tensor(y)
    return promote(_operand(x, right), right)


def maximum(x: Any, y: Any) -> Tensor:
    """Element-wise max(x, y); where they tie, each gets half the gradient."""
    left, right = _pair(x, y)
    return _binary(left, P.Maximum, right, False)


def minimum(x: Any, y: Any) -> Tensor:
    """Element-wise min(x, y); where they tie, each gets half the gradient."""
    left, right = _pair(x, y)
    return _binary(left, P.Minimum, right, False)


def where(condition: Any, x: Any, y: Any) -> Tensor:
    """x where `condition` holds, else y; the gradient flows to the chosen side only."""
    left, right = _pair(x, y)
    mask = np.asarray(to_numpy(_raw(condition)), dtype=bool)  # checked here, moved by the op
    try:
        return Tensor._apply(P.Where, (left, right), {"condition": mask})
    except CompileError:
        raise
    except ValueError:
        raise ValueError(
            f"where: condition {mask.shape}, x {left.shape} and y {right.shape} cannot "
            "broadcast together"
        ) from None


def join_operands(items: Sequence[Any]) -> tuple[Tensor, ...]:
    """The items of a join as Tensors: a list, number or integer array beside a tensor takes
    the first tensor's dtype, as a binary operator's operand does (`_operand`), so that
    float64 data joined with [0.1] is not rounded through float32 first."""
    like = next((item for item in items if isinstance(item, Tensor)), None)
    if like is None:
        return tuple(as_tensor(item) for item in items)
    return tuple(_operand(refuse_stacking(item), like) for item in items)


def _join(op: str, primitive: type[P.Primitive], tensors: Sequence[Any], axis: int) -> Tensor:
    if len(tensors) == 0:
        raise ValueError(f"{op}: needs at least one tensor")
    inputs = join_operands(tensors)
    floats = [t.dtype for t in inputs if t.dtype.kind == "f"]
    if floats and len(floats) < len(inputs):  # integers join floats as that float (PyTorch)
        common = np.result_type(*floats)
        inputs = tuple(t if t.dtype.kind == "f" else t.astype(common) for t in inputs)
    ndim = inputs[0].ndim
    if primitive is P.Concatenate and ndim == 0:
        raise ValueError(
            f"{op}: 0-d tensors have no axis to join along; use chainrule.stack to make a "
            "1-D tensor of them"
        )
    if primitive is P.Concatenate and not -ndim <= axis < ndim:
        raise ValueError(
            f"{op}: axis {axis} is out of range for tensors with {ndim} dimensions "
            f"(valid: {-ndim} to {ndim - 1})"
        )
    if primitive is P.Concatenate and builtins.any(t.ndim != ndim for t in inputs):
        shapes = ", ".join(str(t.shape) for t in inputs)
        raise ValueError(
            f"{op} along axis {axis}: shapes {shapes} do not fit: they need the "
            "same number of dimensions"
        )
    try:
        return Tensor._apply(primitive, inputs, {"axis": axis})
    except CompileError:
        raise
    except (ValueError, np.exceptions.AxisError) as error:
        shapes = ", ".join(str(t.shape) for t in inputs)
        raise ValueError(f"{op} along axis {axis}: shapes {shapes} do not fit: {error}") from None


def concatenate(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """The tensors joined along an existing axis."""
    return _join("concatenate", P.Concatenate, tensors, axis)


def stack(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """The tensors stacked along a new axis."""
    return _join("stack", P.Stack, tensors, axis)


def sum(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    return as_tensor(x).sum(axis=axis, keepdims=keepdims)


def mean(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    return as_tensor(x).mean(axis=axis, keepdims=keepdims)


def max(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    return as_tensor(x).max(axis=axis, keepdims=keepdims)


def min(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    return as_tensor(x).min(axis=axis, keepdims=keepdims)


def var(
    x: Any, axis: Axis = None, *after_axis: object, keepdims: bool = False, ddof: int = 0
) -> Tensor:
    return as_tensor(x).var(axis, *after_axis, keepdims=keepdims, ddof=ddof)


def reshape(x: Any, shape: tuple[int, ...]) -> Tensor:
    return as_tensor(x).reshape(shape)


def transpose(x: Any, axes: tuple[int, ...] | None = None) -> Tensor:
    return as_tensor(x).transpose(*(() if axes is None else (axes,)))


def clip(x: Any, min: float | None = None, max: float | None = None) -> Tensor:
    return as_tensor(x).clip(min, max)


def logsumexp(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    return as_tensor(x).logsumexp(axis=axis, keepdims=keepdims)


def softmax(x: Any, axis: int = -1) -> Tensor:
    return as_tensor(x).softmax(axis=axis)


def log_softmax(x: Any, axis: int = -1) -> Tensor:
    return as_tensor(x).log_softmax(axis=axis)


__all__ = [
    "clip",
    "concatenate",
    "log_softmax",
    "logsumexp",
    "matmul",
    "max",
    "maximum",
    "mean",
    "min",
    "minimum",
    "reshape",
    "softmax",
    "stack",
    "sum",
    "tensor",
    "transpose",
    "var",
    "where",
    "abs",
    "exp",
    "log",
    "relu",
    "sigmoid",
    "sqrt",
    "tanh",
    # --- activations (issue 14)
    "celu",
    "elu",
    "erf",
    "gelu",
    "hardsigmoid",
    "hardswish",
    "hardtanh",
    "leaky_relu",
    "logsigmoid",
    "mish",
    "selu",
    "silu",
    "softmin",
    "softplus",
    "softsign",
    *GENERATED,
]

# --- element-wise math (issue 14). The one-input functions are generated above (GENERATED)
# and written out here only so that type checkers see them; the others are in elementwise_math.
from chainrule.ops.elementwise_math import (  # noqa: E402
    arctan2,
    fmod,
    hypot,
    lerp,
    logaddexp,
    remainder,
)

cos = unary_function(P.Cos)
tan = unary_function(P.Tan)
arcsin = unary_function(P.Arcsin)
arccos = unary_function(P.Arccos)
arctan = unary_function(P.Arctan)
sinh = unary_function(P.Sinh)
cosh = unary_function(P.Cosh)
arcsinh = unary_function(P.Arcsinh)
arccosh = unary_function(P.Arccosh)
arctanh = unary_function(P.Arctanh)
exp2 = unary_function(P.Exp2)
expm1 = unary_function(P.Expm1)
log2 = unary_function(P.Log2)
log10 = unary_function(P.Log10)
log1p = unary_function(P.Log1p)
square = unary_function(P.Square)
reciprocal = unary_function(P.Reciprocal)
rsqrt = unary_function(P.Rsqrt)
sign = unary_function(P.Sign)
floor = unary_function(P.Floor)
ceil = unary_function(P.Ceil)
trunc = unary_function(P.Trunc)
__all__ += ["arctan2", "fmod", "hypot", "lerp", "logaddexp", "remainder"]
# --- end element-wise math
# --- reductions (issue 14)
from chainrule.ops import reductions_more  # noqa: E402, F401


def prod(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    return as_tensor(x).prod(axis=axis, keepdims=keepdims)


def std(
    x: Any, axis: Axis = None, *after_axis: object, keepdims: bool = False, ddof: int = 0
) -> Tensor:
    return as_tensor(x).std(axis, *after_axis, keepdims=keepdims, ddof=ddof)


def norm(
    x: Any, ord: float | str | None = None, axis: Axis = None, keepdims: bool = False
) -> Tensor:
    return as_tensor(x).norm(ord=ord, axis=axis, keepdims=keepdims)


def cumsum(x: Any, axis: int | None = None) -> Tensor:
    return as_tensor(x).cumsum(axis=axis)


def cumprod(x: Any, axis: int | None = None) -> Tensor:
    return as_tensor(x).cumprod(axis=axis)


def logcumsumexp(x: Any, axis: int | None = None) -> Tensor:
    return as_tensor(x).logcumsumexp(axis=axis)


def argmax(x: Any, axis: int | None = None, keepdims: bool = False) -> Tensor:
    return as_tensor(x).argmax(axis=axis, keepdims=keepdims)


def argmin(x: Any, axis: int | None = None, keepdims: bool = False) -> Tensor:
    return as_tensor(x).argmin(axis=axis, keepdims=keepdims)


def sort(x: Any, axis: int | None = -1, descending: bool = False) -> Tensor:
    return as_tensor(x).sort(axis=axis, descending=descending)


def argsort(x: Any, axis: int | None = -1, descending: bool = False) -> Tensor:
    return as_tensor(x).argsort(axis=axis, descending=descending)


def topk(
    x: Any, k: int, axis: int = -1, largest: bool = True, sorted: bool = True
) -> tuple[Tensor, Tensor]:
    return as_tensor(x).topk(k, axis=axis, largest=largest, sorted=sorted)


def any(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    return as_tensor(x).any(axis=axis, keepdims=keepdims)


def all(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    return as_tensor(x).all(axis=axis, keepdims=keepdims)


__all__ += [
    "all",
    "any",
    "argmax",
    "argmin",
    "argsort",
    "cumprod",
    "cumsum",
    "logcumsumexp",
    "norm",
    "prod",
    "sort",
    "std",
    "topk",
]

# After the modules above, since it generates only the one-input methods they leave
# undefined (such as exp, not __neg__), then NumPy's protocols, whose tables read the
# functions above: both attached to Tensor on import.
from chainrule.ops import elementwise  # noqa: E402, F401, I001
from chainrule.ops import dispatch  # noqa: E402, F401

# --- linear algebra (issue 14)
from chainrule.ops import linalg_methods  # noqa: E402, F401
from chainrule.ops.linalg import (  # noqa: E402
    diag,
    diagonal,
    dot,
    einsum,
    inner,
    kron,
    outer,
    tensordot,
    trace,
    tril,
    triu,
)

__all__ += [
    "diag",
    "diagonal",
    "dot",
    "einsum",
    "inner",
    "kron",
    "outer",
    "tensordot",
    "trace",
    "tril",
    "triu",
]
# --- shape (issue 14): NumPy's functions (and torch's where NumPy has none) over the methods
# of chainrule.ops.shaping_more; see each method for the derivative.
from chainrule.ops import shaping_more  # noqa: E402
from chainrule.ops.shaping_more import AxisArg, hstack, one_hot, vstack  # noqa: E402


def swapaxes(a: Any, axis1: int, axis2: int) -> Tensor:
    return as_tensor(a).swapaxes(axis1, axis2)


def broadcast_to(array: Any, shape: int | Sequence[int]) -> Tensor:
    return as_tensor(array).broadcast_to((shape,) if isinstance(shape, int) else shape)


def squeeze(a: Any, axis: AxisArg = None) -> Tensor:
    return shaping_more.squeeze(as_tensor(a), axis)


def expand_dims(a: Any, axis: int | Sequence[int]) -> Tensor:
    return shaping_more.expand_dims(as_tensor(a), axis)


def ravel(a: Any) -> Tensor:
    return shaping_more.ravel(as_tensor(a))


def flatten(input: Any, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    return shaping_more.flatten(as_tensor(input), start_dim, end_dim)


def flip(m: Any, axis: AxisArg = None) -> Tensor:
    return shaping_more.flip(as_tensor(m), axis)


def roll(a: Any, shift: int | Sequence[int], axis: AxisArg = None) -> Tensor:
    return shaping_more.roll(as_tensor(a), shift, axis)


def moveaxis(a: Any, source: int | Sequence[int], destination: int | Sequence[int]) -> Tensor:
    return shaping_more.moveaxis(as_tensor(a), source, destination)


def repeat(a: Any, repeats: int | Sequence[int], axis: int | None = None) -> Tensor:
    return shaping_more.repeat(as_tensor(a), repeats, axis)


def tile(A: Any, reps: int | Sequence[int]) -> Tensor:
    return shaping_more.tile(as_tensor(A), reps)


def pad(
    array: Any,
    pad_width: int | Sequence[int] | Sequence[Sequence[int]],
    mode: str = "constant",
    constant_values: float | Sequence[Any] = 0,
) -> Tensor:
    return shaping_more.pad(as_tensor(array), pad_width, mode, constant_values)


def split(ary: Any, indices_or_sections: int | Sequence[int], axis: int = 0) -> list[Tensor]:
    return shaping_more.split(as_tensor(ary), indices_or_sections, axis)


def array_split(ary: Any, indices_or_sections: int | Sequence[int], axis: int = 0) -> list[Tensor]:
    return shaping_more.array_split(as_tensor(ary), indices_or_sections, axis)


def take(a: Any, indices: Any, axis: int | None = None) -> Tensor:
    return shaping_more.take(as_tensor(a), indices, axis)


def take_along_axis(arr: Any, indices: Any, axis: int | None = -1) -> Tensor:
    return shaping_more.take_along_axis(as_tensor(arr), indices, axis)


def gather(input: Any, dim: int, index: Any) -> Tensor:
    return shaping_more.gather(as_tensor(input), dim, index)


def scatter_add(input: Any, dim: int, index: Any, src: Any) -> Tensor:
    return shaping_more.scatter_add(as_tensor(input), dim, index, src)


def masked_fill(input: Any, mask: Any, value: Any) -> Tensor:
    return shaping_more.masked_fill(as_tensor(input), mask, value)


# Each function reads as the method it calls: the derivative is stated there.
_DOCUMENTED_BY_METHOD: tuple[Callable[..., Any], ...] = (
    *(squeeze, expand_dims, ravel, flatten, flip, roll, moveaxis, repeat, tile, pad),
    *(split, array_split, take, take_along_axis, gather, scatter_add, masked_fill),
)
for _function in _DOCUMENTED_BY_METHOD:
    _function.__doc__ = getattr(shaping_more, _function.__name__).__doc__
swapaxes.__doc__ = shaping.swapaxes.__doc__
broadcast_to.__doc__ = shaping.broadcast_to.__doc__

__all__ += [
    "array_split",
    "broadcast_to",
    "expand_dims",
    "flatten",
    "flip",
    "gather",
    "hstack",
    "masked_fill",
    "moveaxis",
    "one_hot",
    "pad",
    "ravel",
    "repeat",
    "roll",
    "scatter_add",
    "split",
    "squeeze",
    "swapaxes",
    "take",
    "take_along_axis",
    "tile",
    "vstack",
]
# --- vocabulary: torch's and NumPy's first-reached ops (chunk, unbind, round(decimals),
# amax/amin, bmm, addmm, baddbmm, put_along_axis); see each method for the derivative.
from chainrule.ops import vocabulary  # noqa: E402
from chainrule.ops.vocabulary import addmm, baddbmm  # noqa: E402


def chunk(input: Any, chunks: int, dim: int = 0) -> list[Tensor]:
    return vocabulary.chunk(as_tensor(input), chunks, dim)


def unbind(input: Any, dim: int = 0) -> tuple[Tensor, ...]:
    return vocabulary.unbind(as_tensor(input), dim)


def round(a: Any, decimals: int = 0) -> Tensor:
    return vocabulary.round(as_tensor(a), decimals)


def amax(input: Any, dim: Axis = None, keepdim: bool = False) -> Tensor:
    return vocabulary.amax(as_tensor(input), dim, keepdim)


def amin(input: Any, dim: Axis = None, keepdim: bool = False) -> Tensor:
    return vocabulary.amin(as_tensor(input), dim, keepdim)


def bmm(input: Any, mat2: Any) -> Tensor:
    return vocabulary.bmm(as_tensor(input), mat2)


def put_along_axis(arr: Any, indices: Any, values: Any, axis: int | None) -> Tensor:
    return vocabulary.put_along_axis(as_tensor(arr), indices, values, axis)


for _function in (chunk, unbind, round, amax, amin, bmm, put_along_axis):
    _function.__doc__ = getattr(vocabulary, _function.__name__).__doc__

__all__ += [
    "addmm",
    "amax",
    "amin",
    "baddbmm",
    "bmm",
    "chunk",
    "put_along_axis",
    "unbind",
]


def scatter(input: Any, dim: int, index: Any, src: Any) -> Tensor:
    return vocabulary.scatter(as_tensor(input), dim, index, src)


def mm(input: Any, mat2: Any) -> Tensor:
    return vocabulary.mm(as_tensor(input), mat2)


def clone(input: Any) -> Tensor:
    return vocabulary.clone(as_tensor(input))


def narrow(input: Any, dim: int, start: int, length: int) -> Tensor:
    return vocabulary.narrow(as_tensor(input), dim, start, length)


for _function in (scatter, mm, clone, narrow):
    _function.__doc__ = getattr(vocabulary, _function.__name__).__doc__

__all__ += ["clone", "mm", "narrow", "scatter"]


def nan_to_num(
    x: Any, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None
) -> Tensor:
    return vocabulary.nan_to_num(as_tensor(x), nan, posinf, neginf)


nan_to_num.__doc__ = vocabulary.nan_to_num.__doc__
__all__ += ["nan_to_num"]
# --- vocabulary: factories (zeros, ones, full, *_like, arange, linspace, eye, rand, randn)
from chainrule.ops.creation import (  # noqa: E402
    arange,
    eye,
    full,
    full_like,
    linspace,
    ones,
    ones_like,
    rand,
    randn,
    zeros,
    zeros_like,
)

__all__ += [
    "arange",
    "eye",
    "full",
    "full_like",
    "linspace",
    "ones",
    "ones_like",
    "rand",
    "randn",
    "zeros",
    "zeros_like",
]
