"""Convolution and pooling layers for NCL / NCHW inputs, as `torch.nn`: `Conv1d`, `Conv2d`,
`MaxPool2d`, `AvgPool2d`, `AdaptiveAvgPool2d`; and `Flatten`/`Unflatten` between them and
`Linear`. Each forwards to the function of the same name in `chainrule.functional`, whose
docstring gives the derivative.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from chainrule import functional
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter, overwrite
from chainrule.tensor import Tensor, as_tensor


class _ConvNd(Module):
    """The layer shared by Conv1d and Conv2d (`spatial` is 1 or 2)."""

    spatial = 2
    weight: Parameter
    bias: Parameter | None

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, ...],
        stride: int | tuple[int, ...] = 1,
        padding: int | tuple[int, ...] | str = 0,
        dilation: int | tuple[int, ...] = 1,
        groups: int = 1,
        bias: bool = True,
        *,
        rng: np.random.Generator | None = None,
        dtype: npt.DTypeLike = np.float32,
    ) -> None:
        super().__init__()
        layer = type(self).__name__
        for label, size in (
            ("in_channels", in_channels),
            ("out_channels", out_channels),
            ("groups", groups),
        ):
            if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size <= 0:
                raise ValueError(f"{layer}: {label} must be a positive integer, got {size!r}")
        if in_channels % groups or out_channels % groups:
            raise ValueError(
                f"{layer}: in_channels={in_channels} and out_channels={out_channels} must both "
                f"be divisible by groups={groups}"
            )
        float_dtype = np.dtype(dtype)
        if float_dtype.kind != "f":
            raise TypeError(f"{layer}: dtype must be float32 or float64, got {float_dtype}")
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.kernel_size = functional.ints_per_axis(
            layer, "kernel_size", kernel_size, self.spatial, 1
        )
        self.stride = functional.ints_per_axis(layer, "stride", stride, self.spatial, 1)
        self.dilation = functional.ints_per_axis(layer, "dilation", dilation, self.spatial, 1)
        self._check_padding(layer, padding)
        self.padding = padding
        self.groups = int(groups)
        self.rng = rng if rng is not None else np.random.default_rng()
        shape = (self.out_channels, self.in_channels // self.groups, *self.kernel_size)
        self.weight = Parameter(np.empty(shape, float_dtype))
        self.bias = Parameter(np.empty(self.out_channels, float_dtype)) if bias else None
        self.reset_parameters()

    def _check_padding(self, layer: str, padding: Any) -> None:
        """Refuse a padding the first forward would refuse, here where it is given (as
        torch.nn's constructors do): a string other than 'same'/'valid', 'same' with a
        stride, or numbers that are not ints >= 0, one or one per spatial axis."""
        if not isinstance(padding, str):
            functional.ints_per_axis(layer, "padding", padding, self.spatial, 0)
        elif padding not in ("same", "valid"):
            raise ValueError(
                f"{layer}: padding must be an int, a tuple of {self.spatial} ints, 'same' or "
                f"'valid', got {padding!r}"
            )
        elif padding == "same" and any(s != 1 for s in self.stride):
            raise ValueError(
                f"{layer}: padding='same' needs stride 1 (as PyTorch), got stride="
                f"{self.stride}; give the padding as numbers instead"
            )

    def reset_parameters(self) -> None:
        """Redraw weight, then bias, uniform on [-1/sqrt(fan_in), 1/sqrt(fan_in)], fan_in =
        in_channels / groups * prod(kernel_size), from the layer's `rng`: PyTorch's
        `kaiming_uniform_` with a = sqrt(5) and its bias bound, which come to the same bound."""
        fan_in = self.in_channels // self.groups * math.prod(self.kernel_size)
        bound = 1.0 / math.sqrt(fan_in)
        overwrite(self.weight, self.rng.uniform(-bound, bound, self.weight.shape))
        if self.bias is not None:
            overwrite(self.bias, self.rng.uniform(-bound, bound, self.bias.shape))

    def forward(self, x: Any) -> Tensor:
        convolve = functional.conv1d if self.spatial == 1 else functional.conv2d
        return convolve(
            x,
            self.weight,
            self.bias,
            stride=self.stride,
            padding=self.padding,
            dilation=self.dilation,
            groups=self.groups,
        )

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding!r}, dilation={self.dilation}, "
            f"groups={self.groups}, bias={self.bias is not None}"
        )


class Conv1d(_ConvNd):
    """z = conv1d(x, weight) + bias, as `torch.nn.Conv1d`.

    Shapes: input (N, in_channels, L) or (in_channels, L) -> (N, out_channels, L_out),
    L_out = (L + 2 padding - dilation (kernel_size - 1) - 1) // stride + 1; `weight` is
    (out_channels, in_channels / groups, kernel_size), `bias` (out_channels,).

    Example:
        >>> layer = Conv1d(2, 4, 3, padding=1, rng=np.random.default_rng(0))
        >>> layer(np.zeros((8, 2, 10), dtype=np.float32)).shape
        (8, 4, 10)
    """

    spatial = 1


class Conv2d(_ConvNd):
    """z = conv2d(x, weight) + bias, as `torch.nn.Conv2d`.

    Shapes: input (N, in_channels, H, W) or (in_channels, H, W) -> (N, out_channels, H_out,
    W_out), H_out = (H + 2 padding - dilation (kernel - 1) - 1) // stride + 1 (and W_out
    alike); `weight` is (out_channels, in_channels / groups, kH, kW), `bias` (out_channels,).

    Example:
        >>> layer = Conv2d(1, 16, 3, padding=1, rng=np.random.default_rng(0))
        >>> layer(np.zeros((8, 1, 28, 28), dtype=np.float32)).shape
        (8, 16, 28, 28)
    """

    spatial = 2


class MaxPool2d(Module):
    """The max of each window, as `torch.nn.MaxPool2d` (stride defaults to kernel_size);
    the gradient goes to each window's first maximum."""

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] | None = None,
        padding: int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.ceil_mode = ceil_mode

    def forward(self, x: Any) -> Tensor:
        return functional.max_pool2d(
            x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode
        )

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


class AvgPool2d(Module):
    """The mean of each window, as `torch.nn.AvgPool2d` (stride defaults to kernel_size)."""

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] | None = None,
        padding: int | tuple[int, int] = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad

    def forward(self, x: Any) -> Tensor:
        return functional.avg_pool2d(
            x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad
        )

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"ceil_mode={self.ceil_mode}, count_include_pad={self.count_include_pad}"
        )


class AdaptiveAvgPool2d(Module):
    """Means over output_size windows that tile the input, as `torch.nn.AdaptiveAvgPool2d`."""

    def __init__(self, output_size: int | tuple[int | None, int | None]) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, x: Any) -> Tensor:
        return functional.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


def _dim(layer: str, dim: int, ndim: int) -> int:
    if not -ndim <= dim < ndim:
        raise ValueError(f"{layer}: dim {dim} is out of range for an input of {ndim} dims")
    return dim % ndim


class Flatten(Module):
    """The axes start_dim..end_dim merged into one, as `torch.nn.Flatten` (by default every
    axis but the batch): (N, C, H, W) -> (N, C H W). The gradient is reshaped back."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, x: Any) -> Tensor:
        inputs = as_tensor(x)
        if inputs.ndim == 0:
            return self._flatten_scalar(inputs)
        start = _dim("Flatten", self.start_dim, inputs.ndim)
        end = _dim("Flatten", self.end_dim, inputs.ndim)
        if start > end:
            raise ValueError(
                f"Flatten: start_dim {self.start_dim} comes after end_dim {self.end_dim} for "
                f"an input of shape {inputs.shape}"
            )
        shape = inputs.shape
        # The merged size itself, not -1, which cannot be inferred when an axis is empty.
        merged = math.prod(shape[start : end + 1])
        return inputs.reshape((*shape[:start], merged, *shape[end + 1 :]))

    def _flatten_scalar(self, inputs: Tensor) -> Tensor:
        """A 0-d input as torch flattens it: shape (1,), its dims counted as one (-1 or 0);
        the default start_dim=1 (past a batch axis a 0-d input lacks) is refused."""
        for dim in (self.start_dim, self.end_dim):
            if dim not in (-1, 0):
                raise ValueError(
                    f"Flatten: dim {dim} is out of range for a 0-d input (only -1 and 0, as "
                    "torch); it has no batch axis to keep: give a batch of shape (N, ...), "
                    "or Flatten(start_dim=0) to make it shape (1,)"
                )
        return inputs.reshape((1,))

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Axis `dim` split into `unflattened_size`, as `torch.nn.Unflatten`: e.g. flat images
    (N, 784) -> (N, 1, 28, 28) with Unflatten(1, (1, 28, 28)); one size may be -1, inferred
    from the others."""

    def __init__(self, dim: int, unflattened_size: tuple[int, ...]) -> None:
        super().__init__()
        self.dim = dim
        self.unflattened_size = tuple(int(size) for size in unflattened_size)

    def forward(self, x: Any) -> Tensor:
        inputs = as_tensor(x)
        dim = _dim("Unflatten", self.dim, inputs.ndim)
        shape = inputs.shape
        sizes = list(self.unflattened_size)
        known = math.prod(size for size in sizes if size != -1)
        inferred = sizes.count(-1)
        valid = all(size >= 0 or size == -1 for size in sizes) and inferred <= 1
        if valid and inferred == 1 and known > 0 and shape[dim] % known == 0:
            sizes[sizes.index(-1)] = shape[dim] // known  # as torch: one size may be -1
        if not valid or math.prod(sizes) != shape[dim] or -1 in sizes:
            raise ValueError(
                f"Unflatten: axis {self.dim} of the input {shape} has {shape[dim]} entries, "
                f"which {self.unflattened_size} does not hold; give sizes >= 0 whose "
                "product is that count, at most one of them -1 (inferred)"
            )
        return inputs.reshape((*shape[:dim], *sizes, *shape[dim + 1 :]))

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
