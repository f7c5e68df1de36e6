"""Element-wise activations as modules, for use in `Sequential`: ReLU, Tanh, Sigmoid, and
PyTorch's other activations by their PyTorch names (GELU, SiLU, LeakyReLU, ...).

Each forwards to the engine op of the same name, whose docstring gives the derivative.
"""

from __future__ import annotations

from typing import Any

from chainrule import functional as F
from chainrule import primitives as P
from chainrule.nn.module import Module
from chainrule.ops import activations
from chainrule.tensor import Tensor, as_tensor


class ReLU(Module):
    """max(x, 0), element-wise;  derivative [x > 0]."""

    def forward(self, x: Any) -> Tensor:
        # x.relu() without the method's call, nor Tensor.apply's conversion for a Tensor.
        if isinstance(x, Tensor):
            return Tensor.apply_tensors(P.ReLU, (x,), {})
        return Tensor.apply(P.ReLU, x)


class Tanh(Module):
    """tanh(x), element-wise;  derivative 1 - tanh(x)**2."""

    def forward(self, x: Any) -> Tensor:
        return as_tensor(x).tanh()


class Sigmoid(Module):
    """1 / (1 + exp(-x)), element-wise;  derivative s (1 - s)."""

    def forward(self, x: Any) -> Tensor:
        return as_tensor(x).sigmoid()


# --- activations (issue 14): PyTorch's class names, arguments and defaults. Each forwards to
# the chainrule function of the same name (chainrule.ops.activations), which states its
# derivative. `inplace=True` is refused: chainrule refuses in-place changes to tensors that
# require grad, so the flag could only be ignored, silently.


def _refuse_inplace(layer: str, inplace: bool) -> None:
    if inplace:
        raise ValueError(
            f"{layer}: inplace=True is not supported; chainrule activations return a new "
            "tensor (leave inplace out)"
        )


def _required_dim(layer: str, dim: int | None) -> int:
    """`dim`, which must be given: PyTorch's guess when it is None (deprecated there) depends
    on the input's number of dimensions."""
    if dim is None:
        raise ValueError(
            f"{layer}: give dim, the axis the values are normalised along (e.g. dim=-1)"
        )
    return dim


class Softplus(Module):
    """log(1 + exp(beta x)) / beta, x itself where beta x > threshold;
    derivative sigmoid(beta x)."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta = beta
        self.threshold = threshold

    def forward(self, x: Any) -> Tensor:
        return activations.softplus(x, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class LogSigmoid(Module):
    """log(sigmoid(x));  derivative 1 - sigmoid(x)."""

    def forward(self, x: Any) -> Tensor:
        return activations.logsigmoid(x)


class SiLU(Module):
    """x sigmoid(x);  derivative s (1 + x (1 - s)), s = sigmoid(x)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        _refuse_inplace("SiLU", inplace)

    def forward(self, x: Any) -> Tensor:
        return activations.silu(x)


class GELU(Module):
    """x Phi(x) with Phi the standard normal CDF (approximate='tanh': its tanh form);
    derivative Phi(x) + x phi(x)."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: Any) -> Tensor:
        return activations.gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class ELU(Module):
    """x for x > 0, else alpha (exp(x) - 1);  derivative 1, else alpha exp(x)."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        _refuse_inplace("ELU", inplace)
        self.alpha = alpha

    def forward(self, x: Any) -> Tensor:
        return activations.elu(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class CELU(Module):
    """x for x > 0, else alpha (exp(x / alpha) - 1);  derivative 1, else exp(x / alpha)."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        _refuse_inplace("CELU", inplace)
        self.alpha = alpha

    def forward(self, x: Any) -> Tensor:
        return activations.celu(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class SELU(Module):
    """scale (x for x > 0, else alpha (exp(x) - 1)) with SELU's fixed alpha and scale;
    derivative scale, else scale alpha exp(x)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        _refuse_inplace("SELU", inplace)

    def forward(self, x: Any) -> Tensor:
        return activations.selu(x)


class LeakyReLU(Module):
    """x for x > 0, else negative_slope x;  derivative 1, else negative_slope (also at 0)."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        _refuse_inplace("LeakyReLU", inplace)
        self.negative_slope = negative_slope

    def forward(self, x: Any) -> Tensor:
        return activations.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class Hardtanh(Module):
    """x limited to [min_val, max_val];  derivative [min_val < x < max_val]."""

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        _refuse_inplace("Hardtanh", inplace)
        if max_val <= min_val:
            raise ValueError(
                f"Hardtanh: max_val={max_val!r} must be greater than min_val={min_val!r}"
            )
        self.min_val = min_val
        self.max_val = max_val

    def forward(self, x: Any) -> Tensor:
        return activations.hardtanh(x, self.min_val, self.max_val)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}"


class Hardsigmoid(Module):
    """min(max(x + 3, 0), 6) / 6;  derivative 1/6 for -3 < x < 3, else 0."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        _refuse_inplace("Hardsigmoid", inplace)

    def forward(self, x: Any) -> Tensor:
        return activations.hardsigmoid(x)


class Hardswish(Module):
    """x min(max(x + 3, 0), 6) / 6;  derivative x/3 + 1/2 for -3 < x < 3, 1 for x >= 3."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        _refuse_inplace("Hardswish", inplace)

    def forward(self, x: Any) -> Tensor:
        return activations.hardswish(x)


class Mish(Module):
    """x tanh(softplus(x));  derivative t + x sigmoid(x) (1 - t**2), t = tanh(softplus(x))."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        _refuse_inplace("Mish", inplace)

    def forward(self, x: Any) -> Tensor:
        return activations.mish(x)


class Softsign(Module):
    """x / (1 + abs(x));  derivative 1 / (1 + abs(x))**2."""

    def forward(self, x: Any) -> Tensor:
        return activations.softsign(x)


class Softmin(Module):
    """softmax(-x) along `dim`.

    Unlike PyTorch, `dim` must be given: PyTorch's guess when it is None (deprecated there)
    depends on the input's number of dimensions."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = _required_dim("Softmin", dim)

    def forward(self, x: Any) -> Tensor:
        return activations.softmin(x, axis=self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmax(Module):
    """exp(x) / sum(exp(x)) along `dim`;  Jacobian diag(s) - s s^T, s = softmax(x).

    Unlike PyTorch, `dim` must be given (see `Softmin`)."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = _required_dim("Softmax", dim)

    def forward(self, x: Any) -> Tensor:
        return as_tensor(x).softmax(axis=self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """x - logsumexp(x) along `dim`;  Jacobian I - 1 s^T, s = softmax(x).

    Unlike PyTorch, `dim` must be given (see `Softmin`)."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = _required_dim("LogSoftmax", dim)

    def forward(self, x: Any) -> Tensor:
        return as_tensor(x).log_softmax(axis=self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class GLU(Module):
    """a * sigmoid(b), a and b the halves of x along `dim` (`functional.glu`);
    dz/da = sigmoid(b), dz/db = a sigmoid(b) (1 - sigmoid(b))."""

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Any) -> Tensor:
        return F.glu(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
