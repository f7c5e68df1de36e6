"""NumPy's protocols on a Tensor: which NumPy functions and ufuncs run as chainrule ops
(np.exp(t), np.sum(t, axis=0)), with their arguments bound as NumPy binds them, and which are
refused by name. The ufunc table comes from the primitives' `numpy` declarations; importing
this module plugs it into Tensor (`chainrule.numpy_protocol.NUMPY_PROTOCOL`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from chainrule import ops
from chainrule import primitives as P
from chainrule.backends import dispatch_through_numpy
from chainrule.numpy_protocol import NUMPY_PROTOCOL
from chainrule.ops.operators import _refuse_comparison_while_tracing
from chainrule.primitives.reduction import Axis
from chainrule.tensor import Tensor, _raw, as_tensor


def array_ufunc(
    ufunc: np.ufunc, method: str, inputs: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """`ufunc(*inputs, **kwargs)` where an input is a Tensor (Tensor.__array_ufunc__)."""
    if method != "__call__":
        raise TypeError(
            f"numpy.{ufunc.__name__}.{method} is not supported on chainrule tensors; use a "
            "chainrule op (such as t.sum()), or call it on t.detach().numpy() for a plain "
            "array without gradient"
        )
    if kwargs:
        _refuse_numpy_arguments(ufunc.__name__, kwargs)
    if ufunc in _COMPARISONS:
        _refuse_comparison_while_tracing(f"numpy.{ufunc.__name__}", *inputs)
        return ufunc(*(_raw(x) for x in inputs))
    implementation = _UFUNCS.get(ufunc)
    if implementation is None:
        raise TypeError(
            f"numpy.{ufunc.__name__} has no gradient in chainrule; use a chainrule op, or "
            "call it on t.detach().numpy() for a plain array without gradient"
        )
    return implementation(*inputs)


def array_function(func: Callable[..., Any], args: Any, kwargs: Any) -> Any:
    """`func(*args, **kwargs)` where an argument is a Tensor (Tensor.__array_function__)."""
    implementation = _FUNCTIONS.get(func)
    if implementation is None:
        name = getattr(func, "__name__", str(func))
        raise TypeError(
            f"numpy.{name} is not supported on chainrule tensors; {_instead(name)}, or call it "
            "on t.detach().numpy() for a plain array without gradient"
        )
    return implementation(*args, **kwargs)


def _instead(name: str) -> str:
    """The chainrule op to write where NumPy's function of that name is not dispatched."""
    if name == "put_along_axis":
        return "use chainrule.put_along_axis, which returns a new tensor (assign it)"
    if callable(getattr(ops, name, None)):
        return f"use chainrule.{name}"
    return "use a chainrule op"


def _unary(name: str) -> Callable[[Any], Tensor]:
    def function(x: Any) -> Tensor:
        result: Tensor = getattr(as_tensor(x), name)()
        return result

    return function


def _numpy_reduction(method: str) -> Callable[..., Tensor]:
    """np.sum, np.mean, np.max, ... on a tensor: `dtype=` converts first (as NumPy
    accumulates in it), the rest goes to the method."""

    def function(
        a: Any, axis: Axis = None, dtype: npt.DTypeLike | None = None, keepdims: bool = False
    ) -> Tensor:
        tensor = as_tensor(a) if dtype is None else as_tensor(a).astype(dtype)
        result: Tensor = getattr(tensor, method)(axis=axis, keepdims=keepdims)
        return result

    return function


def _numpy_spread(method: str) -> Callable[..., Tensor]:
    """np.var, np.std on a tensor: `dtype=` converts first, as in _numpy_reduction; NumPy's
    `correction=` is another name for `ddof=` (giving both is refused)."""

    def function(
        a: Any,
        axis: Axis = None,
        dtype: npt.DTypeLike | None = None,
        ddof: int = 0,
        keepdims: bool = False,
        correction: int | None = None,
    ) -> Tensor:
        if correction is not None:
            if ddof != 0:
                raise ValueError(f"numpy.{method}: give ddof or correction, not both")
            ddof = correction
        tensor = as_tensor(a) if dtype is None else as_tensor(a).astype(dtype)
        result: Tensor = getattr(tensor, method)(axis=axis, keepdims=keepdims, ddof=ddof)
        return result

    return function


def _numpy_scan(method: str) -> Callable[..., Tensor]:
    """np.cumsum, np.cumprod on a tensor: `dtype=` converts first, as in _numpy_reduction."""

    def function(a: Any, axis: int | None = None, dtype: npt.DTypeLike | None = None) -> Tensor:
        tensor = as_tensor(a) if dtype is None else as_tensor(a).astype(dtype)
        result: Tensor = getattr(tensor, method)(axis=axis)
        return result

    return function


def _numpy_concatenate(arrays: Sequence[Any], axis: int | None = 0) -> Tensor:
    if axis is None:
        return ops.concatenate([t.reshape(-1) for t in ops.join_operands(arrays)], 0)
    return ops.concatenate(arrays, axis)


def _numpy_broadcast_to(array: Any, shape: int | Sequence[int]) -> Tensor:
    target = (int(shape),) if isinstance(shape, (int, np.integer)) else shape
    return as_tensor(array).broadcast_to(target)


def _numpy_where(condition: Any, x: Any = None, y: Any = None) -> Any:
    if x is None and y is None:
        return np.nonzero(_raw(condition))  # indices: no gradient, as comparisons
    if x is None or y is None:
        raise ValueError("numpy.where: give both x and y, or neither (for the indices)")
    return ops.where(condition, x, y)


def _numpy_clip(
    a: Any, a_min: Any = None, a_max: Any = None, min: Any = None, max: Any = None
) -> Tensor:
    if (a_min is not None and min is not None) or (a_max is not None and max is not None):
        raise ValueError("numpy.clip: give a_min or min (a_max or max), not both")
    return as_tensor(a).clip(
        a_min if a_min is not None else min, a_max if a_max is not None else max
    )


def _is_default(value: Any, default: Any) -> bool:
    if value is default:
        return True
    simple = (str, bool, int, float, type(None))
    return isinstance(default, simple) and type(value) is type(default) and value == default


def _refuse_numpy_arguments(name: str, refused: dict[str, Any]) -> None:
    shown = ", ".join(
        f"{key}=<array of shape {value.shape}>"
        if isinstance(value, np.ndarray)
        else f"{key}={value!r}"
        for key, value in refused.items()
    )
    raise TypeError(
        f"numpy.{name}: {shown} is not supported on chainrule tensors; leave it out (use the "
        "returned tensor), or call NumPy on t.detach().numpy() for a plain array without "
        "gradient"
    )


def _numpy_function(
    func: Callable[..., Any], implementation: Callable[..., Any], honoured: str
) -> Callable[..., Any]:
    """`implementation` called as NumPy calls `func`: the arguments are bound with func's own
    signature (so positional ones land where NumPy puts them), those in `honoured` are passed
    on by name, and any other one given a value other than NumPy's default is refused."""
    name = getattr(func, "__name__", str(func))
    signature = inspect.signature(func)
    passed_on = frozenset(honoured.split())

    def function(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs)  # NumPy already checked the call itself
        arguments: dict[str, Any] = {}
        refused: dict[str, Any] = {}
        for parameter_name, value in bound.arguments.items():
            parameter = signature.parameters[parameter_name]
            if parameter.kind is inspect.Parameter.VAR_KEYWORD:
                refused.update(value)
            elif parameter_name in passed_on:
                if value is not parameter.default:
                    arguments[parameter_name] = value
            elif not _is_default(value, parameter.default):
                refused[parameter_name] = value
        if refused:
            _refuse_numpy_arguments(name, refused)
        return implementation(**arguments)

    return function


def _binary_function(method: str) -> Callable[[Any, Any], Tensor]:
    def function(x: Any, y: Any) -> Tensor:
        left, right = ops._pair(x, y)
        result: Tensor = getattr(left, method)(right)
        return result

    return function


def _power(x: Any, y: Any) -> Tensor:
    base = as_tensor(x) if isinstance(x, Tensor) else ops._pair(x, y)[0]
    result: Tensor = base**y
    return result


def _ufunc_implementation(primitive: type[P.Primitive]) -> Callable[..., Tensor]:
    """What a NumPy ufunc the primitive declares calls: its chainrule function if it has
    one, else its Tensor method."""
    if primitive.function is not None:
        implementation: Callable[..., Tensor] = getattr(ops, primitive.function)
        return implementation
    method = str(primitive.method)
    return _unary(method) if P.is_unary(primitive) else _binary_function(method)


_UFUNCS: dict[np.ufunc, Callable[..., Tensor]] = {
    **{
        getattr(np, name): _ufunc_implementation(primitive)
        for primitive in P.PRIMITIVES
        for name in primitive.numpy
    },
    np.power: _power,  # a scalar exponent is PowScalar, a tensor one Pow
    np.positive: as_tensor,
}

_COMPARISONS = frozenset(
    {
        np.less,
        np.less_equal,
        np.greater,
        np.greater_equal,
        np.equal,
        np.not_equal,
        np.isfinite,
        np.isnan,
        np.isinf,
    }
)

_FUNCTION_IMPLEMENTATIONS: tuple[tuple[Callable[..., Any], Callable[..., Any], str], ...] = (
    (np.sum, _numpy_reduction("sum"), "a axis dtype keepdims"),
    (np.mean, _numpy_reduction("mean"), "a axis dtype keepdims"),
    (np.max, _numpy_reduction("max"), "a axis keepdims"),
    (np.amax, _numpy_reduction("max"), "a axis keepdims"),
    (np.min, _numpy_reduction("min"), "a axis keepdims"),
    (np.amin, _numpy_reduction("min"), "a axis keepdims"),
    (np.var, _numpy_spread("var"), "a axis dtype ddof keepdims correction"),
    (np.reshape, lambda a, shape: as_tensor(a).reshape(shape), "a shape"),
    (np.astype, lambda x, dtype: as_tensor(x).astype(dtype), "x dtype"),
    (
        np.transpose,
        lambda a, axes=None: as_tensor(a).transpose(*(() if axes is None else (axes,))),
        "a axes",
    ),
    (np.swapaxes, lambda a, axis1, axis2: as_tensor(a).swapaxes(axis1, axis2), "a axis1 axis2"),
    (np.broadcast_to, _numpy_broadcast_to, "array shape"),
    (np.concatenate, _numpy_concatenate, "arrays axis"),
    (np.stack, lambda arrays, axis=0: ops.stack(arrays, axis), "arrays axis"),
    (np.where, _numpy_where, "condition x y"),
    (np.clip, _numpy_clip, "a a_min a_max min max"),
    (np.shape, lambda a: np.shape(_raw(a)), "a"),
    (np.ndim, lambda a: np.ndim(_raw(a)), "a"),
    (np.size, lambda a, axis=None: np.size(_raw(a), axis), "a axis"),
    # --- element-wise math (issue 14): np.round is a function, np.rint its ufunc
    (np.round, lambda a, decimals=0: as_tensor(a).round(decimals), "a decimals"),
    (np.around, lambda a, decimals=0: as_tensor(a).round(decimals), "a decimals"),
    # --- reductions (issue 14)
    (np.prod, _numpy_reduction("prod"), "a axis dtype keepdims"),
    (np.std, _numpy_spread("std"), "a axis dtype ddof keepdims correction"),
    (
        np.linalg.norm,
        lambda x, ord=None, axis=None, keepdims=False: ops.norm(x, ord, axis, keepdims),
        "x ord axis keepdims",
    ),
    (np.cumsum, _numpy_scan("cumsum"), "a axis dtype"),
    (np.cumprod, _numpy_scan("cumprod"), "a axis dtype"),
    (
        np.argmax,
        lambda a, axis=None, keepdims=False: ops.argmax(a, axis, keepdims),
        "a axis keepdims",
    ),
    (
        np.argmin,
        lambda a, axis=None, keepdims=False: ops.argmin(a, axis, keepdims),
        "a axis keepdims",
    ),
    (np.sort, lambda a, axis=-1: ops.sort(a, axis), "a axis"),
    (np.argsort, lambda a, axis=-1: ops.argsort(a, axis), "a axis"),
    (np.any, lambda a, axis=None, keepdims=False: ops.any(a, axis, keepdims), "a axis keepdims"),
    (
        np.nan_to_num,
        lambda x, nan=0.0, posinf=None, neginf=None: ops.nan_to_num(x, nan, posinf, neginf),
        "x nan posinf neginf",
    ),
    (np.all, lambda a, axis=None, keepdims=False: ops.all(a, axis, keepdims), "a axis keepdims"),
)

_FUNCTIONS: dict[Callable[..., Any], Callable[..., Any]] = {
    func: _numpy_function(func, implementation, honoured)
    for func, implementation, honoured in _FUNCTION_IMPLEMENTATIONS
}

NUMPY_PROTOCOL.array_ufunc = array_ufunc
NUMPY_PROTOCOL.array_function = array_function
# Rules given Tensors compute through numpy, which hands each call back to these tables.
dispatch_through_numpy(Tensor)

# --- linear algebra (issue 14)
from chainrule.ops.linalg import NUMPY_FUNCTIONS as LINALG_FUNCTIONS  # noqa: E402

_FUNCTIONS.update(
    (func, _numpy_function(func, implementation, honoured))
    for func, implementation, honoured in LINALG_FUNCTIONS
)
# --- shape (issue 14)
from chainrule.ops import shaping_more  # noqa: E402


def _numpy_pad(array: Any, pad_width: Any, mode: str = "constant", **kwargs: Any) -> Tensor:
    constant_values = kwargs.pop("constant_values", 0)
    if kwargs:
        _refuse_numpy_arguments("pad", kwargs)
    return shaping_more.pad(as_tensor(array), pad_width, mode, constant_values)


_FUNCTIONS[np.pad] = _numpy_pad
_FUNCTIONS.update(
    {
        func: _numpy_function(func, implementation, honoured)
        for func, implementation, honoured in (
            (np.squeeze, lambda a, axis=None: as_tensor(a).squeeze(axis), "a axis"),
            (np.expand_dims, lambda a, axis: as_tensor(a).expand_dims(axis), "a axis"),
            (np.ravel, lambda a: as_tensor(a).ravel(), "a"),
            (np.flip, lambda m, axis=None: as_tensor(m).flip(axis), "m axis"),
            (np.roll, lambda a, shift, axis=None: as_tensor(a).roll(shift, axis), "a shift axis"),
            (
                np.moveaxis,
                lambda a, source, destination: as_tensor(a).moveaxis(source, destination),
                "a source destination",
            ),
            (
                np.repeat,
                lambda a, repeats, axis=None: as_tensor(a).repeat(repeats, axis),
                "a repeats axis",
            ),
            (np.tile, lambda A, reps: as_tensor(A).tile(reps), "A reps"),
            (
                np.split,
                lambda ary, indices_or_sections, axis=0: as_tensor(ary).split(
                    indices_or_sections, axis
                ),
                "ary indices_or_sections axis",
            ),
            (
                np.array_split,
                lambda ary, indices_or_sections, axis=0: as_tensor(ary).array_split(
                    indices_or_sections, axis
                ),
                "ary indices_or_sections axis",
            ),
            (np.vstack, shaping_more.vstack, "tup"),
            (np.hstack, shaping_more.hstack, "tup"),
            (
                np.take,
                lambda a, indices, axis=None: as_tensor(a).take(indices, axis),
                "a indices axis",
            ),
            (
                np.take_along_axis,
                lambda arr, indices, axis=-1: as_tensor(arr).take_along_axis(indices, axis),
                "arr indices axis",
            ),
        )
    }
)
