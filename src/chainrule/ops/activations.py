"""Activation functions, `chainrule.gelu(x)` and the like, with PyTorch's arguments and
defaults. Those with a kink, an overflow or a cancellation to avoid are primitives
(`primitives.activation`); the rest are composites of primitives, exact and stable as
written, so their first and second derivatives come from the chain rule.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule import primitives as P
from chainrule.tensor import Tensor, as_tensor

# SELU's constants (Klambauer et al. 2017), to PyTorch's digits.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _real_number(op: str, label: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise TypeError(f"{op}: {label} must be a real number, got {value!r}")
    return float(value)


def softplus(x: Any, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta x)) / beta, and x itself where beta x > threshold;
    derivative sigmoid(beta x) (1 above the threshold)."""
    beta = _real_number("softplus", "beta", beta)
    threshold = _real_number("softplus", "threshold", threshold)
    if beta == 0:
        raise ValueError("softplus: beta must be nonzero (the result divides by beta)")
    return Tensor._apply(P.Softplus, (as_tensor(x),), {"beta": beta, "threshold": threshold})


def logsigmoid(x: Any) -> Tensor:
    """log(sigmoid(x)) = -softplus(-x), never cut off;  derivative sigmoid(-x) = 1 - sigmoid(x).

    Stable for large abs(x): log(sigmoid(-800)) is -800, not log(0)."""
    return -softplus(-_floating(x), threshold=math.inf)


def silu(x: Any) -> Tensor:
    """x sigmoid(x) (also called swish);  derivative s + x s (1 - s), s = sigmoid(x)."""
    inputs = _floating(x)
    return inputs * inputs.sigmoid()


def _floating(x: Any) -> Tensor:
    """x as a Tensor, integer and bool tensors as float32 (as PyTorch): the composites below
    negate and scale, which truncates integers and is refused for bools."""
    inputs = as_tensor(x)
    return inputs if np.issubdtype(inputs.dtype, np.floating) else inputs.astype(np.float32)


def gelu(x: Any, approximate: str = "none") -> Tensor:
    """x Phi(x), Phi the standard normal CDF: x (1 + erf(x / sqrt 2)) / 2;
    derivative Phi(x) + x phi(x), phi(x) = exp(-x**2 / 2) / sqrt(2 pi).

    `approximate="tanh"`: x (1 + tanh(sqrt(2/pi) (x + 0.044715 x**3))) / 2, as PyTorch."""
    inputs = _floating(x)
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    # 1 + erf(...) and 1 + tanh(...) cancel for x below about -2: in float32 that costs 1e-4
    # of the result (beyond PyTorch's error), so narrow floats take the formula in float64.
    narrow = inputs.dtype in (np.float16, np.float32)
    wide = inputs.astype(np.float64) if narrow else inputs
    if approximate == "none":
        out = wide * 0.5 * (1 + (wide * math.sqrt(0.5)).erf())
    else:
        inner = (wide + 0.044715 * wide * wide * wide) * math.sqrt(2 / math.pi)
        out = 0.5 * wide * (1 + inner.tanh())
    return out.astype(inputs.dtype) if narrow else out


def _elu(x: Any, alpha: float, scale: float, input_scale: float) -> Tensor:
    params = {"alpha": alpha, "scale": scale, "input_scale": input_scale}
    return Tensor._apply(P.Elu, (as_tensor(x),), params)


def elu(x: Any, alpha: float = 1.0) -> Tensor:
    """x for x > 0, else alpha (exp(x) - 1);  derivative 1, else alpha exp(x)."""
    return _elu(x, _real_number("elu", "alpha", alpha), 1.0, 1.0)


def celu(x: Any, alpha: float = 1.0) -> Tensor:
    """x for x > 0, else alpha (exp(x / alpha) - 1);  derivative 1, else exp(x / alpha)."""
    alpha = _real_number("celu", "alpha", alpha)
    if alpha == 0:
        raise ValueError("celu: alpha must be nonzero (the exponent divides by alpha)")
    return _elu(x, alpha, 1.0, 1.0 / alpha)


def selu(x: Any) -> Tensor:
    """scale x for x > 0, else scale alpha (exp(x) - 1), with alpha = 1.6733 and
    scale = 1.0507 (self-normalising);  derivative scale, else scale alpha exp(x)."""
    return _elu(x, SELU_ALPHA, SELU_SCALE, 1.0)


def leaky_relu(x: Any, negative_slope: float = 0.01) -> Tensor:
    """x for x > 0, else negative_slope x;  derivative 1, else negative_slope (also at 0)."""
    slope = _real_number("leaky_relu", "negative_slope", negative_slope)
    return Tensor._apply(P.LeakyReLU, (as_tensor(x),), {"negative_slope": slope})


def hardtanh(x: Any, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    """x limited to [min_val, max_val];  derivative [min_val < x < max_val] (0 on the bounds)."""
    low = _real_number("hardtanh", "min_val", min_val)
    high = _real_number("hardtanh", "max_val", max_val)
    if low > high:
        raise ValueError(
            f"hardtanh: min_val={min_val!r} is greater than max_val={max_val!r}; swap them"
        )
    return Tensor._apply(P.Hardtanh, (as_tensor(x),), {"min_val": low, "max_val": high})


def hardsigmoid(x: Any) -> Tensor:
    """min(max(x + 3, 0), 6) / 6;  derivative 1/6 for -3 < x < 3, else 0."""
    return Tensor._apply(P.Hardsigmoid, (as_tensor(x),), {})


def hardswish(x: Any) -> Tensor:
    """x min(max(x + 3, 0), 6) / 6;  derivative x/3 + 1/2 for -3 < x < 3, 1 for x >= 3, else 0."""
    return Tensor._apply(P.Hardswish, (as_tensor(x),), {})


def mish(x: Any) -> Tensor:
    """x tanh(softplus(x));  derivative t + x sigmoid(x) (1 - t**2), t = tanh(softplus(x))."""
    inputs = _floating(x)
    return inputs * softplus(inputs, threshold=math.inf).tanh()


def softsign(x: Any) -> Tensor:
    """x / (1 + abs(x));  derivative 1 / (1 + abs(x))**2."""
    return Tensor._apply(P.Softsign, (as_tensor(x),), {})


def softmin(x: Any, axis: int = -1) -> Tensor:
    """softmax(-x) along `axis`;  its Jacobian is -(diag(s) - s s^T), s = softmin(x)."""
    return (-_floating(x)).softmax(axis=axis)
