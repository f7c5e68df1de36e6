"""Convolutions and pooling over NCL / NCHW arrays, in PyTorch's layout and semantics.

A convolution is a strided window view of the padded input (no copy) turned into columns
once (im2col) and multiplied by the weight in one matrix product per layer; groups are a
batch axis of that product. Its backward is the same two moves transposed: the weight's
gradient is one product of grad_out with the columns, the input's a product with the weight
followed by a scatter back through the windows, one slice-add per kernel offset (col2im).

Other array libraries than NumPy have no strided views and may have no writes into slices
(JAX's arrays are immutable): there the windows are the kernel's strided slices stacked,
and each slice-add goes through `scatter.add_at` (JAX's .at[].add, or gathers in the
standard), in the same order, so the sums round as NumPy's do.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.backends import creation_device, is_recording, namespace
from chainrule.primitives.base import Grads, Primitive, Saved, plain_values
from chainrule.primitives.call import call
from chainrule.primitives.reading import Rule, linear_map
from chainrule.primitives.scatter import add_at
from chainrule.primitives.shape import GetItem, ScatterAdd
from chainrule.primitives.shape_more import pad_constant

Pairs = tuple[tuple[int, int], ...]
"""Padding per spatial axis: (before, after)."""


def output_size(padded: int, kernel: int, stride: int, dilation: int) -> int:
    """Windows along one axis of a padded extent: (padded - dilation (kernel - 1) - 1) //
    stride + 1."""
    return (padded - dilation * (kernel - 1) - 1) // stride + 1


def padded_shape(shape: tuple[int, ...], padding: Pairs) -> tuple[int, ...]:
    """`shape` (N, C, *size) with each spatial size grown by its padding."""
    grown = (
        size + before + after for size, (before, after) in zip(shape[2:], padding, strict=True)
    )
    return (*shape[:2], *grown)


def _pad(x: Any, padding: Pairs, value: float = 0.0) -> Any:
    """x with `value` added around its spatial axes (the axes after N and C)."""
    if not any(before or after for before, after in padding):
        return x
    xp = namespace(x)
    if xp is not np:
        return pad_constant(xp, x, ((0, 0), (0, 0), *padding), ((value, value),) * x.ndim)
    padded = np.full(padded_shape(x.shape, padding), value, dtype=x.dtype)
    padded[_interior(x.shape[2:], padding)] = x
    return padded


def _interior(sizes: tuple[int, ...], padding: Pairs) -> tuple[slice, ...]:
    """The index of the unpadded input inside its padded array."""
    return (
        slice(None),
        slice(None),
        *(slice(before, before + size) for size, (before, _) in zip(sizes, padding, strict=True)),
    )


def _windows(
    padded: np.ndarray, kernel: tuple[int, ...], stride: tuple[int, ...], dilation: tuple[int, ...]
) -> np.ndarray:
    """The read-only view (N, C, *out, *kernel) of every window of `padded`, no copy."""
    sizes = padded.shape[2:]
    out = tuple(
        output_size(size, k, s, d)
        for size, k, s, d in zip(sizes, kernel, stride, dilation, strict=True)
    )
    steps = padded.strides[2:]
    return np.lib.stride_tricks.as_strided(
        padded,
        (*padded.shape[:2], *out, *kernel),
        (
            *padded.strides[:2],
            *(step * s for step, s in zip(steps, stride, strict=True)),
            *(step * d for step, d in zip(steps, dilation, strict=True)),
        ),
        writeable=False,
    )


def _offset_slices(
    kernel: tuple[int, ...],
    out: tuple[int, ...],
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
) -> list[tuple[slice, ...]]:
    """For each kernel offset (row-major), the strided slice of the padded input that the
    offset reads in every window: where a gradient is added back (col2im)."""
    slices = []
    for offset in np.ndindex(*kernel):
        slices.append(
            (
                slice(None),
                slice(None),
                *(
                    slice(k * d, k * d + s * (o - 1) + 1, s)
                    for k, o, s, d in zip(offset, out, stride, dilation, strict=True)
                ),
            )
        )
    return slices


def _columns(
    x: Any,
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    padding: Pairs,
    dilation: tuple[int, ...],
    groups: int,
) -> tuple[Any, tuple[int, ...]]:
    """im2col: (groups, C/groups * prod(kernel), N * prod(out)) columns of the padded input,
    and the output's spatial size."""
    xp = namespace(x)
    padded = _pad(x, padding)
    out = tuple(
        output_size(size, k, s, d)
        for size, k, s, d in zip(padded.shape[2:], kernel, stride, dilation, strict=True)
    )
    if xp is np:
        windows = _windows(padded, kernel, stride, dilation)  # (N, C, *out, *kernel)
    else:  # (N, C, *out, prod(kernel)): the offsets' slices, row-major as the kernel
        slices = _offset_slices(kernel, out, stride, dilation)
        windows = xp.stack([padded[where] for where in slices], axis=-1)
    batch, channels = x.shape[:2]
    spatial = len(kernel)
    grouped = xp.reshape(windows, (batch, groups, channels // groups, *windows.shape[2:]))
    order = (1, 2, *range(3 + spatial, grouped.ndim), 0, *range(3, 3 + spatial))
    columns = xp.reshape(
        xp.permute_dims(grouped, order),
        (groups, (channels // groups) * math.prod(kernel), batch * math.prod(out)),
    )
    return columns, out


def _per_group(a: Any, b: Any) -> Any:
    """a[g] @ b[g] for each group g: on NumPy 2-D products, as NumPy hands 2-D operands to
    BLAS but runs a stacked (3-D) matmul of these shapes up to 20 times slower."""
    xp = namespace(a, b)
    if xp is not np:
        return xp.matmul(a, b)
    out = np.empty((a.shape[0], a.shape[1], b.shape[2]), dtype=np.result_type(a, b))
    for group in range(a.shape[0]):
        np.matmul(a[group], b[group], out=out[group])
    return out


def _grouped_rows(grad_out: Any, groups: int) -> Any:
    """grad_out (N, C_out, *out) as (groups, C_out/groups, N * prod(out)) rows."""
    xp = namespace(grad_out)
    batch, channels = grad_out.shape[:2]
    # Sizes spelled out, not -1: NumPy cannot infer an axis of an empty batch.
    positions = math.prod(grad_out.shape[2:])
    rows = xp.reshape(grad_out, (batch, groups, channels // groups, positions))
    return xp.reshape(
        xp.permute_dims(rows, (1, 2, 0, 3)), (groups, channels // groups, batch * positions)
    )


def _convolve(
    x: Any,
    w: Any,
    stride: tuple[int, ...],
    padding: Pairs,
    dilation: tuple[int, ...],
    groups: int,
) -> tuple[Any, Any]:
    """(out, columns): out[n, o] = sum over c, k of w[o, c, k] x_padded[n, c, s out + d k]."""
    xp = namespace(x, w)
    kernel = tuple(w.shape[2:])
    columns, out = _columns(x, kernel, stride, padding, dilation, groups)
    channels_out = w.shape[0]
    product = _per_group(xp.reshape(w, (groups, channels_out // groups, -1)), columns)
    # The product holds (C_out, N, *out) in memory: returned as its (N, C_out, *out) view,
    # without a copy. Element-wise ops keep that layout, and the next convolution's columns
    # and this one's gradient rows read it channel by channel, as they need it.
    result = xp.reshape(product, (channels_out, x.shape[0], *out))
    return xp.permute_dims(result, (1, 0, *range(2, 2 + len(out)))), columns


def _transposed(
    grad_out: Any,
    w: Any,
    input_shape: tuple[int, ...],
    stride: tuple[int, ...],
    padding: Pairs,
    dilation: tuple[int, ...],
    groups: int,
) -> Any:
    """dL/dx of a convolution (a transposed convolution): for each kernel offset, w[..., k]^T
    @ grad_out rows gives what every window sends back through that offset, added into the
    padded input's strided slice there (col2im); then cropped to the unpadded input.

    One product per offset keeps each temporary the input's size instead of kernel-size
    times that (the full columns), which NumPy would allocate and fault in afresh each step.
    """
    xp = namespace(grad_out, w)
    kernel = tuple(w.shape[2:])
    channels_out = w.shape[0]
    batch, channels = input_shape[:2]
    out = tuple(grad_out.shape[2:])
    rows = _grouped_rows(grad_out, groups)
    taps = xp.reshape(w, (groups, channels_out // groups, channels // groups, -1))
    # Accumulated as (C, N, *padded) in memory, the layout the products come in; the
    # result is its (N, C, *size) view.
    swapped = (input_shape[1], input_shape[0], *input_shape[2:])
    dtype = xp.result_type(grad_out, w)
    grad_padded = xp.zeros(
        padded_shape(swapped, padding), dtype=dtype, device=creation_device(grad_out)
    )
    for tap, where in enumerate(_offset_slices(kernel, out, stride, dilation)):
        sent = _per_group(xp.permute_dims(taps[..., tap], (0, 2, 1)), rows)
        grad_padded = add_at(grad_padded, where, xp.reshape(sent, (channels, batch, *out)))
    cropped = grad_padded[_interior(swapped[2:], padding)]
    return xp.permute_dims(cropped, (1, 0, *range(2, cropped.ndim)))


def _weight_gradient(
    columns: Any, grad_out: Any, weight_shape: tuple[int, ...], groups: int
) -> Any:
    """dL/dw of a convolution: grad_out rows @ columns^T, one product per group."""
    xp = namespace(columns, grad_out)
    product = _per_group(_grouped_rows(grad_out, groups), xp.permute_dims(columns, (0, 2, 1)))
    return xp.reshape(product, weight_shape)


class _Convolution(Primitive):
    """z = conv(x, w) [+ b] for x (N, C_in, *size), w (C_out, C_in / groups, *kernel),
    b (C_out,): z[n, o, p] = sum over c, k of w[o, c, k] x_pad[n, c, stride p + dilation k]
    (a cross-correlation, as PyTorch); dL/dx = the transposed convolution of grad_out with
    w (w flipped), dL/dw = grad_out correlated with the windows of x, dL/db = grad_out
    summed over the batch and every position.
    """

    @staticmethod
    def forward(
        x: Any,
        w: Any,
        *bias: Any,
        stride: tuple[int, ...],
        padding: Pairs,
        dilation: tuple[int, ...],
        groups: int,
    ) -> tuple[Any, Saved]:
        out, columns = _convolve(
            plain_values(x), plain_values(w), stride, padding, dilation, groups
        )
        if bias:
            xp = namespace(out)
            per_channel = xp.reshape(plain_values(bias[0]), (-1,) + (1,) * (out.ndim - 2))
            # In place only when the sum keeps out's dtype: a wider bias (float64 on float32
            # x and w) promotes the result, as x + b does, instead of being rounded into it.
            if xp is np and np.result_type(out, per_channel) == out.dtype:
                out += per_channel
            else:
                out = out + per_channel
        # On Tensors (a recorded backward) the vjp runs as recorded primitives: no columns.
        recorded = is_recording(x) or is_recording(w)
        geometry = (stride, padding, dilation, groups)
        return out, (x, w, None if recorded else columns, geometry)

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        x, w, columns, geometry = saved
        stride, padding, dilation, groups = geometry
        grad_x = grad_w = grad_b = None
        fast = columns is not None and not is_recording(grad_out)
        if needs[0]:
            if fast:
                grad_x = _transposed(grad_out, w, x.shape, *geometry)
            else:
                grad_x = call(
                    ConvTranspose,
                    grad_out,
                    w,
                    input_shape=tuple(x.shape),
                    stride=stride,
                    padding=padding,
                    dilation=dilation,
                    groups=groups,
                )
        if needs[1]:
            if fast:
                grad_w = _weight_gradient(columns, grad_out, w.shape, groups)
            else:
                grad_w = call(
                    ConvWeightGrad,
                    x,
                    grad_out,
                    weight_shape=tuple(w.shape),
                    stride=stride,
                    padding=padding,
                    dilation=dilation,
                    groups=groups,
                )
        if len(needs) == 2:
            return grad_x, grad_w
        if needs[2]:
            grad_b = namespace(grad_out).sum(grad_out, axis=(0, *range(2, grad_out.ndim)))
        return grad_x, grad_w, grad_b


def _conv_reading(name: str) -> Rule:
    return Rule(
        f"{name}($args)",
        rf"\operatorname{{{name}}}($args)",
        (
            linear_map(
                "conv_transpose(., $b): $b flipped, as a transposed convolution",
                r"(\cdot) \star^\top $b",
            ),
            linear_map("windows of $a correlated with .", r"\operatorname{win}($a) \star (\cdot)"),
            linear_map("sum(.) over the batch and every position", r"\textstyle\sum(\cdot)"),
        ),
    )


class Conv1d(_Convolution):
    __doc__ = _Convolution.__doc__
    name = "conv1d"
    reading = _conv_reading("conv1d")


class Conv2d(_Convolution):
    __doc__ = _Convolution.__doc__
    name = "conv2d"
    reading = _conv_reading("conv2d")


class ConvTranspose(Primitive):
    """z = conv_transpose(g, w): the gradient of a convolution with respect to its input,
    as its own op so that gradients of gradients are recorded. It is linear in each
    argument: dL/dg = conv(dL/dz, w), dL/dw = the weight gradient of conv(dL/dz, w) at g.
    """

    name = "conv_transpose"
    reading = Rule(
        "conv_transpose($a, $b)",
        r"$a \star^\top $b",
        (
            linear_map("conv(., $b)", r"(\cdot) \star $b"),
            linear_map("windows of . correlated with $a", r"\operatorname{win}(\cdot) \star $a"),
        ),
    )

    @staticmethod
    def forward(
        grad_out: Any,
        w: Any,
        *,
        input_shape: tuple[int, ...],
        stride: tuple[int, ...],
        padding: Pairs,
        dilation: tuple[int, ...],
        groups: int,
    ) -> tuple[Any, Saved]:
        geometry = (stride, padding, dilation, groups)
        out = _transposed(plain_values(grad_out), plain_values(w), input_shape, *geometry)
        return out, (grad_out, w, geometry)

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        upstream, w, (stride, padding, dilation, groups) = saved
        geometry = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
        primitive = Conv1d if len(stride) == 1 else Conv2d
        grad_upstream = call(primitive, grad_out, w, **geometry) if needs[0] else None
        grad_w = (
            call(ConvWeightGrad, grad_out, upstream, weight_shape=tuple(w.shape), **geometry)
            if needs[1]
            else None
        )
        return grad_upstream, grad_w


class ConvWeightGrad(Primitive):
    """z = conv_weight_grad(x, g): the gradient of a convolution with respect to its weight
    (g correlated with the windows of x), as its own op so that gradients of gradients are
    recorded. It is linear in each argument: dL/dx = conv_transpose(g, dL/dz),
    dL/dg = conv(x, dL/dz).
    """

    name = "conv_weight_grad"
    reading = Rule(
        "conv_weight_grad($a, $b)",
        r"\operatorname{windows}($a) \star $b",
        (
            linear_map("conv_transpose($b, .)", r"$b \star^\top (\cdot)"),
            linear_map("conv($a, .)", r"$a \star (\cdot)"),
        ),
    )

    @staticmethod
    def forward(
        x: Any,
        grad_out: Any,
        *,
        weight_shape: tuple[int, ...],
        stride: tuple[int, ...],
        padding: Pairs,
        dilation: tuple[int, ...],
        groups: int,
    ) -> tuple[Any, Saved]:
        raw_x = plain_values(x)
        columns, _ = _columns(raw_x, weight_shape[2:], stride, padding, dilation, groups)
        out = _weight_gradient(columns, plain_values(grad_out), weight_shape, groups)
        return out, (x, grad_out, (stride, padding, dilation, groups))

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        x, upstream, (stride, padding, dilation, groups) = saved
        geometry = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
        primitive = Conv1d if len(stride) == 1 else Conv2d
        grad_x = (
            call(ConvTranspose, upstream, grad_out, input_shape=tuple(x.shape), **geometry)
            if needs[0]
            else None
        )
        grad_upstream = call(primitive, x, grad_out, **geometry) if needs[1] else None
        return grad_x, grad_upstream


# ------------------------------------------------------------------ pooling
def _pool_geometry(
    shape: tuple[int, ...],
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    padding: Pairs,
    dilation: tuple[int, ...],
) -> tuple[tuple[int, ...], list[tuple[slice, ...]]]:
    """The pooled spatial size and, per kernel offset, the slice of the padded input it
    reads in every window."""
    out = tuple(
        output_size(size + sum(pair), k, s, d)
        for size, pair, k, s, d in zip(shape[2:], padding, kernel, stride, dilation, strict=True)
    )
    return out, _offset_slices(kernel, out, stride, dilation)


def _max_pool_standard(
    xp: Any, padded: Any, inside: Any, slices: list[tuple[slice, ...]]
) -> tuple[Any, Any]:
    """max_pool2d's forward without writes: the maximum over the offsets' slices and, per
    offset, where that offset holds its window's winner (K, N, C, *out), as `_winners`."""
    out = padded[slices[0]]
    for where in slices[1:]:
        out = xp.maximum(out, padded[where])
    return out, _winners(xp, padded, inside, slices)


def _winners(xp: Any, padded: Any, inside: Any, slices: list[tuple[slice, ...]]) -> Any:
    """Per offset, where it holds its window's winner (K, N, C, *out), chosen as PyTorch
    chooses: a scan of the window's entries inside the input in row-major order, starting
    at the first of them with -inf as the best so far, that moves to an entry greater than
    the best or NaN. So the first maximum wins, the last NaN wins over any number, and an
    entry of the input (never the padding) wins a window of -inf. `inside` marks the padded
    array's entries that belong to the input (None: no padding)."""
    best = xp.full_like(padded[slices[0]], -math.inf)
    index = xp.full_like(best, -1, dtype=xp.int32)
    for offset, where in enumerate(slices):
        values = padded[where]
        within = xp.ones_like(values, dtype=xp.bool) if inside is None else inside[where]
        better = xp.logical_and(within, xp.logical_or(values > best, xp.isnan(values)))
        first_inside = xp.logical_and(within, index < 0)
        best = xp.where(better, values, best)
        index = xp.where(xp.logical_or(better, first_inside), offset, index)
    return xp.stack([index == offset for offset in range(len(slices))], axis=0)


def _inside(xp: Any, x: Any, padding: Pairs) -> Any:
    """The mask of x's padded array marking x's own entries (None without padding)."""
    if not any(before or after for before, after in padding):
        return None
    return _pad(xp.ones_like(x, dtype=xp.bool), padding, False)


class MaxPool2d(Primitive):
    """z[n, c, p] = max over the window k of x_pad[n, c, stride p + dilation k] (padding
    reads -inf);  dz/dx is 1 at the window's winner and 0 elsewhere, so grad_in gets each
    grad_out entry added at its window's argmax. The winner is PyTorch's: the first maximum
    (row-major) on ties, the last NaN where the window holds NaN, the first entry of the
    input (not the padding) in a window of -inf.
    """

    name = "max_pool2d"
    reading = Rule(
        "max_pool2d($a)",
        r"\operatorname{maxpool}($a)",
        (linear_map(". routed to each window's max of $a", r"\operatorname{unpool}(\cdot)"),),
    )

    @staticmethod
    def forward(
        x: Any,
        *,
        kernel_size: tuple[int, ...],
        stride: tuple[int, ...],
        padding: Pairs,
        dilation: tuple[int, ...],
    ) -> tuple[Any, Saved]:
        raw = plain_values(x)
        xp = namespace(raw)
        shape = tuple(raw.shape)
        padded = _pad(raw, padding, -math.inf)
        _, slices = _pool_geometry(shape, kernel_size, stride, padding, dilation)
        geometry = (kernel_size, stride, padding, dilation)
        if xp is not np:
            inside = _inside(xp, raw, padding)
            out, firsts = _max_pool_standard(xp, padded, inside, slices)
            return out, (firsts, shape, geometry)
        # One maximum per kernel offset over whole output-sized slices (no copy of the
        # windows); then, per offset, where it is the window's first maximum (boolean masks
        # cost a tenth of an index array's scatter).
        out = padded[slices[0]].copy()
        for where in slices[1:]:
            np.maximum(out, padded[where], out=out)
        firsts = np.empty((len(slices), *out.shape), dtype=bool)
        taken = np.zeros(out.shape, dtype=bool)
        for offset, where in enumerate(slices):
            equal = padded[where] == out
            np.logical_and(equal, np.logical_not(taken), out=firsts[offset])
            taken |= equal
        # A maximum of NaN equals nothing and one of -inf equals the padding: there PyTorch's
        # scan picks the winner (rare, so the common case keeps the masks above).
        if np.isnan(out).any() or np.isneginf(out).any():
            firsts = _winners(np, padded, _inside(np, raw, padding), slices)
        return out, (firsts, shape, geometry)

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        firsts, shape, (kernel, stride, padding, dilation) = saved
        out, slices = _pool_geometry(shape, kernel, stride, padding, dilation)
        interior = _interior(shape[2:], padding)
        if is_recording(grad_out):
            # Recorded: a scatter of grad_out to the winners' positions, then a crop, both
            # primitives with their own derivatives.
            rows, cols = np.divmod(np.argmax(firsts, axis=0), kernel[1])
            index = (
                np.arange(shape[0]).reshape(-1, 1, 1, 1),
                np.arange(shape[1]).reshape(1, -1, 1, 1),
                np.arange(out[0]).reshape(1, 1, -1, 1) * stride[0] + rows * dilation[0],
                np.arange(out[1]).reshape(1, 1, 1, -1) * stride[1] + cols * dilation[1],
            )
            scattered = call(ScatterAdd, grad_out, shape=padded_shape(shape, padding), index=index)
            return (call(GetItem, scattered, index=interior),)
        xp = namespace(grad_out)
        if xp is not np:
            grad_padded = xp.zeros(
                padded_shape(shape, padding),
                dtype=grad_out.dtype,
                device=creation_device(grad_out),
            )
            for offset, where in enumerate(slices):
                first = xp.astype(firsts[offset, ...], grad_out.dtype)
                grad_padded = add_at(grad_padded, where, grad_out * first)
            return (grad_padded[interior],)
        grad_padded = np.zeros(padded_shape(shape, padding), dtype=grad_out.dtype)
        disjoint = all(
            s >= d * (k - 1) + 1 for k, s, d in zip(kernel, stride, dilation, strict=True)
        )
        for first, where in zip(firsts, slices, strict=True):
            if disjoint:  # each entry in one window at most: write instead of add
                np.multiply(grad_out, first, out=grad_padded[where])
            else:
                grad_padded[where] += grad_out * first
        return (grad_padded[interior],)


def avg_pool_divisor(
    shape: tuple[int, ...],
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    padding: Pairs,
    counted: Pairs,
    dtype: np.dtype[Any],
) -> np.ndarray:
    """How many entries each window averages, (*out): the entries of the padded input that
    lie within `counted` of the input (its padding for count_include_pad, else none; never
    the extra right padding ceil_mode adds)."""
    mask = np.zeros(padded_shape((1, 1, *shape[2:]), padding), dtype)
    inside = tuple(
        slice(before - extra, before + size + extra_after)
        for size, (before, _), (extra, extra_after) in zip(shape[2:], padding, counted, strict=True)
    )
    where: tuple[int | slice, ...] = (0, 0, *inside)
    mask[where] = 1
    windows = _windows(mask, kernel, stride, (1,) * len(kernel))
    counts: np.ndarray = windows.sum(axis=tuple(range(-len(kernel), 0)))[0, 0]
    return counts


def _divisor(
    xp: Any,
    shape: tuple[int, ...],
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    padding: Pairs,
    counted: Pairs,
    like: Any,
) -> Any:
    """avg_pool_divisor as an array of `xp` in `like`'s dtype, on its device (counted on the
    host: geometry only)."""
    if xp is np:
        return avg_pool_divisor(shape, kernel, stride, padding, counted, like.dtype)
    counts = avg_pool_divisor(shape, kernel, stride, padding, counted, np.dtype(np.float64))
    return xp.asarray(counts, dtype=like.dtype, device=creation_device(like))


class AvgPool2d(Primitive):
    """z[n, c, p] = (sum over the window k of x_pad[n, c, stride p + k]) / count[p], count
    the window's entries that are averaged (padding included or not, as PyTorch's
    count_include_pad);  dz/dx = 1 / count[p] at each entry of window p, so grad_in spreads
    each grad_out entry, divided by its count, over its window.
    """

    name = "avg_pool2d"
    reading = Rule(
        "avg_pool2d($a)",
        r"\operatorname{avgpool}($a)",
        (
            linear_map(
                ". / each window's count, spread over its window", r"\operatorname{spread}(\cdot)"
            ),
        ),
    )

    @staticmethod
    def forward(
        x: Any,
        *,
        kernel_size: tuple[int, ...],
        stride: tuple[int, ...],
        padding: Pairs,
        counted: Pairs,
    ) -> tuple[Any, Saved]:
        raw = plain_values(x)
        xp = namespace(raw)
        shape = tuple(raw.shape)
        ones = (1,) * len(kernel_size)
        out, slices = _pool_geometry(shape, kernel_size, stride, padding, ones)
        padded = _pad(raw, padding)
        divisor = _divisor(xp, shape, kernel_size, stride, padding, counted, raw)
        total = xp.zeros((*shape[:2], *out), dtype=raw.dtype, device=creation_device(raw))
        if xp is np:
            for where in slices:
                total += padded[where]
            total /= divisor
        else:
            for where in slices:
                total = total + padded[where]
            total = total / divisor
        return total, (shape, (kernel_size, stride, padding, counted))

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        shape, (kernel, stride, padding, counted) = saved
        return (
            call(
                AvgPool2dTranspose,
                grad_out,
                input_shape=shape,
                kernel_size=kernel,
                stride=stride,
                padding=padding,
                counted=counted,
            ),
        )


class AvgPool2dTranspose(Primitive):
    """z = avg_pool2d_transpose(g): the gradient of avg_pool2d, each g entry divided by its
    window's count and spread over its window; as its own op so that gradients of gradients
    are recorded. Linear, with dL/dg = avg_pool2d(dL/dz).
    """

    name = "avg_pool2d_transpose"
    reading = Rule(
        "avg_pool2d_transpose($a)",
        r"\operatorname{spread}($a)",
        (linear_map("avg_pool2d(.)", r"\operatorname{avgpool}(\cdot)"),),
    )

    @staticmethod
    def forward(
        grad_out: Any,
        *,
        input_shape: tuple[int, ...],
        kernel_size: tuple[int, ...],
        stride: tuple[int, ...],
        padding: Pairs,
        counted: Pairs,
    ) -> tuple[Any, Saved]:
        raw = plain_values(grad_out)
        xp = namespace(raw)
        ones = (1,) * len(kernel_size)
        _, slices = _pool_geometry(input_shape, kernel_size, stride, padding, ones)
        divisor = _divisor(xp, input_shape, kernel_size, stride, padding, counted, raw)
        spread = raw / divisor
        grad_padded = xp.zeros(
            padded_shape(input_shape, padding), dtype=raw.dtype, device=creation_device(raw)
        )
        for where in slices:
            grad_padded = add_at(grad_padded, where, spread)
        return grad_padded[_interior(input_shape[2:], padding)], (
            kernel_size,
            stride,
            padding,
            counted,
        )

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        kernel, stride, padding, counted = saved
        return (
            call(
                AvgPool2d,
                grad_out,
                kernel_size=kernel,
                stride=stride,
                padding=padding,
                counted=counted,
            ),
        )
