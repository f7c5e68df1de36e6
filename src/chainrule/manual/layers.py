"""Hand-written layers: the tutorial's derivation as reusable pieces, for any depth.

Each layer's `forward(x)` keeps in `saved` what its backward needs; `backward(grad_out)`
takes dloss/d(output), fills the layer's parameter gradients and returns
`grad_in` = dloss/d(input). `Sequential` runs forward in order and backward in reverse.

`Linear.forward(x)` saves x itself, not a copy (a NumPy array has no version counter to
refuse with, as PyTorch's saved tensors do): NumPy code writing into x between forward and
backward changes grad_weight unseen, so refill a batch buffer only after backward, or pass
x.copy(). A copy in forward would cost every step 11-13% on the 50000 x 784 tutorial
batch (benchmarks/results/session-2026-12-01/mends-2-manual-copy.md), for a mistake only
that code makes.
"""

from __future__ import annotations

from typing import Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from chainrule._types import FloatArray
from chainrule.manual.network import times_transpose
from chainrule.manual.params import he_normal
from chainrule.manual.validation import as_float_array, as_real_array


class Layer(Protocol):
    """What `Sequential` needs of a layer."""

    def forward(self, x: FloatArray) -> FloatArray: ...

    def backward(self, grad_out: FloatArray) -> FloatArray: ...

    def parameters(self) -> dict[str, FloatArray]: ...

    def gradients(self) -> dict[str, FloatArray]: ...


Saved = TypeVar("Saved")


def _require_saved(layer: str, saved: Saved | None) -> Saved:
    if saved is None:
        raise RuntimeError(
            f"{layer}.backward called before {layer}.forward: backward uses what forward "
            f"saved; call forward(x) first"
        )
    return saved


def _in_dtype_of(grad: FloatArray, variable: npt.NDArray[np.generic]) -> FloatArray:
    """`grad` in the float dtype of the variable it differentiates (a float32 weight gets a
    float32 gradient even when a float64 input promoted its products); as given for an
    integer variable, whose gradient is fractional."""
    if variable.dtype.kind != "f":
        return grad
    return grad.astype(variable.dtype, copy=False)


def _require_grad_shape(layer: str, grad_out: FloatArray, expected: tuple[int, ...]) -> None:
    if grad_out.shape != expected:
        raise ValueError(
            f"{layer}.backward got grad_out of shape {grad_out.shape}, expected {expected} "
            f"(the shape forward returned): pass dloss/d(output) for the last forward call"
        )


class Linear:
    """y = x @ weight + bias, with x (N, in_features), weight (in_features, out_features),
    bias (out_features,).

    Backward: grad_weight = x.T @ grad_out, grad_bias = grad_out summed over rows,
    grad_in = grad_out @ weight.T, each in the dtype of what it differentiates (as PyTorch's
    `.grad`). Weights start He-scaled, biases at zero.

    Example:
        >>> layer = Linear(784, 50, rng=np.random.default_rng(0))
        >>> layer.forward(np.ones((2, 784))).shape
        (2, 50)
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        rng: np.random.Generator,
        dtype: npt.DTypeLike = np.float64,
    ) -> None:
        self.in_features = in_features
        self.out_features = out_features
        self.weight: FloatArray = he_normal(in_features, out_features, rng=rng, dtype=dtype)
        self.bias: FloatArray = np.zeros(out_features, dtype=self.weight.dtype)
        self.grad_weight: FloatArray | None = None
        self.grad_bias: FloatArray | None = None
        self.saved: FloatArray | None = None

    def forward(self, x: npt.ArrayLike) -> FloatArray:
        x = as_real_array("Linear.forward", "x", x)
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(
                f"Linear({self.in_features}, {self.out_features}).forward got x of shape "
                f"{x.shape}, expected (N, {self.in_features}): one row per example"
            )
        self.saved = x
        return x @ self.weight + self.bias

    def backward(self, grad_out: npt.ArrayLike) -> FloatArray:
        x = _require_saved("Linear", self.saved)
        grad_out = as_real_array("Linear.backward", "grad_out", grad_out)
        _require_grad_shape("Linear", grad_out, (x.shape[0], self.out_features))
        self.grad_weight = _in_dtype_of(x.T @ grad_out, self.weight)
        self.grad_bias = _in_dtype_of(grad_out.sum(axis=0), self.bias)
        return _in_dtype_of(times_transpose(grad_out, self.weight), x)

    def parameters(self) -> dict[str, FloatArray]:
        return {"weight": self.weight, "bias": self.bias}

    def gradients(self) -> dict[str, FloatArray]:
        if self.grad_weight is None or self.grad_bias is None:
            raise RuntimeError(
                "Linear.gradients() before backward: call backward(grad_out) after forward(x) first"
            )
        return {"weight": self.grad_weight, "bias": self.grad_bias}

    def __repr__(self) -> str:
        return f"Linear(in_features={self.in_features}, out_features={self.out_features})"


class ReLU:
    """y = max(x, 0); backward: grad_in = grad_out * [x > 0] (the gradient at 0 is taken as 0).

    Only at NaN does this differ from `chainrule.relu` and PyTorch: [NaN > 0] is 0 here, while
    they pass a NaN's gradient through (mask [y != 0]), so the NaN's source gets it."""

    def __init__(self) -> None:
        self.saved: npt.NDArray[np.bool_] | None = None

    def forward(self, x: npt.ArrayLike) -> FloatArray:
        x = as_real_array("ReLU.forward", "x", x)
        self.saved = x > 0
        return np.maximum(x, 0)

    def backward(self, grad_out: npt.ArrayLike) -> FloatArray:
        active = _require_saved("ReLU", self.saved)
        grad_out = as_real_array("ReLU.backward", "grad_out", grad_out)
        _require_grad_shape("ReLU", grad_out, active.shape)
        return grad_out * active

    def parameters(self) -> dict[str, FloatArray]:
        return {}

    def gradients(self) -> dict[str, FloatArray]:
        return {}

    def __repr__(self) -> str:
        return "ReLU()"


class MSE:
    """loss = mean((target - pred) ** 2) over all entries; dloss/dpred = -2 (target - pred) / size.

    The end of the chain: `forward(pred, target)` returns the loss as a float and `backward()`
    returns dloss/dpred in pred's dtype (scaled by `grad_out`, 1 by default), whatever the
    target's dtype, as PyTorch.
    """

    def __init__(self) -> None:
        self.saved: FloatArray | None = None
        self.pred: FloatArray | None = None

    def forward(self, pred: npt.ArrayLike, target: npt.ArrayLike) -> float:
        pred = as_real_array("MSE.forward", "pred", pred)
        target_array = as_float_array("target", target)
        if target_array.shape != pred.shape:
            raise ValueError(
                f"MSE.forward got pred of shape {pred.shape} and target of shape "
                f"{target_array.shape}: they must match exactly, or target - pred broadcasts "
                f"silently (an (N,) target against (N, 1) predictions gives (N, N)); "
                f"reshape target to {pred.shape}"
            )
        residual = target_array - pred
        self.saved = residual
        self.pred = pred
        return float((residual**2).mean())

    def backward(self, grad_out: float = 1.0) -> FloatArray:
        residual = _require_saved("MSE", self.saved)
        pred = _require_saved("MSE", self.pred)
        return _in_dtype_of(grad_out * (-2.0 / residual.size) * residual, pred)

    def __repr__(self) -> str:
        return "MSE()"


class Sequential:
    """Layers applied in order; backward runs them in reverse, passing each grad_in on.

    Example (the tutorial network):
        >>> rng = np.random.default_rng(0)
        >>> model = Sequential(Linear(784, 50, rng=rng), ReLU(), Linear(50, 1, rng=rng))
    """

    def __init__(self, *layers: Layer) -> None:
        self.layers = layers

    def forward(self, x: FloatArray) -> FloatArray:
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, grad_out: FloatArray) -> FloatArray:
        for layer in reversed(self.layers):
            grad_out = layer.backward(grad_out)
        return grad_out

    def parameters(self) -> dict[str, FloatArray]:
        """Every parameter, named "<layer index>.<name>" as in PyTorch ("0.weight", ...)."""
        return {
            f"{index}.{name}": value
            for index, layer in enumerate(self.layers)
            for name, value in layer.parameters().items()
        }

    def gradients(self) -> dict[str, FloatArray]:
        """Every parameter gradient, named like `parameters()`; only after backward."""
        return {
            f"{index}.{name}": value
            for index, layer in enumerate(self.layers)
            for name, value in layer.gradients().items()
        }

    def __repr__(self) -> str:
        return f"Sequential({', '.join(repr(layer) for layer in self.layers)})"
