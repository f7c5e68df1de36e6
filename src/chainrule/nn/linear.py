"""`Linear`: the affine layer y = x @ weight + bias, with PyTorch's default initialisation.

The weight is stored (in_features, out_features), as the tutorial's `x @ w1`; PyTorch's
`nn.Linear` stores the transpose.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from chainrule import primitives as P
from chainrule.graph import READ
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter, overwrite
from chainrule.tensor import Tensor, as_tensor


class Linear(Module):
    """y = x @ weight + bias.

    Shapes: input (*, in_features) -> output (*, out_features); `weight` is
    (in_features, out_features) and `bias` (out_features,), or None with `bias=False`.

    Both start uniform on [-1/sqrt(in_features), 1/sqrt(in_features)] (PyTorch's default),
    drawn from `rng` (weight first, then bias); `rng=None` uses a fresh
    `np.random.default_rng()`.

    Example:
        >>> layer = Linear(64, 32, rng=np.random.default_rng(0))
        >>> layer(np.zeros((8, 64), dtype=np.float32)).shape
        (8, 32)
    """

    weight: Parameter
    bias: Parameter | None

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        rng: np.random.Generator | None = None,
        dtype: npt.DTypeLike = np.float32,
    ) -> None:
        super().__init__()
        for label, size in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size <= 0:
                raise ValueError(f"Linear: {label} must be a positive integer, got {size!r}")
        float_dtype = np.dtype(dtype)
        if float_dtype.kind != "f":
            raise TypeError(f"Linear: dtype must be float32 or float64, got {float_dtype}")
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.rng = rng if rng is not None else np.random.default_rng()
        self.weight = Parameter(np.empty((self.in_features, self.out_features), float_dtype))
        self.bias = Parameter(np.empty(self.out_features, float_dtype)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Redraw weight, then bias, uniform on [-1/sqrt(in_features), 1/sqrt(in_features)]
        from the layer's `rng`."""
        bound = 1.0 / math.sqrt(self.in_features)
        overwrite(self.weight, self.rng.uniform(-bound, bound, self.weight.shape))
        if self.bias is not None:
            overwrite(self.bias, self.rng.uniform(-bound, bound, self.bias.shape))

    def forward(self, x: Any) -> Tensor:
        inputs = x if isinstance(x, Tensor) else as_tensor(x)
        shape = READ.data(inputs).shape  # `inputs.shape`, read in C
        if not shape or shape[-1] != self.in_features:
            raise ValueError(
                f"Linear(in_features={self.in_features}, out_features={self.out_features}): "
                f"input has shape {inputs.shape}, but its last dimension must be "
                f"in_features={self.in_features}; flatten the samples (x.reshape(len(x), -1)) "
                f"or build the layer with in_features={inputs.shape[-1] if inputs.ndim else 1}"
            )
        # Read the registry directly: attribute access to a parameter goes through
        # Module.__getattr__, which costs more than the rest of this method on small layers.
        parameters = self._parameters
        weight, bias = parameters["weight"], parameters.get("bias")
        if bias is None:
            return inputs @ weight
        if weight is None:  # set to None by the user: Tensor.apply says what is wrong
            return Tensor.apply(P.Linear, inputs, weight, bias)
        # The shapes are checked above and the parameters' at construction, and all three
        # are Tensors: record directly, without Tensor.apply's conversions.
        return Tensor.apply_tensors(P.Linear, (inputs, weight, bias), {})

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


class Identity(Module):
    """y = x, the input itself (a placeholder: `model.head = Identity()` drops a layer).
    Constructor arguments are accepted and ignored, as torch's."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, x: Any) -> Any:
        return x
