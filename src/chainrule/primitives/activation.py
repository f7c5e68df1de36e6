"""Activation primitives whose closed-form derivative is clearer or more stable than a chain of
other ops: erf (NumPy has none), softplus and the ELU family (elu, celu, selu).

The other activations (gelu, silu, mish, ...) are composites in `chainrule.ops.activations`.
Each rule here runs on arrays of any array API library (in their namespace, chainrule.backends)
and, recorded, on Tensors.
"""

from __future__ import annotations

import importlib
import math
from typing import Any

import numpy as np

from chainrule.backends import is_recording, module_name, namespace
from chainrule.primitives.base import Grads, Primitive, Saved, plain_values
from chainrule.primitives.call import call
from chainrule.primitives.elementwise import Sigmoid
from chainrule.primitives.reading import Rule, entrywise

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
# Below this |x| the series converges fast and above it the continued fraction does; both
# land within ~12 ulp of math.erf (tests/engine/test_activation_functions.py checks a grid).
_ERF_SERIES_LIMIT = 2.5
_ERF_SERIES_TERMS = 60
_ERFC_FRACTION_DEPTH = 60


def erf_values(x: Any) -> Any:
    """erf(x) entry by entry in float64 (where the library has it), accurate to ~1e-15 relative
    (JAX's arrays take JAX's own erf).

    For |x| < 2.5 the series erf(x) = 2/sqrt(pi) exp(-x**2) sum_n 2**n x**(2n+1) / (1 3 5 ...
    (2n+1)), whose terms are all positive (no cancellation); above, erf(x) = 1 - erfc(x) with
    erfc(x) = exp(-x**2) / sqrt(pi) / (x + (1/2) / (x + 1 / (x + (3/2) / (x + ...)))), the
    continued fraction evaluated from a fixed depth backwards. erf is odd: work on |x|.
    """
    xp = namespace(x)
    wide = xp.astype(xp.asarray(x), _widest_float(xp), copy=False)
    if module_name(xp) == "jax.numpy":
        # JAX's own erf: one XLA op, exact to float64 rounding, where the formulas below are
        # some 250 element-wise ops for jax.jit to trace and compile (seconds per shape).
        return importlib.import_module("jax.lax").erf(wide)
    magnitude = xp.abs(wide)
    small = magnitude < _ERF_SERIES_LIMIT
    if xp is np:
        # Each formula on its own entries only: half the work of computing both everywhere.
        out = np.empty_like(magnitude)
        out[small] = _erf_series(magnitude[small], np)
        out[~small] = _erf_fraction(magnitude[~small], np)
    else:
        # Both formulas everywhere, each fed values in its own range (no overflow, no NaN),
        # and the right one picked: no writes, no value-dependent shapes (jax.jit traces it).
        near = xp.where(small, magnitude, 0.0)
        far = xp.where(small, _ERF_SERIES_LIMIT, magnitude)
        out = xp.where(small, _erf_series(near, xp), _erf_fraction(far, xp))
    return xp.copysign(out, wide)


def _widest_float(xp: Any) -> Any:
    """float64, or the widest real float `xp` offers (float32 for JAX without
    jax_enable_x64, which would truncate float64 to float32 with a warning)."""
    if xp is np:
        return np.float64
    dtypes = xp.__array_namespace_info__().dtypes(kind="real floating")
    return dtypes.get("float64", dtypes["float32"])


def _erf_series(near: Any, xp: Any) -> Any:
    """erf on 0 <= near < 2.5: the series of positive terms."""
    square = near * near
    if xp is np:
        # In place (NumPy's arrays are writable): a tenth faster than a new array per term.
        term, total = near.copy(), near.copy()
        for n in range(1, _ERF_SERIES_TERMS):
            term *= 2 * square / (2 * n + 1)
            total += term
    else:
        term, total = near, near
        for n in range(1, _ERF_SERIES_TERMS):
            term = term * (2 * square / (2 * n + 1))
            total = total + term
    return _TWO_OVER_SQRT_PI * xp.exp(-square) * total


def _erf_fraction(far: Any, xp: Any) -> Any:
    """erf on far >= 2.5 (inf included): 1 - erfc, erfc by its continued fraction."""
    fraction = far
    for k in range(_ERFC_FRACTION_DEPTH, 0, -1):
        fraction = far + (k / 2) / fraction
    return 1 - xp.exp(-far * far) / (math.sqrt(math.pi) * fraction)


class Erf(Primitive):
    """z = erf(x) = 2/sqrt(pi) int_0^x exp(-t**2) dt;  dz/dx = 2/sqrt(pi) exp(-x**2)."""

    name = "erf"
    function = "erf"
    method = "erf"
    reading = Rule(
        "erf($a)",
        r"\operatorname{erf}($a)",
        (entrywise("2 / sqrt(pi) * exp(-$a**2)", r"\frac{2}{\sqrt{\pi}} e^{-$a^{2}}"),),
    )

    @staticmethod
    def forward(x: Any) -> tuple[Any, Saved]:
        if is_recording(x):
            # Recorded (second-order) path: the saved x is the recorded input.
            return call(Erf, x), x
        return namespace(x).astype(erf_values(x), x.dtype, copy=False), x

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        xp = namespace(saved)
        return (grad_out * (_TWO_OVER_SQRT_PI * xp.exp(-(saved * saved))),)


class Softplus(Primitive):
    """z = log(1 + exp(beta x)) / beta, or x where beta x > threshold (PyTorch's cut-off);
    dz/dx = sigmoid(beta x), or 1 above the threshold.

    Computed as logaddexp(0, beta x) / beta, which neither overflows for large beta x nor
    loses the answer for very negative beta x. threshold=inf never cuts off.
    """

    name = "softplus"
    reading = Rule(
        "softplus($a)",
        r"\operatorname{softplus}($a)",
        (entrywise("sigmoid(beta * $a) (1 above the threshold)", r"\sigma(\beta $a)"),),
    )

    @staticmethod
    def forward(x: Any, *, beta: float, threshold: float) -> tuple[Any, Saved]:
        if is_recording(x):
            linear = np.asarray(plain_values(x) * beta > threshold)
            return call(Softplus, x, beta=beta, threshold=threshold), (x, beta, linear)
        xp = namespace(x)
        linear = x * beta > threshold
        softplus = xp.logaddexp(0, x * beta) / beta
        return xp.astype(xp.where(linear, x, softplus), x.dtype, copy=False), (x, beta, linear)

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        x, beta, linear = saved
        xp = namespace(x)
        # Recorded (second-order) path: a recorded sigmoid, whose own rule is stable.
        slope = call(Sigmoid, x * beta) if is_recording(x) else xp.exp(-xp.logaddexp(0, -beta * x))
        return (grad_out * xp.where(linear, 1, slope),)


class Elu(Primitive):
    """z = scale x for x > 0, else scale alpha (exp(input_scale x) - 1);
    dz/dx = scale for x > 0, else scale alpha input_scale exp(input_scale x).

    PyTorch's one kernel for elu (scale = input_scale = 1), celu (input_scale = 1/alpha) and
    selu (fixed alpha and scale). x = 0 takes the exponential side, as in PyTorch.
    """

    name = "elu"
    reading = Rule(
        "elu($a)",
        r"\operatorname{elu}($a)",
        (
            entrywise(
                "scale if $a > 0 else scale * alpha * input_scale * exp(input_scale * $a)",
                r"[$a > 0]\,s + [$a \le 0]\,s \alpha \kappa e^{\kappa $a}",
            ),
        ),
    )

    @staticmethod
    def forward(x: Any, *, alpha: float, scale: float, input_scale: float) -> tuple[Any, Saved]:
        params = {"alpha": alpha, "scale": scale, "input_scale": input_scale}
        if is_recording(x):
            positive = np.asarray(plain_values(x) > 0)
            return call(Elu, x, **params), (x, positive, alpha, scale, input_scale)
        xp = namespace(x)
        positive = x > 0
        # The exponential of the negative part only, so large x cannot overflow.
        exponential = alpha * scale * xp.expm1(input_scale * xp.where(positive, 0, x))
        out = xp.astype(xp.where(positive, scale * x, exponential), x.dtype, copy=False)
        return out, (x, positive, alpha, scale, input_scale)

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        x, positive, alpha, scale, input_scale = saved
        xp = namespace(x)
        negative_part = xp.where(positive, 0, x)
        slope = xp.where(
            positive, scale, (alpha * scale * input_scale) * xp.exp(input_scale * negative_part)
        )
        return (grad_out * slope,)


class LeakyReLU(Primitive):
    """z = x for x > 0, else negative_slope x;  dz/dx = 1 for x > 0, else negative_slope
    (negative_slope at x = 0, as in PyTorch)."""

    name = "leaky_relu"
    reading = Rule(
        "leaky_relu($a)",
        r"\operatorname{leaky\_relu}($a)",
        (entrywise("1 if $a > 0 else negative_slope", r"[$a > 0] + [$a \le 0]\,s"),),
    )

    @staticmethod
    def forward(x: Any, *, negative_slope: float) -> tuple[Any, Saved]:
        raw = plain_values(x) if is_recording(x) else x
        xp = namespace(raw)
        slope = xp.where(raw > 0, 1, xp.full_like(raw, negative_slope))
        if is_recording(x):
            return call(LeakyReLU, x, negative_slope=negative_slope), slope
        return xp.astype(xp.where(raw > 0, x, x * negative_slope), x.dtype, copy=False), slope

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        return (grad_out * saved,)


class Hardtanh(Primitive):
    """z = min(max(x, min_val), max_val);  dz/dx = [min_val < x < max_val], and 1 at NaN.

    Unlike clip's derivative (1 on the bounds, PyTorch's clamp), hardtanh's is 0 on the
    bounds, as PyTorch's hardtanh. A NaN passes through, and so does its gradient (as clip,
    maximum and PyTorch): the slope is 0 only where x is at or beyond a bound."""

    name = "hardtanh"
    reading = Rule(
        "hardtanh($a)",
        r"\operatorname{hardtanh}($a)",
        (entrywise("[min_val < $a < max_val]", r"[\mathrm{lo} < $a < \mathrm{hi}]"),),
    )

    @staticmethod
    def forward(x: Any, *, min_val: float, max_val: float) -> tuple[Any, Saved]:
        raw = plain_values(x) if is_recording(x) else x
        xp = namespace(raw)
        inside = xp.astype(~((raw <= min_val) | (raw >= max_val)), raw.dtype)
        if is_recording(x):
            return call(Hardtanh, x, min_val=min_val, max_val=max_val), inside
        return xp.clip(x, min_val, max_val), inside

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        return (grad_out * saved,)


class Hardsigmoid(Primitive):
    """z = min(max(x + 3, 0), 6) / 6;  dz/dx = [-3 < x < 3] / 6 (0 on the kinks, as PyTorch)."""

    name = "hardsigmoid"
    reading = Rule(
        "hardsigmoid($a)",
        r"\operatorname{hardsigmoid}($a)",
        (entrywise("[-3 < $a < 3] / 6", r"\frac{[-3 < $a < 3]}{6}"),),
    )

    @staticmethod
    def forward(x: Any) -> tuple[Any, Saved]:
        raw = plain_values(x) if is_recording(x) else x
        xp = namespace(raw)
        slope = xp.astype((raw > -3) & (raw < 3), raw.dtype) / 6
        if is_recording(x):
            return call(Hardsigmoid, x), slope
        return xp.minimum(xp.maximum(x + 3, 0), 6) / 6, slope

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        return (grad_out * saved,)


class Hardswish(Primitive):
    """z = x min(max(x + 3, 0), 6) / 6;  dz/dx = 0 for x <= -3, x/3 + 1/2 for -3 < x < 3,
    1 for x >= 3 (PyTorch's choices on the kinks), and 1 at NaN (PyTorch's, as hardtanh)."""

    name = "hardswish"
    reading = Rule(
        "hardswish($a)",
        r"\operatorname{hardswish}($a)",
        (
            entrywise(
                "[-3 < $a < 3] ($a / 3 + 1/2) + [$a >= 3]",
                r"[|$a| < 3](\frac{$a}{3} + \frac{1}{2}) + [$a \ge 3]",
            ),
        ),
    )

    @staticmethod
    def forward(x: Any) -> tuple[Any, Saved]:
        raw = plain_values(x) if is_recording(x) else x
        xp = namespace(raw)
        inside, above = (raw > -3) & (raw < 3), xp.astype(~(raw < 3), raw.dtype)
        if is_recording(x):
            return call(Hardswish, x), (x, inside, above)
        return x * xp.minimum(xp.maximum(x + 3, 0), 6) / 6, (x, inside, above)

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        x, inside, above = saved
        slope = namespace(x).where(inside, x / 3 + 0.5, above)
        return (grad_out * slope,)


class Softsign(Primitive):
    """z = x / (1 + abs(x));  dz/dx = 1 / (1 + abs(x))**2.

    A primitive because the quotient rule's 1/(1 + abs(x)) - abs(x)/(1 + abs(x))**2 cancels: at
    x = 1000 in float32 it keeps only 4 digits."""

    name = "softsign"
    reading = Rule(
        "softsign($a)",
        r"\operatorname{softsign}($a)",
        (entrywise("1 / (1 + abs($a))**2", r"\frac{1}{(1 + \lvert $a \rvert)^{2}}"),),
    )

    @staticmethod
    def forward(x: Any) -> tuple[Any, Saved]:
        denominator = 1 + namespace(x).abs(x)
        return x / denominator, denominator

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        return (grad_out / (saved * saved),)
