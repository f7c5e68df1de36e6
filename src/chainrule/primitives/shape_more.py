"""Primitives that rearrange or repeat entries: flip, roll, tile, repeat and pad. Their
backward sends each output entry's gradient back to the input entry it came from, summing
where one input entry appears several times (tile, repeat, the borders of reflect/edge pads).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np

from chainrule.backends import creation_device, namespace
from chainrule.primitives.base import Grads, Primitive, Saved
from chainrule.primitives.call import call
from chainrule.primitives.reading import Rule, linear_map
from chainrule.primitives.shape import ScatterAdd

PadMode = Literal["constant", "reflect", "edge"]
PAD_MODES: tuple[PadMode, ...] = ("constant", "reflect", "edge")


class Flip(Primitive):
    """z = x reversed along `axis` (a tuple of axes);  grad_in is grad_out reversed along the
    same axes (a flip is its own inverse and its own transpose)."""

    name = "flip"
    function = "flip"
    method = "flip"
    reading = Rule(
        "flip($a, axis=$axis)",
        r"\operatorname{flip}($a)",
        (linear_map("flip(., axis=$axis)", r"\operatorname{flip}(\cdot)"),),
    )
    returns_view = True

    @staticmethod
    def forward(x: Any, *, axis: tuple[int, ...]) -> tuple[Any, Saved]:
        return namespace(x).flip(x, axis=axis), axis

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        return (call(Flip, grad_out, axis=saved),)


class Roll(Primitive):
    """z = x shifted cyclically by `shift` along `axis` (over the flattened values when axis
    is None), as np.roll;  grad_in is grad_out rolled back by -shift."""

    name = "roll"
    function = "roll"
    method = "roll"
    reading = Rule(
        "roll($a, $shift, axis=$axis)",
        r"\operatorname{roll}($a)",
        (linear_map("roll(., $shift_back, axis=$axis)", r"\operatorname{roll}^{-1}(\cdot)"),),
    )

    @staticmethod
    def forward(
        x: Any, *, shift: int | tuple[int, ...], axis: int | tuple[int, ...] | None
    ) -> tuple[Any, Saved]:
        back = -shift if isinstance(shift, int) else tuple(-s for s in shift)
        return namespace(x).roll(x, shift, axis=axis), (back, axis)

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        back, axis = saved
        return (call(Roll, grad_out, shift=back, axis=axis),)


class Tile(Primitive):
    """z = x repeated `reps[i]` times along axis i, whole blocks after each other (np.tile;
    torch's Tensor.repeat);  grad_in sums grad_out over the copies:
    grad_out viewed as (r0, n0, r1, n1, ...) and summed over the r axes."""

    name = "tile"
    function = "tile"
    method = "tile"
    reading = Rule(
        "tile($a, $reps)",
        r"\operatorname{tile}($a)",
        (linear_map("sum of . over the $reps tiles", r"\textstyle\sum_{\text{tiles}}(\cdot)"),),
    )

    @staticmethod
    def forward(x: Any, *, reps: tuple[int, ...]) -> tuple[Any, Saved]:
        ndim = max(len(reps), x.ndim)
        full_shape = (1,) * (ndim - x.ndim) + tuple(x.shape)
        full_reps = (1,) * (ndim - len(reps)) + reps
        return namespace(x).tile(x, reps), (tuple(x.shape), full_shape, full_reps)

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        shape, full_shape, full_reps = saved
        interleaved = tuple(
            size for rep, n in zip(full_reps, full_shape, strict=True) for size in (rep, n)
        )
        tile_axes = tuple(2 * i for i, rep in enumerate(full_reps) if rep != 1)
        xp = namespace(grad_out)
        grad_in = xp.reshape(grad_out, interleaved)
        if tile_axes:
            grad_in = xp.sum(grad_in, axis=tile_axes)
        return (xp.reshape(grad_in, shape),)


class Repeat(Primitive):
    """z = each entry of x repeated `repeats` times in place along `axis` (np.repeat; torch's
    repeat_interleave), over the flattened values when axis is None;  grad_in[j] is the sum
    of grad_out over the copies of entry j."""

    name = "repeat"
    function = "repeat"
    method = "repeat"
    reading = Rule(
        "repeat($a, $repeats, axis=$axis)",
        r"\operatorname{repeat}($a)",
        (
            linear_map(
                "sum of . over each entry's copies", r"\textstyle\sum_{\text{copies}}(\cdot)"
            ),
        ),
    )

    @staticmethod
    def forward(x: Any, *, repeats: int | tuple[int, ...], axis: int | None) -> tuple[Any, Saved]:
        xp = namespace(x)
        saved = (tuple(x.shape), repeats, axis)
        if isinstance(repeats, int) or xp is np:
            return xp.repeat(x, repeats, axis=axis), saved
        # Per-entry counts elsewhere as a gather by a source index built here from the
        # counts (settings, fixed for the trace): jax.jit cannot take them as an array (the
        # output's length would depend on traced values), while an index of known length is.
        lines = x if axis is not None else xp.reshape(x, (-1,))
        along = 0 if axis is None else axis
        source = np.repeat(np.arange(lines.shape[along]), repeats)
        index = xp.asarray(source, device=getattr(x, "device", None))
        return xp.take(lines, index, axis=along), saved

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        shape, repeats, axis = saved
        lines = (math.prod(shape),) if axis is None else shape
        along = 0 if axis is None else axis
        xp = namespace(grad_out)
        if isinstance(repeats, int):
            # The copies of one entry sit next to each other: view them as a new axis, sum it.
            grouped = (*lines[:along], lines[along], repeats, *lines[along + 1 :])
            summed = xp.sum(xp.reshape(grad_out, grouped), axis=along + 1)
            return (xp.reshape(summed, shape),)
        source = np.repeat(np.arange(lines[along]), repeats)
        index = (*(slice(None),) * along, source)
        return (xp.reshape(call(ScatterAdd, grad_out, shape=lines, index=index), shape),)


def pad_constant(
    xp: Any,
    x: Any,
    pad_width: tuple[tuple[int, int], ...],
    constant_values: tuple[tuple[float, float], ...],
) -> Any:
    """np.pad's constant mode in the standard: each axis's two blocks of constants joined
    to x, the last axis first, so that (as in NumPy) a corner takes the first axis's value."""
    out = x
    for axis in reversed(range(x.ndim)):
        parts = []
        for width, value in zip(pad_width[axis], constant_values[axis], strict=True):
            block = (*out.shape[:axis], width, *out.shape[axis + 1 :])
            parts.append(xp.full(block, value, dtype=x.dtype, device=creation_device(x)))
        out = xp.concat([parts[0], out, parts[1]], axis=axis)
    return out


def _pad_slices(pad_width: tuple[tuple[int, int], ...], shape: tuple[int, ...]) -> Any:
    return tuple(slice(before, before + n) for (before, _), n in zip(pad_width, shape, strict=True))


class Pad(Primitive):
    """z = x with `pad_width[i] = (before, after)` entries added on each side of axis i, as
    np.pad: `constant_values` (mode "constant"), x's mirror image without the edge entry
    ("reflect"), or the edge entry repeated ("edge").

    grad_in is grad_out's interior for "constant"; for "reflect" and "edge" each padded entry
    is a copy of an input entry, so its gradient is added to that entry's.
    """

    name = "pad"
    function = "pad"
    method = "pad"
    reading = Rule(
        "pad($a, $pad_width, mode=$mode)",
        r"\operatorname{pad}($a)",
        (
            linear_map(
                ". cropped, padding folded back onto its source", r"\operatorname{crop}(\cdot)"
            ),
        ),
    )

    @staticmethod
    def forward(
        x: Any,
        *,
        pad_width: tuple[tuple[int, int], ...],
        mode: PadMode,
        constant_values: tuple[tuple[float, float], ...],
    ) -> tuple[Any, Saved]:
        xp = namespace(x)
        shape = tuple(x.shape)
        if x.ndim == 0:
            # No axis to pad, and np.pad refuses an empty pad_width: a copy of x.
            return (np.pad(x, 0) if xp is np else xp.asarray(x, copy=True)), (shape, ())
        if mode == "constant":
            if xp is np:
                values = np.array(constant_values)
                out = np.pad(x, np.array(pad_width, dtype=np.intp), constant_values=values)
            else:
                out = pad_constant(xp, x, pad_width, constant_values)
            return out, (shape, _pad_slices(pad_width, shape))
        # Each padded entry copies one input entry: np.pad of the positions names which.
        sources = [
            np.pad(np.arange(n), pair, mode=mode) for n, pair in zip(shape, pad_width, strict=True)
        ]
        if xp is np:
            out = np.pad(x, np.array(pad_width, dtype=np.intp), mode=mode)
        else:
            out = x
            for axis, source in enumerate(sources):
                out = xp.take(out, xp.asarray(source, device=creation_device(x)), axis=axis)
        return out, (shape, np.ix_(*sources))

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        shape, index = saved
        if all(isinstance(part, slice) for part in index):
            interior = (*index, Ellipsis)
            return (grad_out[interior],)
        return (call(ScatterAdd, grad_out, shape=shape, index=index),)
