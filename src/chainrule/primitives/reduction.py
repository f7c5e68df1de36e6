"""Reductions: sum, mean, max, min over NumPy-style `axis` and `keepdims`.

The backward of a reduction broadcasts grad_out back over the reduced axes. The rules compute
in their inputs' array namespace (chainrule.backends) with the array API standard's functions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.backends import is_numpy, is_recording, namespace
from chainrule.primitives.base import Grads, Primitive, Saved, plain_values
from chainrule.primitives.reading import Rule, constant, entrywise

Axis = int | tuple[int, ...] | None


def normalize_axes(axis: Axis, ndim: int) -> tuple[int, ...]:
    """`axis` as a sorted tuple of non-negative axes (None means all)."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    return tuple(sorted(int(a) % ndim if ndim else int(a) for a in axes))


def keepdims_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    """`shape` with each reduced axis kept as size 1."""
    return tuple(1 if i in axes else size for i, size in enumerate(shape))


def reshaped(x: Any, shape: tuple[int, ...]) -> Any:
    """xp.reshape(x, shape). NumPy arrays and scalars and Tensors reshape by their own method:
    it computes what the standard's function does at a fraction of the cost of NumPy's function
    dispatch (np.reshape about 4 us, x.reshape under 1), and the hot rules reshape often."""
    if isinstance(x, (np.ndarray, np.generic)) or is_recording(x):
        return x.reshape(shape)
    return namespace(x).reshape(x, shape)


def reduced(x: Any, reduction: str, axis: Axis, keepdims: bool = False) -> Any:
    """xp.sum (or mean, max, min, prod: `reduction`)(x, axis=axis, keepdims=keepdims), by
    the method on NumPy arrays and scalars and Tensors (fewer Python calls than np.sum)."""
    if isinstance(x, (np.ndarray, np.generic)) or is_recording(x):
        return getattr(x, reduction)(axis=axis, keepdims=keepdims)
    return getattr(namespace(x), reduction)(x, axis=axis, keepdims=keepdims)


def _expand(grad_out: Any, shape: tuple[int, ...], axis: Axis, keepdims: bool) -> Any:
    if keepdims:
        return grad_out
    return reshaped(grad_out, keepdims_shape(shape, normalize_axes(axis, len(shape))))


class Sum(Primitive):
    """z = sum of x over axis;  dz/dx_i = 1, so grad_in is grad_out broadcast back."""

    name = "sum"
    function = "sum"
    method = "sum"
    reading = Rule("sum($a$axis_arg)", r"\textstyle\sum$axis_sub $a", (constant("1", "1"),))

    @staticmethod
    def forward(x: Any, *, axis: Axis, keepdims: bool) -> tuple[Any, Saved]:
        return reduced(x, "sum", axis, keepdims), (x.shape, axis, keepdims)

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        shape, axis, keepdims = saved
        xp = namespace(grad_out)
        return (xp.broadcast_to(_expand(grad_out, shape, axis, keepdims), shape),)


class Mean(Primitive):
    """z = sum of x over axis / n;  dz/dx_i = 1 / n, n the number of entries averaged."""

    name = "mean"
    function = "mean"
    method = "mean"
    reading = Rule(
        "mean($a$axis_arg)",
        r"\operatorname{mean}$axis_sub($a)",
        (constant("1/$n", r"\frac{1}{$n}"),),
    )

    @staticmethod
    def forward(x: Any, *, axis: Axis, keepdims: bool) -> tuple[Any, Saved]:
        count = 1
        for a in normalize_axes(axis, x.ndim):
            count *= x.shape[a]
        return reduced(x, "mean", axis, keepdims), (x.shape, axis, keepdims, count)

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        shape, axis, keepdims, count = saved
        xp = namespace(grad_out)
        return (xp.broadcast_to(_expand(grad_out / count, shape, axis, keepdims), shape),)


class Max(Primitive):
    """z = max of x over axis;  dz/dx_i = [x_i = z] / (number of ties), as PyTorch's amax."""

    name = "max"
    function = "max"
    method = "max"
    reading = Rule(
        "max($a$axis_arg)",
        r"\max$axis_sub($a)",
        (entrywise("[$a = max($a$axis_kept)] / ties", r"[$a = \max$axis_sub $a]"),),
    )

    @staticmethod
    def forward(x: Any, *, axis: Axis, keepdims: bool) -> tuple[Any, Saved]:
        out = reduced(x, "max", axis, keepdims)
        return out, _winner_weights(x, out, axis, keepdims)

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        weights, axis, keepdims = saved
        return (_expand(grad_out, weights.shape, axis, keepdims) * weights,)


class Min(Primitive):
    """z = min of x over axis;  dz/dx_i = [x_i = z] / (number of ties), as PyTorch's amin."""

    name = "min"
    function = "min"
    method = "min"
    reading = Rule(
        "min($a$axis_arg)",
        r"\min$axis_sub($a)",
        (entrywise("[$a = min($a$axis_kept)] / ties", r"[$a = \min$axis_sub $a]"),),
    )

    @staticmethod
    def forward(x: Any, *, axis: Axis, keepdims: bool) -> tuple[Any, Saved]:
        out = reduced(x, "min", axis, keepdims)
        return out, _winner_weights(x, out, axis, keepdims)

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        return Max.vjp(saved, grad_out, needs)


def _winner_weights(x: Any, out: Any, axis: Axis, keepdims: bool) -> tuple[Any, Axis, bool]:
    raw = plain_values(x)
    xp = namespace(raw)
    axes = normalize_axes(axis, raw.ndim)
    winners = raw == reshaped(plain_values(out), keepdims_shape(raw.shape, axes))
    # A slice holding NaN has no winner (NaN equals nothing): 0 / 0, NaN as torch.amax's
    # gradient, on purpose, so NumPy's "invalid value" warning is silenced for it.
    with np.errstate(invalid="ignore"):
        if is_numpy(xp):  # NumPy divides the mask itself: half the time of converting it
            weights = winners / winners.sum(axis=axes, keepdims=True).astype(raw.dtype)
            return weights.astype(raw.dtype, copy=False), axis, keepdims
        weights = xp.astype(winners, raw.dtype)
        counts = xp.sum(weights, axis=axes, keepdims=True)
        # Said outright, since XLA simplifies mask / sum(mask) and gives 0 there.
        nan = xp.full_like(counts, float("nan"))
        return xp.where(counts > 0, weights / counts, nan), axis, keepdims
