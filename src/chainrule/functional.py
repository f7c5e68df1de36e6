"""Losses as functions of tensors, in the style of `torch.nn.functional`."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import primitives as P
from chainrule.tensor import Tensor, as_tensor


def linear(x: Any, weight: Any, bias: Any = None) -> Tensor:
    """x @ weight + bias, weight stored (in_features, out_features) as in the tutorial's
    x @ w1;  dL/dx = g @ weight.T,  dL/dweight = x.T @ g,  dL/dbias = g summed over rows.

    With a bias it is one fused op; without, a plain matmul.
    """
    inputs, weight_tensor = as_tensor(x), as_tensor(weight)
    if weight_tensor.ndim != 2:
        raise ValueError(
            f"linear: weight must be 2-D (in_features, out_features), got {weight_tensor.shape}"
        )
    if inputs.ndim == 0 or inputs.shape[-1] != weight_tensor.shape[0]:
        raise ValueError(
            f"linear: input {inputs.shape} @ weight {weight_tensor.shape}: the input's last "
            f"dimension must be in_features={weight_tensor.shape[0]}"
        )
    if bias is None:
        return inputs @ weight_tensor
    bias_tensor = as_tensor(bias)
    if bias_tensor.shape != (weight_tensor.shape[1],):
        raise ValueError(
            f"linear: bias has shape {bias_tensor.shape}, expected ({weight_tensor.shape[1]},) "
            "to match out_features"
        )
    return Tensor.apply(P.Linear, inputs, weight_tensor, bias_tensor)


def mse_loss(pred: Any, target: Any) -> Tensor:
    """mean((pred - target)**2) over all entries;  dL/dpred = 2 (pred - target) / n.

    The shapes must be equal: a (N,) target against (N, 1) predictions would broadcast to
    (N, N) and give a wrong loss without any error.
    """
    pred_tensor = as_tensor(pred)
    target_tensor = (
        target
        if isinstance(target, Tensor)
        else Tensor(np.asarray(target), dtype=pred_tensor.dtype)
    )
    if pred_tensor.shape != target_tensor.shape:
        raise ValueError(
            f"mse_loss: pred has shape {pred_tensor.shape} but target has shape "
            f"{target_tensor.shape}; they must match exactly (broadcasting here silently "
            "averages the wrong differences); reshape the target, e.g. y.reshape(-1, 1)"
        )
    if pred_tensor.size == 0:
        raise ValueError("mse_loss: the inputs are empty; the mean of no values is undefined")
    return Tensor.apply(P.MSELoss, pred_tensor, target_tensor)


def cross_entropy(logits: Any, targets: Any) -> Tensor:
    """mean over i of -log softmax(logits_i)[targets_i];  dL/dlogits = (softmax - onehot) / N.

    `logits` is (N, C) real scores, `targets` (N,) integer class indices in [0, C). Stable for
    logits of any size: each row's max is subtracted before exponentiating.
    """
    logits_tensor = as_tensor(logits)
    classes = np.asarray(targets.numpy() if isinstance(targets, Tensor) else targets)
    if logits_tensor.ndim != 2:
        raise ValueError(
            f"cross_entropy: logits must be (N, C), got shape {logits_tensor.shape}; "
            "reshape a single sample with logits.reshape(1, -1)"
        )
    count, num_classes = logits_tensor.shape
    if classes.dtype.kind not in "iu":
        if classes.dtype.kind == "f" and np.all(classes == np.round(classes)):
            classes = classes.astype(np.int64)
        else:
            raise TypeError(
                f"cross_entropy: targets must be integer class indices, got dtype "
                f"{classes.dtype}; for one-hot or soft targets take their argmax"
            )
    if classes.shape != (count,):
        raise ValueError(
            f"cross_entropy: targets must have shape ({count},) for logits {logits_tensor.shape}"
            f", got {classes.shape}"
        )
    if count == 0:
        raise ValueError("cross_entropy: no samples (N = 0)")
    if classes.min() < 0 or classes.max() >= num_classes:
        out_of_range = (classes < 0) | (classes >= num_classes)
        first = int(np.argmax(out_of_range))
        raise ValueError(
            f"cross_entropy: target {int(classes[first])} at index {first} is outside the "
            f"{num_classes} classes [0, {num_classes - 1}]"
        )
    return Tensor.apply(P.SoftmaxCrossEntropy, logits_tensor, targets=classes)


__all__ = ["cross_entropy", "linear", "mse_loss"]


# --- convolutions (issue 14)
_SPATIAL_NAMES = {1: "(N, C, L)", 2: "(N, C, H, W)"}


def _ints(op: str, label: str, value: Any, spatial: int, minimum: int) -> tuple[int, ...]:
    """`value` (an int or one int per spatial axis) as a tuple, each at least `minimum`."""
    values = (value,) * spatial if isinstance(value, (int, np.integer)) else tuple(value)
    if len(values) != spatial or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values
    ):
        raise TypeError(f"{op}: {label} must be an int or a tuple of {spatial} ints, got {value!r}")
    if any(v < minimum for v in values):
        raise ValueError(f"{op}: {label} must be at least {minimum} on every axis, got {value!r}")
    return tuple(int(v) for v in values)


def _batched(op: str, x: Tensor, spatial: int) -> tuple[Tensor, bool]:
    """x with a batch axis (added for an unbatched input, as PyTorch), and whether it was."""
    if x.ndim == spatial + 2:
        return x, False
    if x.ndim == spatial + 1:
        return x.reshape((1, *x.shape)), True
    raise ValueError(
        f"{op}: input must be {_SPATIAL_NAMES[spatial]} or unbatched "
        f"{_SPATIAL_NAMES[spatial].replace('N, ', '')}, got shape {x.shape}"
    )


def _check_span(
    op: str,
    sizes: tuple[int, ...],
    padding: tuple[tuple[int, int], ...],
    kernel: tuple[int, ...],
    dilation: tuple[int, ...],
) -> None:
    padded = tuple(size + sum(pair) for size, pair in zip(sizes, padding, strict=True))
    span = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True))
    if any(s > p for s, p in zip(span, padded, strict=True)):
        raise ValueError(
            f"{op}: kernel {kernel} with dilation {dilation} spans {span}, larger than the "
            f"padded input {padded} (input {sizes} plus padding); use a smaller kernel or "
            "more padding"
        )


def _conv(
    op: str,
    spatial: int,
    input: Any,
    weight: Any,
    bias: Any,
    stride: Any,
    padding: Any,
    dilation: Any,
    groups: int,
) -> Tensor:
    x, unbatched = _batched(op, as_tensor(input), spatial)
    w = as_tensor(weight)
    if w.ndim != spatial + 2:
        raise ValueError(
            f"{op}: weight must be {spatial + 2}-D (C_out, C_in / groups, "
            f"{'K' if spatial == 1 else 'kH, kW'}), got shape {w.shape}"
        )
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive integer, got {groups!r}")
    channels_out, group_channels = w.shape[:2]
    if channels_out % groups:
        raise ValueError(
            f"{op}: weight {w.shape} has {channels_out} output channels, not divisible by "
            f"groups={groups}"
        )
    if x.shape[1] != group_channels * groups:
        raise ValueError(
            f"{op}: input {tuple(x.shape)} has {x.shape[1]} channels, but weight {w.shape} "
            f"with groups={groups} expects {group_channels * groups} (weight.shape[1] * "
            "groups); pass an input with that many channels or a matching weight"
        )
    strides = _ints(op, "stride", stride, spatial, 1)
    dilations = _ints(op, "dilation", dilation, spatial, 1)
    kernel = tuple(w.shape[2:])
    pairs: tuple[tuple[int, int], ...]
    if isinstance(padding, str):
        if padding == "valid":
            pairs = ((0, 0),) * spatial
        elif padding == "same":
            if any(s != 1 for s in strides):
                raise ValueError(
                    f"{op}: padding='same' needs stride 1 (as PyTorch), got stride={stride!r}; "
                    "give the padding as numbers instead"
                )
            # The odd one of an even total goes after, as PyTorch pads.
            totals = [d * (k - 1) for k, d in zip(kernel, dilations, strict=True)]
            pairs = tuple((total // 2, total - total // 2) for total in totals)
        else:
            raise ValueError(
                f"{op}: padding must be an int, a tuple of ints, 'same' or 'valid', got {padding!r}"
            )
    else:
        pairs = tuple((p, p) for p in _ints(op, "padding", padding, spatial, 0))
    _check_span(op, tuple(x.shape[2:]), pairs, kernel, dilations)
    inputs = [x, w]
    if bias is not None:
        b = as_tensor(bias)
        if b.shape != (channels_out,):
            raise ValueError(
                f"{op}: bias has shape {b.shape}, expected ({channels_out},), one per output "
                "channel"
            )
        inputs.append(b)
    primitive = P.Conv1d if spatial == 1 else P.Conv2d
    out = Tensor.apply(
        primitive, *inputs, stride=strides, padding=pairs, dilation=dilations, groups=int(groups)
    )
    return out.reshape(out.shape[1:]) if unbatched else out


def conv1d(
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: int | tuple[int, ...] = 1,
    padding: int | tuple[int, ...] | str = 0,
    dilation: int | tuple[int, ...] = 1,
    groups: int = 1,
) -> Tensor:
    """z[n, o, l] = b[o] + sum over c, k of w[o, c, k] x_pad[n, c, stride l + dilation k], as
    `torch.nn.functional.conv1d` (a cross-correlation): input (N, C_in, L) or (C_in, L),
    weight (C_out, C_in / groups, K), bias (C_out,); padding a number or 'same'/'valid'.

    dL/dx is the transposed convolution of the upstream gradient with w, dL/dw the upstream
    gradient correlated with the windows of x, dL/db the upstream gradient summed over the
    batch and positions.
    """
    return _conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: int | tuple[int, ...] = 1,
    padding: int | tuple[int, ...] | str = 0,
    dilation: int | tuple[int, ...] = 1,
    groups: int = 1,
) -> Tensor:
    """z[n, o, i, j] = b[o] + sum over c, p, q of w[o, c, p, q] x_pad[n, c, s_h i + d_h p,
    s_w j + d_w q], as `torch.nn.functional.conv2d` (a cross-correlation): input
    (N, C_in, H, W) or (C_in, H, W), weight (C_out, C_in / groups, kH, kW), bias (C_out,);
    padding a number, a pair or 'same'/'valid'.

    dL/dx is the transposed convolution of the upstream gradient with w (w flipped), dL/dw
    the upstream gradient correlated with the windows of x, dL/db the upstream gradient
    summed over the batch and positions.
    """
    return _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


def _pool_padding(
    op: str,
    sizes: tuple[int, ...],
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    padding: tuple[int, ...],
    dilation: tuple[int, ...],
    ceil_mode: bool,
) -> tuple[tuple[int, int], ...]:
    """(before, after) padding per axis: `padding` on both sides, plus on the right what
    ceil_mode's last partial window reaches past it (PyTorch's output size rule)."""
    pairs = []
    for size, k, s, p, d in zip(sizes, kernel, stride, padding, dilation, strict=True):
        span = d * (k - 1) + 1
        if 2 * p > span:
            raise ValueError(
                f"{op}: padding {padding} must be at most half the kernel's span "
                f"({span} for kernel {kernel}, dilation {dilation}), as PyTorch requires"
            )
        if span > size + 2 * p:
            raise ValueError(
                f"{op}: kernel {kernel} with dilation {dilation} spans {span}, larger than the "
                f"padded input ({size + 2 * p}); use a smaller kernel or more padding"
            )
        count = (size + 2 * p - span + (s - 1 if ceil_mode else 0)) // s + 1
        if ceil_mode and (count - 1) * s >= size + p:
            count -= 1  # a last window that would start in the right padding is dropped
        pairs.append((p, p + max(0, (count - 1) * s + span - (size + 2 * p))))
    return tuple(pairs)


def max_pool2d(
    input: Any,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, ...] = 1,
    ceil_mode: bool = False,
) -> Tensor:
    """z[n, c, i, j] = max of x_pad over the window at (s_h i, s_w j), as
    `torch.nn.functional.max_pool2d` (stride defaults to kernel_size; padding reads -inf).

    dL/dx is the upstream gradient added at each window's maximum, the first one in
    row-major order where several entries tie (as PyTorch).
    """
    x, unbatched = _batched("max_pool2d", as_tensor(input), 2)
    kernel = _ints("max_pool2d", "kernel_size", kernel_size, 2, 1)
    strides = kernel if stride is None else _ints("max_pool2d", "stride", stride, 2, 1)
    pads = _ints("max_pool2d", "padding", padding, 2, 0)
    dilations = _ints("max_pool2d", "dilation", dilation, 2, 1)
    pairs = _pool_padding(
        "max_pool2d", tuple(x.shape[2:]), kernel, strides, pads, dilations, ceil_mode
    )
    out = Tensor.apply(
        P.MaxPool2d, x, kernel_size=kernel, stride=strides, padding=pairs, dilation=dilations
    )
    return out.reshape(out.shape[1:]) if unbatched else out


def avg_pool2d(
    input: Any,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> Tensor:
    """z[n, c, i, j] = mean of x_pad over the window at (s_h i, s_w j), as
    `torch.nn.functional.avg_pool2d`: the zero padding counts in the mean with
    count_include_pad, the right edge ceil_mode adds never does.

    dL/dx spreads each upstream entry, divided by its window's count, over its window.
    """
    x, unbatched = _batched("avg_pool2d", as_tensor(input), 2)
    kernel = _ints("avg_pool2d", "kernel_size", kernel_size, 2, 1)
    strides = kernel if stride is None else _ints("avg_pool2d", "stride", stride, 2, 1)
    pads = _ints("avg_pool2d", "padding", padding, 2, 0)
    ones = (1, 1)
    pairs = _pool_padding("avg_pool2d", tuple(x.shape[2:]), kernel, strides, pads, ones, ceil_mode)
    counted = tuple((p, p) if count_include_pad else (0, 0) for p in pads)
    out = Tensor.apply(
        P.AvgPool2d, x, kernel_size=kernel, stride=strides, padding=pairs, counted=counted
    )
    return out.reshape(out.shape[1:]) if unbatched else out


def _adaptive_weights(size: int, out: int, dtype: np.dtype[Any]) -> np.ndarray:
    """(out, size): row i averages entries floor(i size / out) to ceil((i + 1) size / out)."""
    weights = np.zeros((out, size), dtype=dtype)
    for i in range(out):
        start, stop = (i * size) // out, -((-(i + 1) * size) // out)
        weights[i, start:stop] = 1 / (stop - start)
    return weights


def adaptive_avg_pool2d(input: Any, output_size: int | tuple[int | None, int | None]) -> Tensor:
    """z (N, C, oH, oW) = the mean of x over windows from floor(i H / oH) to ceil((i+1) H / oH)
    (and likewise along W), as `torch.nn.functional.adaptive_avg_pool2d`; None keeps a size.

    The averaging is separable, so it is two matrix products with constant averaging
    matrices, A_h @ x @ A_w^T, and dL/dx = A_h^T @ g @ A_w.
    """
    x = as_tensor(input)
    if x.ndim not in (3, 4):
        raise ValueError(
            f"adaptive_avg_pool2d: input must be (N, C, H, W) or (C, H, W), got shape {x.shape}"
        )
    sizes = (output_size, output_size) if not isinstance(output_size, tuple) else output_size
    height, width = x.shape[-2:]
    if len(sizes) != 2:
        raise ValueError(
            f"adaptive_avg_pool2d: output_size must be an int or a pair, got {output_size!r}"
        )
    target = (height if sizes[0] is None else sizes[0], width if sizes[1] is None else sizes[1])
    if any(isinstance(t, bool) or not isinstance(t, (int, np.integer)) or t < 1 for t in target):
        raise ValueError(
            f"adaptive_avg_pool2d: output_size must be positive integers, got {output_size!r}"
        )
    rows = Tensor(_adaptive_weights(height, int(target[0]), x.dtype))
    cols = Tensor(_adaptive_weights(width, int(target[1]), x.dtype).T)
    return rows @ x @ cols


__all__ += ["adaptive_avg_pool2d", "avg_pool2d", "conv1d", "conv2d", "max_pool2d"]
