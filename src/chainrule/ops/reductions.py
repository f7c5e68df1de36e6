"""Reductions over axes: sum, mean, max, min, with the axis checked against the tensor's
dimensions first (`_check_axes`, shared with the composites). Attached to Tensor when
chainrule.ops is imported.
"""

from __future__ import annotations

import builtins
from typing import Any, NoReturn

import numpy as np

from chainrule import primitives as P
from chainrule.primitives.reduction import Axis
from chainrule.tensor import Tensor, attach_methods


def _refuse_non_integer_axis(op: str, axis: object) -> NoReturn:
    hint = ""
    if op in ("max", "min") and isinstance(axis, (Tensor, np.ndarray)):
        other = "maximum" if op == "max" else "minimum"
        hint = (
            f"; PyTorch's x.{op}(other) is the element-wise {other}: write "
            f"chainrule.{other}(x, other)"
        )
    described = type(axis).__name__
    if isinstance(axis, (Tensor, np.ndarray)):
        described += f" of shape {axis.shape}"
    raise TypeError(
        f"{op}: axis must be an integer or a sequence of integers, got {described}{hint}"
    )


def _axis_sequence(op: str, axis: object) -> tuple[int, ...]:
    """`axis` as a tuple of integers, or a TypeError naming what was passed instead (a
    tensor as the axis would otherwise fail deep in NumPy's truth-value check)."""
    if not isinstance(axis, (tuple, list, range)):
        _refuse_non_integer_axis(op, axis)
    axes: tuple[Any, ...] = tuple(axis)
    if not builtins.all(isinstance(a, (int, np.integer)) for a in axes):
        _refuse_non_integer_axis(op, axis)
    return axes


def _check_axes(op: str, axis: Axis, ndim: int, *, distinct: bool = True) -> Axis:
    """`axis` after checking it is in range (and, if `distinct`, names no axis twice, as a
    reduction must); None (all) for a 0-d tensor, which takes axis 0 and -1 for its one
    value, as NumPy does (and (0,) or (-1,), as PyTorch does)."""
    if axis is None:
        return None
    if not isinstance(axis, (int, np.integer)):
        axis = _axis_sequence(op, axis)  # a list or range as a tuple, as the primitives take
    axes = (axis,) if isinstance(axis, (int, np.integer)) else axis
    bound = builtins.max(ndim, 1)
    for a in axes:
        if not -bound <= a < bound:
            raise ValueError(
                f"{op}: axis {a} is out of range for a tensor with {ndim} dimensions "
                f"(valid: {-bound} to {bound - 1})"
            )
    if not distinct:
        return None if ndim == 0 else axis
    positions = [int(a) % bound for a in axes]
    repeated = sorted({p for p in positions if positions.count(p) > 1})
    if repeated:
        raise ValueError(
            f"{op}: axis={axis!r} names axis {repeated[0]} more than once (a tensor with "
            f"{ndim} dimensions); list each axis once"
        )
    return None if ndim == 0 else axis


def _check_not_empty(self: Tensor, op: str, axis: Axis) -> None:
    """Refuse a max or min over no entries; an empty tensor reduced along axes of nonzero
    size (a batch of 0 rows, each row's max) gives an empty result, as NumPy and PyTorch."""
    if self.size == 0:
        axis = _check_axes(op, axis, self.ndim)
        reduced = P.normalize_axes(axis, self.ndim)
        if builtins.any(self.shape[a] == 0 for a in reduced):
            where = "" if axis is None else f" along axis {axis}"
            raise ValueError(
                f"{op}: the tensor is empty (shape {self.shape}){where}; it has no {op}"
            )


def _reduce(self: Tensor, primitive: type[P.Primitive], axis: Axis, keepdims: bool) -> Tensor:
    axis = _check_axes(primitive.name, axis, self.ndim)
    return Tensor._apply(primitive, (self,), {"axis": axis, "keepdims": keepdims})


def sum(self: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Sum over `axis` (all by default)."""
    return _reduce(self, P.Sum, axis, keepdims)


def mean(self: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Mean over `axis` (all by default)."""
    return _reduce(self, P.Mean, axis, keepdims)


def max(self: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Largest value over `axis`; ties share the gradient equally."""
    _check_not_empty(self, "max", axis)
    return _reduce(self, P.Max, axis, keepdims)


def min(self: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Smallest value over `axis`; ties share the gradient equally."""
    _check_not_empty(self, "min", axis)
    return _reduce(self, P.Min, axis, keepdims)


attach_methods(
    sum,
    mean,
    max,
    min,
)
