"""Primitives that move entries without changing them: reshape, transpose, broadcast, index,
concatenate, stack. Their backward moves the gradient back to where each entry came from.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.primitives.base import Grads, Primitive, Saved, plain_values
from chainrule.primitives.broadcast import sum_to_shape
from chainrule.primitives.call import call
from chainrule.primitives.reading import Rule, linear_map


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
        return x.reshape(shape), x.shape

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        return (grad_out.reshape(saved),)


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
        return x.transpose(axes), tuple(int(i) for i in np.argsort(axes))

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        return (grad_out.transpose(saved),)


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
        return np.broadcast_to(x, shape), x.shape

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        return (sum_to_shape(grad_out, saved),)


def is_basic_index(index: Any) -> bool:
    """True for ints, slices, None and Ellipsis only: such an index never repeats an entry."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(
        isinstance(part, (int, np.integer, slice)) or part is None or part is Ellipsis
        for part in parts
    )


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
        parts = index if isinstance(index, tuple) else (index,)
        if is_basic_index(index) and not any(part is Ellipsis for part in parts):
            # A trailing ... makes NumPy return a 0-d view instead of a scalar copy, so
            # x[0, 0].add_(1) writes through (as PyTorch); other results are the same.
            view_index = (*parts, Ellipsis)
            return x[view_index], (x.shape, index)
        return x[index], (x.shape, index)

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
        raw = plain_values(values)
        out = np.zeros(shape, dtype=raw.dtype)
        if is_basic_index(index):
            out[index] = raw
        else:
            np.add.at(out, index, raw)
        return out, index

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        return (grad_out[saved],)


def _along(axis: int, part: int | slice) -> tuple[slice | int, ...]:
    """An index taking `part` along `axis` and everything along the axes before it."""
    everything: tuple[slice | int, ...] = (slice(None),) * axis
    return (*everything, part)


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
        bounds = np.cumsum([0] + [x.shape[axis] for x in xs])
        return np.concatenate(xs, axis=axis), (axis, bounds)

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        axis, bounds = saved
        axis %= grad_out.ndim
        return tuple(
            grad_out[_along(axis, slice(int(start), int(stop)))] if need else None
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
        return np.stack(xs, axis=axis), axis

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        axis = saved % grad_out.ndim
        return tuple(grad_out[_along(axis, i)] if need else None for i, need in enumerate(needs))
