"""Element-wise math: trigonometric and hyperbolic functions and their inverses, exp2, expm1,
log2, log10, log1p, square, reciprocal, rsqrt, the rounding family, logaddexp, hypot, fmod,
remainder and lerp.

Each docstring states z = f(x, ...) and the local derivative that `vjp` multiplies by; the
formulas and the values at domain edges (inf, NaN, no warning) are PyTorch's, written in
their numerically stable forms. The rounding family and sign have a zero gradient, as in
PyTorch. Each rule runs on arrays of any backend (its array API namespace `xp`) and,
recorded, on Tensors (second order): its NumPy calls dispatch to the primitives here when
given Tensors. exp2 and fmod are not in the array API standard: they use the library's own
where it has one (NumPy, JAX, CuPy), else a formulation in the standard's functions.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.backends import namespace
from chainrule.primitives.base import Grads, Primitive, Saved, plain_values
from chainrule.primitives.call import call, is_array
from chainrule.primitives.elementwise import Sigmoid, as_factor
from chainrule.primitives.reading import Rule, constant, entrywise

LN2 = math.log(2.0)
LN10 = math.log(10.0)


def _zero_gradient(grad_out: Any) -> Any:
    """A gradient of zeros shaped as grad_out: a constant, so no graph (grad_out * 0 would be
    NaN where grad_out is inf)."""
    return namespace(grad_out).zeros_like(plain_values(grad_out))


# ------------------------------------------------------------------ trigonometric
class Cos(Primitive):
    """z = cos(x);  dz/dx = -sin(x). NaN at inf and -inf, as PyTorch."""

    name = "cos"
    function = "cos"
    method = "cos"
    numpy = ("cos",)
    reading = Rule("cos($a)", r"\cos($a)", (entrywise("-sin($a)", r"-\sin($a)"),))

    @staticmethod
    def forward(x: Any) -> tuple[Any, Saved]:
        with np.errstate(invalid="ignore"):  # NaN at +-inf, as PyTorch, without a warning
            return namespace(x).cos(x), x

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        with np.errstate(invalid="ignore"):
            return (grad_out * -namespace(saved).sin(saved),)


class Tan(Primitive):
    """z = tan(x);  dz/dx = 1 + tan(x)**2 = 1 + z**2. NaN at inf and -inf, as PyTorch."""

    name = "tan"
    function = "tan"
    method = "tan"
    numpy = ("tan",)
    reading = Rule("tan($a)", r"\tan($a)", (entrywise("1 + tan($a)**2", r"1 + \tan^{2}($a)"),))
    saves_output = True

    @staticmethod
    def forward(x: Any) -> tuple[Any, Saved]:
        with np.errstate(invalid="ignore"):  # NaN at +-inf, as PyTorch, without a warning
            out = namespace(x).tan(x)
        return out, out

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        return (grad_out * (1 + saved * saved),)


class Arcsin(Primitive):
    """z = arcsin(x);  dz/dx = 1 / sqrt(1 - x**2), taken as 1 / sqrt((1 - x)(1 + x)), which
    keeps its digits near x = 1. NaN outside [-1, 1] and inf at x = 1 or -1, as PyTorch."""

    name = "arcsin"
    function = "arcsin"
    method = "arcsin"
    numpy = ("arcsin",)
    reading = Rule(
        "arcsin($a)",
        r"\arcsin($a)",
        (entrywise("1 / sqrt(1 - $a**2)", r"\frac{1}{\sqrt{1 - $a^{2}}}"),),
    )

    @staticmethod
    def forward(x: Any) -> tuple[Any, Saved]:
        with np.errstate(invalid="ignore"):
            return namespace(x).asin(x), x

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        with np.errstate(divide="ignore", invalid="ignore"):
            return (grad_out / namespace(saved).sqrt((1 - saved) * (1 + saved)),)


class Arccos(Primitive):
    """z = arccos(x);  dz/dx = -1 / sqrt(1 - x**2), taken as -1 / sqrt((1 - x)(1 + x)). NaN
    outside [-1, 1] and -inf at x = 1 or -1, as PyTorch."""

    name = "arccos"
    function = "arccos"
    method = "arccos"
    numpy = ("arccos",)
    reading = Rule(
        "arccos($a)",
        r"\arccos($a)",
        (entrywise("-1 / sqrt(1 - $a**2)", r"-\frac{1}{\sqrt{1 - $a^{2}}}"),),
    )

    @staticmethod
    def forward(x: Any) -> tuple[Any, Saved]:
        with np.errstate(invalid="ignore"):
            return namespace(x).acos(x), x

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        with np.errstate(divide="ignore", invalid="ignore"):
            return (-grad_out / namespace(saved).sqrt((1 - saved) * (1 + saved)),)


class Arctan(Primitive):
    """z = arctan(x);  dz/dx = 1 / (1 + x**2)."""

    name = "arctan"
    function = "arctan"
    method = "arctan"
    numpy = ("arctan",)
    reading = Rule(
        "arctan($a)", r"\arctan($a)", (entrywise("1 / (1 + $a**2)", r"\frac{1}{1 + $a^{2}}"),)
    )

    @staticmethod
    def forward(x: Any) -> tuple[Any, Saved]:
        return namespace(x).atan(x), x

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        return (grad_out / (1 + saved * saved),)


class Arctan2(Primitive):
    """z = arctan2(y, x), the angle of the point (x, y);  dz/dy = x / (x**2 + y**2),
    dz/dx = -y / (x**2 + y**2).

    Divided twice by hypot(x, y) instead of once by x**2 + y**2, which overflows past 1e154
    (float64) or 1e19 (float32); both gradients are 0 at the origin, as in PyTorch.
    """

    name = "arctan2"
    function = "arctan2"
    method = "arctan2"
    numpy = ("arctan2",)
    broadcasts = True
    reading = Rule(
        "arctan2($a, $b)",
        r"\operatorname{arctan2}($a, $b)",
        (
            entrywise("$b / ($a**2 + $b**2)", r"\frac{$b}{$a^{2} + $b^{2}}"),
            entrywise("-$a / ($a**2 + $b**2)", r"-\frac{$a}{$a^{2} + $b^{2}}"),
        ),
    )

    @staticmethod
    def forward(y: Any, x: Any) -> tuple[Any, Saved]:
        return namespace(y, x).atan2(y, x), (y, x)

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        y, x = saved
        radius = namespace(y, x).hypot(y, x)
        # Only the origin has radius 0; dividing its 0 / 0 by 1 instead gives PyTorch's 0.
        radius = radius + as_factor(plain_values(radius) == 0, radius)
        # inf / inf where an input is infinite: NaN, as PyTorch's, without a warning.
        with np.errstate(invalid="ignore"):
            grad_y = grad_out * (x / radius / radius) if needs[0] else None
            grad_x = grad_out * (-y / radius / radius) if needs[1] else None
        return grad_y, grad_x


# ------------------------------------------------------------------ hyperbolic
class Sinh(Primitive):
    """z = sinh(x);  dz/dx = cosh(x)."""

    name = "sinh"
    function = "sinh"
    method = "sinh"
    numpy = ("sinh",)
    reading = Rule("sinh($a)", r"\sinh($a)", (entrywise("cosh($a)", r"\cosh($a)"),))

    @staticmethod
    def forward(x: Any) -> tuple[Any, Saved]:
        return namespace(x).sinh(x), x

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        return (grad_out * namespace(saved).cosh(saved),)


class Cosh(Primitive):
    """z = cosh(x);  dz/dx = sinh(x)."""

    name = "cosh"
    function = "cosh"
    method = "cosh"
    numpy = ("cosh",)
    reading = Rule("cosh($a)", r"\cosh($a)", (entrywise("sinh($a)", r"\sinh($a)"),))

    @staticmethod
    def forward(x: Any) -> tuple[Any, Saved]:
        return namespace(x).cosh(x), x

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        return (grad_out * namespace(saved).sinh(saved),)


class Arcsinh(Primitive):
    """z = arcsinh(x);  dz/dx = 1 / sqrt(x**2 + 1), taken as 1 / hypot(x, 1), which does not
    overflow for large x (x**2 does past 1e154)."""

    name = "arcsinh"
    function = "arcsinh"
    method = "arcsinh"
    numpy = ("arcsinh",)
    reading = Rule(
        "arcsinh($a)",
        r"\operatorname{arsinh}($a)",
        (entrywise("1 / sqrt($a**2 + 1)", r"\frac{1}{\sqrt{$a^{2} + 1}}"),),
    )

    @staticmethod
    def forward(x: Any) -> tuple[Any, Saved]:
        return namespace(x).asinh(x), x

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        return (grad_out / namespace(saved).hypot(saved, 1),)


class Arccosh(Primitive):
    """z = arccosh(x);  dz/dx = 1 / sqrt(x**2 - 1), taken as 1 / (sqrt(x - 1) sqrt(x + 1)),
    which keeps its digits near x = 1 and does not overflow for large x. inf at x = 1 and NaN
    below, where z is NaN (PyTorch's x**2 - 1 gives a finite number for x <= -1)."""

    name = "arccosh"
    function = "arccosh"
    method = "arccosh"
    numpy = ("arccosh",)
    reading = Rule(
        "arccosh($a)",
        r"\operatorname{arcosh}($a)",
        (entrywise("1 / sqrt($a**2 - 1)", r"\frac{1}{\sqrt{$a^{2} - 1}}"),),
    )

    @staticmethod
    def forward(x: Any) -> tuple[Any, Saved]:
        with np.errstate(invalid="ignore"):
            return namespace(x).acosh(x), x

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        with np.errstate(divide="ignore", invalid="ignore"):
            xp = namespace(saved)
            return (grad_out / (xp.sqrt(saved - 1) * xp.sqrt(saved + 1)),)


class Arctanh(Primitive):
    """z = arctanh(x);  dz/dx = 1 / (1 - x**2), taken as 1 / ((1 - x)(1 + x)). inf at x = 1
    or -1, and NaN beyond, as PyTorch."""

    name = "arctanh"
    function = "arctanh"
    method = "arctanh"
    numpy = ("arctanh",)
    reading = Rule(
        "arctanh($a)",
        r"\operatorname{artanh}($a)",
        (entrywise("1 / (1 - $a**2)", r"\frac{1}{1 - $a^{2}}"),),
    )

    @staticmethod
    def forward(x: Any) -> tuple[Any, Saved]:
        with np.errstate(divide="ignore", invalid="ignore"):
            return namespace(x).atanh(x), x

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        with np.errstate(divide="ignore"):
            return (grad_out / ((1 - saved) * (1 + saved)),)


# ------------------------------------------------------------------ exponentials and logs
class Exp2(Primitive):
    """z = 2**x;  dz/dx = 2**x log(2) = z log(2)."""

    name = "exp2"
    function = "exp2"
    method = "exp2"
    numpy = ("exp2",)
    reading = Rule("exp2($a)", "2^{$a}", (entrywise("2**$a * log(2)", r"2^{$a} \ln 2"),))
    saves_output = True

    @staticmethod
    def forward(x: Any) -> tuple[Any, Saved]:
        exp2 = getattr(namespace(x), "exp2", None)  # not in the standard (array_api_strict)
        out = exp2(x) if exp2 is not None else 2.0**x
        return out, out

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        return (grad_out * (saved * LN2),)


class Expm1(Primitive):
    """z = exp(x) - 1, exact for small x;  dz/dx = exp(x).

    The derivative is exp(x) itself, not PyTorch's z + 1, which loses its digits for
    x below about -20 (z + 1 cancels there).
    """

    name = "expm1"
    function = "expm1"
    method = "expm1"
    numpy = ("expm1",)
    reading = Rule("expm1($a)", r"e^{$a} - 1", (entrywise("exp($a)", r"e^{$a}"),))

    @staticmethod
    def forward(x: Any) -> tuple[Any, Saved]:
        return namespace(x).expm1(x), x

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        return (grad_out * namespace(saved).exp(saved),)


class Log2(Primitive):
    """z = log2(x);  dz/dx = 1 / (x log(2)). -inf at 0 and NaN below, as PyTorch."""

    name = "log2"
    function = "log2"
    method = "log2"
    numpy = ("log2",)
    reading = Rule(
        "log2($a)", r"\log_{2}($a)", (entrywise("1 / ($a * log(2))", r"\frac{1}{$a \ln 2}"),)
    )

    @staticmethod
    def forward(x: Any) -> tuple[Any, Saved]:
        with np.errstate(divide="ignore", invalid="ignore"):
            return namespace(x).log2(x), x

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        with np.errstate(divide="ignore"):
            return (grad_out / (saved * LN2),)


class Log10(Primitive):
    """z = log10(x);  dz/dx = 1 / (x log(10)). -inf at 0 and NaN below, as PyTorch."""

    name = "log10"
    function = "log10"
    method = "log10"
    numpy = ("log10",)
    reading = Rule(
        "log10($a)", r"\log_{10}($a)", (entrywise("1 / ($a * log(10))", r"\frac{1}{$a \ln 10}"),)
    )

    @staticmethod
    def forward(x: Any) -> tuple[Any, Saved]:
        with np.errstate(divide="ignore", invalid="ignore"):
            return namespace(x).log10(x), x

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        with np.errstate(divide="ignore"):
            return (grad_out / (saved * LN10),)


class Log1p(Primitive):
    """z = log(1 + x), exact for small x;  dz/dx = 1 / (1 + x). -inf at -1 and NaN below,
    as PyTorch."""

    name = "log1p"
    function = "log1p"
    method = "log1p"
    numpy = ("log1p",)
    reading = Rule("log1p($a)", r"\log(1 + $a)", (entrywise("1 / (1 + $a)", r"\frac{1}{1 + $a}"),))

    @staticmethod
    def forward(x: Any) -> tuple[Any, Saved]:
        with np.errstate(divide="ignore", invalid="ignore"):
            return namespace(x).log1p(x), x

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        with np.errstate(divide="ignore"):
            return (grad_out / (1 + saved),)


class Logaddexp(Primitive):
    """z = log(exp(x) + exp(y));  dz/dx = exp(x) / (exp(x) + exp(y)) = sigmoid(x - y),
    dz/dy = sigmoid(y - x).

    The forward is NumPy's logaddexp, max(x, y) + log1p(exp(-abs(x - y))), so neither 1e300
    nor 1e38 in float32 overflows; the derivatives are sigmoids, which never overflow either
    (PyTorch's 1 / (1 + exp(y - x)) is the same number).
    """

    name = "logaddexp"
    function = "logaddexp"
    method = "logaddexp"
    numpy = ("logaddexp",)
    broadcasts = True
    reading = Rule(
        "logaddexp($a, $b)",
        r"\log(e^{$a} + e^{$b})",
        (
            entrywise("sigmoid($a - $b)", r"\sigma($a - $b)"),
            entrywise("sigmoid($b - $a)", r"\sigma($b - $a)"),
        ),
    )

    @staticmethod
    def forward(x: Any, y: Any) -> tuple[Any, Saved]:
        # x - y may overflow to +-inf (3e38 - -3e38 in float32); exp(-inf) = 0 then gives
        # max(x, y), the right value, so the overflow is no error. NumPy's logaddexp also
        # flags a NaN input as invalid, where exp and log pass NaN on silently (as PyTorch).
        with np.errstate(over="ignore", invalid="ignore"):
            return namespace(x, y).logaddexp(x, y), (x, y)

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        x, y = saved
        # inf - inf is NaN: the gradient there is NaN, as PyTorch's, without a warning; a
        # difference that overflows to +-inf gives the sigmoid's limits, 1 and 0.
        with np.errstate(over="ignore", invalid="ignore"):
            difference = x - y
            grad_x = grad_out * call(Sigmoid, difference) if needs[0] else None
            grad_y = grad_out * call(Sigmoid, -difference) if needs[1] else None
        return grad_x, grad_y


def reads_own_input(needs: tuple[bool, ...]) -> tuple[bool, ...]:
    """`Primitive.reads` of hypot: x's gradient reads x (x / z), y's reads y (y / z)."""
    return needs


class Hypot(Primitive):
    """z = sqrt(x**2 + y**2);  dz/dx = x / z,  dz/dy = y / z.

    The forward is NumPy's hypot, scaled so that neither 1e300 nor 1e38 in float32
    overflows; both gradients are NaN at the origin (0 / 0), as PyTorch's.
    """

    name = "hypot"
    function = "hypot"
    method = "hypot"
    numpy = ("hypot",)
    broadcasts = True
    reading = Rule(
        "hypot($a, $b)",
        r"\sqrt{$a^{2} + $b^{2}}",
        (
            entrywise("$a / hypot($a, $b)", r"\frac{$a}{\sqrt{$a^{2} + $b^{2}}}"),
            entrywise("$b / hypot($a, $b)", r"\frac{$b}{\sqrt{$a^{2} + $b^{2}}}"),
        ),
    )
    saves_output = True

    reads = reads_own_input

    @staticmethod
    def forward(x: Any, y: Any) -> tuple[Any, Saved]:
        out = namespace(x, y).hypot(x, y)
        return out, (x, y, out)

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        x, y, out = saved
        with np.errstate(invalid="ignore"):
            grad_x = grad_out * (x / out) if needs[0] else None
            grad_y = grad_out * (y / out) if needs[1] else None
        return grad_x, grad_y


# ------------------------------------------------------------------ powers
class Square(Primitive):
    """z = x**2;  dz/dx = 2 x."""

    name = "square"
    function = "square"
    method = "square"
    numpy = ("square",)
    reading = Rule("square($a)", "$a^{2}", (entrywise("2 * $a", "2 $a"),))

    @staticmethod
    def forward(x: Any) -> tuple[Any, Saved]:
        return namespace(x).square(x), x

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        return (grad_out * (2 * saved),)


class Reciprocal(Primitive):
    """z = 1 / x;  dz/dx = -1 / x**2 = -z**2. inf at x = 0 (gradient -inf), as PyTorch."""

    name = "reciprocal"
    function = "reciprocal"
    method = "reciprocal"
    numpy = ("reciprocal",)
    reading = Rule(
        "reciprocal($a)", r"\frac{1}{$a}", (entrywise("-1 / $a**2", r"-\frac{1}{$a^{2}}"),)
    )
    saves_output = True

    @staticmethod
    def forward(x: Any) -> tuple[Any, Saved]:
        with np.errstate(divide="ignore"):
            out = namespace(x).reciprocal(x)
        return out, out

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        return (grad_out * -(saved * saved),)


class Rsqrt(Primitive):
    """z = 1 / sqrt(x);  dz/dx = -1 / (2 x**1.5) = -z**3 / 2. inf at x = 0 (gradient -inf)
    and NaN below, as PyTorch."""

    name = "rsqrt"
    function = "rsqrt"
    method = "rsqrt"
    reading = Rule(
        "rsqrt($a)",
        r"\frac{1}{\sqrt{$a}}",
        (entrywise("-1 / (2 * $a**1.5)", r"-\frac{1}{2 $a^{3/2}}"),),
    )
    saves_output = True

    @staticmethod
    def forward(x: Any) -> tuple[Any, Saved]:
        if is_array(x):
            with np.errstate(divide="ignore", invalid="ignore"):
                out = 1 / namespace(x).sqrt(x)
        else:
            out = call(Rsqrt, x)  # recorded: rsqrt itself, so its derivatives are rsqrt's
        return out, out

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        return (grad_out * (saved * saved * saved * -0.5),)


# ------------------------------------------------------------------ piecewise constant
class _PiecewiseConstant(Primitive):
    """A step function of its input: dz/dx = 0 wherever it is defined, as in PyTorch."""

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        return (_zero_gradient(grad_out),)


class Sign(_PiecewiseConstant):
    """z = sign(x) (-1, 0 or 1);  dz/dx = 0, as in PyTorch."""

    name = "sign"
    function = "sign"
    method = "sign"
    numpy = ("sign",)
    reading = Rule("sign($a)", r"\operatorname{sign}($a)", (constant("0", "0"),))

    @staticmethod
    def forward(x: Any) -> tuple[Any, Saved]:
        xp = namespace(x)
        if xp.isdtype(x.dtype, "bool"):  # sign(True) is True, as PyTorch (NumPy refuses bools)
            return xp.asarray(x, copy=True), None
        return xp.sign(x), None


class Floor(_PiecewiseConstant):
    """z = floor(x), the largest integer <= x;  dz/dx = 0, as in PyTorch."""

    name = "floor"
    function = "floor"
    method = "floor"
    numpy = ("floor",)
    reading = Rule("floor($a)", r"\lfloor $a \rfloor", (constant("0", "0"),))

    @staticmethod
    def forward(x: Any) -> tuple[Any, Saved]:
        return namespace(x).floor(x), None


class Ceil(_PiecewiseConstant):
    """z = ceil(x), the smallest integer >= x;  dz/dx = 0, as in PyTorch."""

    name = "ceil"
    function = "ceil"
    method = "ceil"
    numpy = ("ceil",)
    reading = Rule("ceil($a)", r"\lceil $a \rceil", (constant("0", "0"),))

    @staticmethod
    def forward(x: Any) -> tuple[Any, Saved]:
        return namespace(x).ceil(x), None


class Round(_PiecewiseConstant):
    """z = x rounded to the nearest integer, halves to the even one (0.5 -> 0, 1.5 -> 2), as
    NumPy's rint and torch.round;  dz/dx = 0, as in PyTorch. `x.round(decimals)` and
    `chainrule.round(x, decimals)` round to `decimals` digits after the point (before it when
    negative) as np.round and torch.round do, in x's dtype: rint(x * 10**d) / 10**d for
    d > 0, rint(x / 10**-d) * 10**-d for d < 0."""

    name = "round"
    function = "round"
    method = "round"
    numpy = ("rint",)
    reading = Rule("round($a)", r"\operatorname{round}($a)", (constant("0", "0"),))

    @staticmethod
    def forward(x: Any) -> tuple[Any, Saved]:
        xp = namespace(x)
        if not xp.isdtype(x.dtype, "real floating"):
            # np.rint makes integers float64; PyTorch keeps them
            return xp.asarray(x, copy=True), None
        return (np.rint if xp is np else xp.round)(x), None


class Trunc(_PiecewiseConstant):
    """z = x rounded toward 0;  dz/dx = 0, as in PyTorch."""

    name = "trunc"
    function = "trunc"
    method = "trunc"
    numpy = ("trunc",)
    reading = Rule("trunc($a)", r"\operatorname{trunc}($a)", (constant("0", "0"),))

    @staticmethod
    def forward(x: Any) -> tuple[Any, Saved]:
        return namespace(x).trunc(x), None


class Fmod(Primitive):
    """z = fmod(x, y) = x - trunc(x / y) y, with the sign of x (C's fmod, torch.fmod);
    dz/dx = 1,  dz/dy = -trunc(x / y), as PyTorch (a step function: its own derivative is 0).
    NaN where y = 0, as PyTorch."""

    name = "fmod"
    function = "fmod"
    method = "fmod"
    numpy = ("fmod",)
    broadcasts = True
    reading = Rule(
        "fmod($a, $b)",
        r"\operatorname{fmod}($a, $b)",
        (constant("1", "1"), entrywise("-trunc($a / $b)", r"-\operatorname{trunc}($a / $b)")),
    )

    @staticmethod
    def forward(x: Any, y: Any) -> tuple[Any, Saved]:
        xp = namespace(x, y)
        with np.errstate(divide="ignore", invalid="ignore"):
            quotient = xp.trunc(plain_values(x) / plain_values(y))
            return _fmod(xp, x, y), quotient

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        return grad_out, (grad_out * -saved if needs[1] else None)


def _fmod(xp: Any, x: Any, y: Any) -> Any:
    """C's fmod: the library's own (NumPy, JAX, CuPy), else the standard's remainder of the
    magnitudes with the sign of x, which is the same number (both are exact)."""
    fmod = getattr(xp, "fmod", None)
    if fmod is not None:
        return fmod(x, y)
    return xp.copysign(xp.remainder(xp.abs(x), xp.abs(y)), x)


class Remainder(Primitive):
    """z = remainder(x, y) = x - floor(x / y) y, with the sign of y (Python's %, NumPy's
    remainder, torch.remainder);  dz/dx = 1,  dz/dy = -floor(x / y), as PyTorch. NaN where
    y = 0, as PyTorch."""

    name = "remainder"
    function = "remainder"
    method = "remainder"
    numpy = ("remainder",)
    broadcasts = True
    reading = Rule(
        "remainder($a, $b)",
        r"$a \bmod $b",
        (constant("1", "1"), entrywise("-floor($a / $b)", r"-\lfloor $a / $b \rfloor")),
    )

    @staticmethod
    def forward(x: Any, y: Any) -> tuple[Any, Saved]:
        with np.errstate(divide="ignore", invalid="ignore"):
            xp = namespace(x, y)
            quotient = xp.floor_divide(plain_values(x), plain_values(y))
            return xp.remainder(x, y), quotient

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        return grad_out, (grad_out * -saved if needs[1] else None)


def lerp_reads(needs: tuple[bool, ...]) -> tuple[bool, ...]:
    """`Primitive.reads` of lerp: start's and end's gradients read weight, weight's reads
    start and end."""
    return needs[2], needs[2], needs[0] or needs[1]


class Lerp(Primitive):
    """z = start + weight (end - start);  dz/dstart = 1 - weight,  dz/dend = weight,
    dz/dweight = end - start.

    Computed as torch.lerp computes it: end - (end - start)(1 - weight) where weight is 0.5
    or more in magnitude, so that weight = 1 gives end exactly.
    """

    name = "lerp"
    function = "lerp"
    method = "lerp"
    broadcasts = True
    reading = Rule(
        "lerp($a, $b, $c)",
        r"$a + $c\,($b - $a)",
        (entrywise("1 - $c", "1 - $c"), entrywise("$c", "$c"), entrywise("$b - $a", "$b - $a")),
    )

    reads = lerp_reads

    @staticmethod
    def forward(start: Any, end: Any, weight: Any) -> tuple[Any, Saved]:
        if is_array(start) and is_array(end) and is_array(weight):
            # inf - inf and 0 * inf give NaN, as in PyTorch, without a warning.
            xp = namespace(start, end, weight)
            with np.errstate(invalid="ignore"):
                difference = end - start
                out = xp.where(
                    xp.abs(weight) < 0.5,
                    start + weight * difference,
                    end - difference * (1 - weight),
                )
        else:
            out = call(Lerp, start, end, weight)  # recorded: lerp itself
        return out, (start, end, weight)

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        start, end, weight = saved
        with np.errstate(invalid="ignore"):  # inf - inf, inf * 0: NaN, as PyTorch's
            return (
                grad_out * (1 - weight) if needs[0] else None,
                grad_out * weight if needs[1] else None,
                grad_out * (end - start) if needs[2] else None,
            )
