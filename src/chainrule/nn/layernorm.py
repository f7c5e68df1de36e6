"""`LayerNorm`: normalise each sample over its last dimensions, then scale and shift.

Built from engine ops (`chainrule.functional.layer_norm`), so its gradient is the chain
rule's; unlike BatchNorm1d it keeps no running statistics and acts the same in eval mode.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from chainrule import functional as F
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter, overwrite
from chainrule.tensor import Tensor


class LayerNorm(Module):
    """y = (x - mean) / sqrt(var + eps) * weight + bias, mean and biased var over the last
    len(normalized_shape) dimensions of each sample.

    Shapes: input (..., normalized_shape) -> output of the same shape. `weight` starts at 1
    and `bias` at 0, both of shape normalized_shape (`elementwise_affine=False`: neither;
    `bias=False`: no bias), as PyTorch.

    Example:
        >>> norm = LayerNorm(8)
        >>> norm(np.ones((4, 8), dtype=np.float32)).shape
        (4, 8)
    """

    weight: Parameter | None
    bias: Parameter | None

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        *,
        dtype: npt.DTypeLike = np.float32,
    ) -> None:
        super().__init__()
        shape = F.check_normalized_shape("LayerNorm", normalized_shape)
        if not eps > 0:
            raise ValueError(f"LayerNorm: eps must be positive, got {eps!r}")
        float_dtype = np.dtype(dtype)
        if float_dtype.kind != "f":
            raise TypeError(f"LayerNorm: dtype must be float32 or float64, got {float_dtype}")
        self.normalized_shape = shape
        self.eps = float(eps)
        self.elementwise_affine = elementwise_affine
        self.weight = Parameter(np.ones(shape, float_dtype)) if elementwise_affine else None
        has_bias = elementwise_affine and bias
        self.bias = Parameter(np.zeros(shape, float_dtype)) if has_bias else None

    def reset_parameters(self) -> None:
        """weight back to 1 and bias to 0."""
        if self.weight is not None:
            overwrite(self.weight, np.ones(self.weight.shape))
        if self.bias is not None:
            overwrite(self.bias, np.zeros(self.bias.shape))

    def forward(self, x: Any) -> Tensor:
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, "
            f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}"
        )
