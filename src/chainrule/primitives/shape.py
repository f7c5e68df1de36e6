"""Primitives that move entries without changing them: reshape, transpose, broadcast, index,
concatenate, stack. Their backward moves the gradient back to where each entry came from.
"""

from __future__ import annotations

from itertools import accumulate
from typing import Any

import numpy as np

from chainrule.backends import namespace
from chainrule.primitives.base import Grads, Primitive, Saved, plain_values
from chainrule.primitives.broadcast import sum_to_shape
from chainrule.primitives.call import call
from chainrule.primitives.reading import Rule, linear_map
from chainrule.primitives.scatter import (
    is_basic_index,
    owned_index,
    refuse_out_of_range,
    scatter_add,
    select,
)

_NDARRAY = np.ndarray
"""Read as a global: `np.ndarray` in a rule is a module attribute read that CPython 3.11
leaves unspecialised on numpy (about 500 instructions per forward, measured by callgrind)."""


def _reshape(x: Any, shape: tuple[int, ...]) -> Any:
    """x viewed with `shape`. NumPy's method (an ndarray's or a Tensor's) costs a fifth of
    the function's dispatch, and reshapes are everywhere."""
    xp = namespace(x)
    return x.reshape(shape) if xp is np else xp.reshape(x, shape)


def _permute(x: Any, axes: tuple[int, ...]) -> Any:
    """x with its axes permuted (by the method on NumPy, as `_reshape`)."""
    xp = namespace(x)
    return x.transpose(axes) if xp is np else xp.permute_dims(x, axes)


class Reshape(Primitive):
    """z = x viewed with a new shape;  grad_in is grad_out viewed with x's shape."""

    name = "reshape"
    function = "reshape"
    method = "reshape"
    reading = Rule(
        "$a.reshape($shape)",
        r"\operatorname{reshape}($a)",
        (linear_map(". reshaped to $in_shape", r"\operatorname{reshape}(\cdot)"),),
    )
    returns_view = True

    @staticmethod
    def forward(x: Any, *, shape: tuple[int, ...]) -> tuple[Any, Saved]:
        return _reshape(x, shape), tuple(x.shape)

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        return (_reshape(grad_out, saved),)


class Transpose(Primitive):
    """z = x with axes permuted;  grad_in is grad_out with the inverse permutation."""

    name = "transpose"
    function = "transpose"
    method = "transpose"
    reading = Rule(
        "$a.transpose($axes)", r"$a^\top", (linear_map(". transposed back", r"(\cdot)^\top"),)
    )
    returns_view = True

    @staticmethod
    def forward(x: Any, *, axes: tuple[int, ...]) -> tuple[Any, Saved]:
        inverse = tuple(sorted(range(len(axes)), key=axes.__getitem__))
        return _permute(x, axes), inverse

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        return (_permute(grad_out, saved),)


class BroadcastTo(Primitive):
    """z = x repeated along broadcast axes;  grad_in sums grad_out over those axes."""

    name = "broadcast_to"
    method = "broadcast_to"
    reading = Rule(
        "broadcast_to($a, $shape)",
        r"\operatorname{broadcast}($a)",
        (linear_map("sum(.) over the broadcast axes", r"\textstyle\sum(\cdot)"),),
    )
    returns_view = True

    @staticmethod
    def forward(x: Any, *, shape: tuple[int, ...]) -> tuple[Any, Saved]:
        if tuple(x.shape) == shape:
            return x[...], shape  # a writable view: nothing is repeated
        return namespace(x).broadcast_to(x, shape), tuple(x.shape)

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        return (sum_to_shape(grad_out, saved),)


class GetItem(Primitive):
    """z = x[index];  grad_in is zero except at the selected entries, where grad_out is added
    (so an entry selected twice by an integer array gets both gradients)."""

    name = "getitem"
    method = "__getitem__"
    reading = Rule(
        "$a[$index]",
        r"$a[\ldots]",
        (linear_map("zeros with . added at [$index]", r"\operatorname{scatter}(\cdot)"),),
    )
    returns_view = True

    @staticmethod
    def forward(x: Any, *, index: Any) -> tuple[Any, Saved]:
        if type(x) is not _NDARRAY:
            refuse_out_of_range(x, index)  # JAX and CuPy would read a clamped entry
        parts = index if isinstance(index, tuple) else (index,)
        if is_basic_index(index) and not any(part is Ellipsis for part in parts):
            # A trailing ... makes NumPy return a 0-d view instead of a scalar copy, so
            # x[0, 0].add_(1) writes through (as PyTorch); other results are the same.
            view_index = (*parts, Ellipsis)
            return x[view_index], (tuple(x.shape), index)
        return select(x, index), (tuple(x.shape), owned_index(index))

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        shape, index = saved
        return (call(ScatterAdd, grad_out, shape=shape, index=index),)


class ScatterAdd(Primitive):
    """z = zeros(shape) with values added at index;  grad_in is grad_out[index]."""

    name = "scatter_add"
    reading = Rule(
        "scatter_add($a, $index)",
        r"\operatorname{scatter}($a)",
        (linear_map(".[$index]", r"(\cdot)[\ldots]"),),
    )

    @staticmethod
    def forward(values: Any, *, shape: tuple[int, ...], index: Any) -> tuple[Any, Saved]:
        # Only `index` is saved, so a recorded replay on Tensors needs the values alone.
        return scatter_add(plain_values(values), shape, index), owned_index(index)

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        return (select(grad_out, saved),)


def _along(axis: int, part: int | slice) -> tuple[Any, ...]:
    """An index taking `part` along `axis` and everything along the other axes."""
    everything: tuple[slice | int, ...] = (slice(None),) * axis
    return (*everything, part, Ellipsis)


class Concatenate(Primitive):
    """z = the inputs joined along axis;  each input's gradient is its slice of grad_out."""

    name = "concatenate"
    function = "concatenate"
    reading = Rule(
        "concatenate([$args], axis=$axis)",
        r"\operatorname{concat}($args)",
        (linear_map("slice $i of . along axis $axis", r"(\cdot)_{$i}"),),
    )

    @staticmethod
    def forward(*xs: Any, axis: int) -> tuple[Any, Saved]:
        bounds = tuple(accumulate((x.shape[axis] for x in xs), initial=0))
        return namespace(*xs).concat(xs, axis=axis), (axis, bounds)

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        axis, bounds = saved
        axis %= grad_out.ndim
        return tuple(
            grad_out[_along(axis, slice(start, stop))] if need else None
            for start, stop, need in zip(bounds[:-1], bounds[1:], needs, strict=True)
        )


class Stack(Primitive):
    """z = the inputs stacked along a new axis;  each input's gradient is its index there."""

    name = "stack"
    function = "stack"
    reading = Rule(
        "stack([$args], axis=$axis)",
        r"\operatorname{stack}($args)",
        (linear_map(".[$i] along axis $axis", r"(\cdot)_{$i}"),),
    )

    @staticmethod
    def forward(*xs: Any, axis: int) -> tuple[Any, Saved]:
        return namespace(*xs).stack(xs, axis=axis), axis

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        axis = saved % grad_out.ndim
        return tuple(grad_out[_along(axis, i)] if need else None for i, need in enumerate(needs))
