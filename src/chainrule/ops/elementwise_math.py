"""The element-wise math ops of two or three operands as functions (`chainrule.hypot(x, y)`)
and Tensor methods (`x.hypot(y)`): arctan2, logaddexp, hypot, fmod, remainder and lerp, and
`%` as remainder (Python's and NumPy's sign convention). Operands broadcast; a number takes
the tensor's dtype. The one-input ops (cos, floor, ...) are generated from their primitives.
Attached to Tensor when chainrule.ops is imported.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule import primitives as P
from chainrule.modes import CompileError
from chainrule.ops.operators import _binary, _operand
from chainrule.tensor import Tensor, as_tensor, attach_methods


def _two_operands(primitive: type[P.Primitive], x: Any, y: Any) -> Tensor:
    if isinstance(x, Tensor):
        return _binary(x, primitive, y, False)
    return _binary(as_tensor(y), primitive, x, True)


def arctan2(y: Any, x: Any) -> Tensor:
    """The angle of the point (x, y), in (-pi, pi]; see `Tensor.arctan2` for the derivative."""
    return _two_operands(P.Arctan2, y, x)


def logaddexp(x: Any, y: Any) -> Tensor:
    """log(exp(x) + exp(y)) without overflow; see `Tensor.logaddexp` for the derivative."""
    return _two_operands(P.Logaddexp, x, y)


def hypot(x: Any, y: Any) -> Tensor:
    """sqrt(x**2 + y**2) without overflow; see `Tensor.hypot` for the derivative."""
    return _two_operands(P.Hypot, x, y)


def fmod(x: Any, y: Any) -> Tensor:
    """x - trunc(x / y) y, with the sign of x; see `Tensor.fmod` for the derivative."""
    return _two_operands(P.Fmod, x, y)


def remainder(x: Any, y: Any) -> Tensor:
    """x - floor(x / y) y, with the sign of y (x % y); see `Tensor.remainder`."""
    return _two_operands(P.Remainder, x, y)


def lerp(start: Any, end: Any, weight: Any) -> Tensor:
    """start + weight (end - start), as torch.lerp; `weight` is a number or broadcasts with
    start and end. See `Tensor.lerp` for the derivative."""
    like = next(
        (value for value in (start, end, weight) if isinstance(value, Tensor)), as_tensor(start)
    )
    inputs = _zero_dim_floats_as_dimensioned(
        (_operand(start, like), _operand(end, like), _operand(weight, like))
    )
    try:
        return Tensor._apply(P.Lerp, inputs, {})
    except CompileError:
        raise
    except ValueError:
        P.broadcast_shapes("lerp", *(tensor.shape for tensor in inputs))
        raise


def _zero_dim_floats_as_dimensioned(inputs: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    """The float inputs of one op, a 0-d one converted to the dtype of the float inputs with
    dimensions, as PyTorch promotes (`promote` does the same for two operands): float32
    (3,) with a 0-d float64 weight is float32, where NumPy 2 gives float64."""
    dimensioned = [x.dtype for x in inputs if x.ndim and x.dtype.kind == "f"]
    if not dimensioned:
        return inputs
    target = np.result_type(*dimensioned)
    return tuple(
        x.astype(target) if x.ndim == 0 and x.dtype.kind == "f" and x.dtype != target else x
        for x in inputs
    )


def _method(name: str, primitive: type[P.Primitive]) -> Callable[[Tensor, Any], Tensor]:
    """The Tensor method `x.<name>(other)` of a two-operand primitive."""

    def method(self: Tensor, other: Any) -> Tensor:
        return _binary(self, primitive, other, False)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = primitive.__doc__
    return method


def _lerp_method(self: Tensor, end: Any, weight: Any) -> Tensor:
    return lerp(self, end, weight)


_lerp_method.__name__ = "lerp"
_lerp_method.__doc__ = P.Lerp.__doc__


def __mod__(self: Tensor, other: Any) -> Tensor:
    """self % other: remainder, with the sign of other."""
    return _binary(self, P.Remainder, other, False)


def __rmod__(self: Tensor, other: Any) -> Tensor:
    """other % self: remainder, with the sign of self."""
    return _binary(self, P.Remainder, other, True)


attach_methods(
    *(
        _method(str(primitive.method), primitive)
        for primitive in (P.Arctan2, P.Logaddexp, P.Hypot, P.Fmod, P.Remainder)
    ),
    _lerp_method,
    __mod__,
    __rmod__,
)
