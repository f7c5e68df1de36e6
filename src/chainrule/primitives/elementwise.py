"""Element-wise primitives: arithmetic, exp/log, activations.

Each docstring states z = f(x, ...) and the local derivative that `vjp` multiplies by.
Binary rules return gradients in the output's (broadcast) shape; the engine reduces them.
The rules compute in their inputs' array namespace (`xp`, chainrule.backends): NumPy, or the
array API standard's functions on CuPy and JAX arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.backends import creation_device, namespace
from chainrule.primitives.base import (
    Grads,
    Outs,
    Primitive,
    Saved,
    plain_values,
    reads_the_others,
)
from chainrule.primitives.call import call, is_array
from chainrule.primitives.reading import Rule, constant, entrywise
from chainrule.primitives.scatter import owned_index


class Add(Primitive):
    """z = x + y;  dz/dx = 1,  dz/dy = 1."""

    name = "add"
    method = "__add__"
    numpy = ("add",)
    broadcasts = True
    reading = Rule("$a + $b", "$a + $b", (constant("1", "1"), constant("1", "1")))

    @staticmethod
    def forward(x: Any, y: Any) -> tuple[Any, Saved]:
        return x + y, None

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        return grad_out, grad_out

    @staticmethod
    def forward_into(x: np.ndarray, y: np.ndarray, *, out: np.ndarray) -> tuple[np.ndarray, Saved]:
        return np.add(x, y, out=out), None


class Sub(Primitive):
    """z = x - y;  dz/dx = 1,  dz/dy = -1."""

    name = "sub"
    method = "__sub__"
    numpy = ("subtract",)
    broadcasts = True
    reading = Rule("$a - $b", "$a - $b", (constant("1", "1"), constant("-1", "-1")))

    @staticmethod
    def forward(x: Any, y: Any) -> tuple[Any, Saved]:
        return x - y, None

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        return grad_out, (-grad_out if needs[1] else None)

    @staticmethod
    def forward_into(x: np.ndarray, y: np.ndarray, *, out: np.ndarray) -> tuple[np.ndarray, Saved]:
        return np.subtract(x, y, out=out), None


class Mul(Primitive):
    """z = x * y;  dz/dx = y,  dz/dy = x."""

    name = "mul"
    method = "__mul__"
    numpy = ("multiply",)
    broadcasts = True
    reading = Rule("$a * $b", r"$a \odot $b", (entrywise("$b", "$b"), entrywise("$a", "$a")))
    reads = reads_the_others

    @staticmethod
    def forward(x: Any, y: Any) -> tuple[Any, Saved]:
        return x * y, (x, y)

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        x, y = saved
        return (grad_out * y if needs[0] else None), (grad_out * x if needs[1] else None)

    @staticmethod
    def forward_into(x: np.ndarray, y: np.ndarray, *, out: np.ndarray) -> tuple[np.ndarray, Saved]:
        return np.multiply(x, y, out=out), (x, y)


class Div(Primitive):
    """z = x / y;  dz/dx = 1 / y,  dz/dy = -x / y**2 = -z / y."""

    name = "div"
    method = "__truediv__"
    numpy = ("true_divide",)
    broadcasts = True
    reading = Rule(
        "$a / $b",
        r"\frac{$a}{$b}",
        (entrywise("1 / $b", r"\frac{1}{$b}"), entrywise("-$a / $b**2", r"-\frac{$a}{$b^{2}}")),
    )
    saves_output = True

    @staticmethod
    def forward(x: Any, y: Any) -> tuple[Any, Saved]:
        out = x / y
        return out, (y, out)

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        y, out = saved
        grad_x = grad_out / y
        return (grad_x if needs[0] else None), (-grad_x * out if needs[1] else None)


class Neg(Primitive):
    """z = -x;  dz/dx = -1."""

    name = "neg"
    method = "__neg__"
    numpy = ("negative",)
    reading = Rule("-$a", "-$a", (constant("-1", "-1"),))

    @staticmethod
    def forward(x: Any) -> tuple[Any, Saved]:
        return -x, None

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        return (-grad_out,)


class PowScalar(Primitive):
    """z = x ** p for a constant p;  dz/dx = p * x ** (p - 1), and exactly 0 for p = 0 (also
    at x = 0, where p * x ** -1 would be 0 * inf), as PyTorch's pow_backward."""

    name = "pow_scalar"
    reading = Rule(
        "$a**$exponent", "$a^{$exponent}", (entrywise("$power_rule", "$power_rule_latex"),)
    )

    @staticmethod
    def forward(x: Any, *, exponent: float) -> tuple[Any, Saved]:
        if exponent == 2:
            return x * x, (x, exponent)
        return x**exponent, (x, exponent)

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        x, exponent = saved
        if exponent == 2:
            return (grad_out * (2 * x),)
        if exponent == 1:
            return (grad_out,)
        if exponent == 0:
            # A constant: no gradient and no graph (grad_out * 0 would be NaN where it is inf).
            return (namespace(x).zeros(x.shape, dtype=x.dtype),)
        # x ** (p - 1) is inf at x = 0 for p < 1: the same inf PyTorch returns, not an error.
        with np.errstate(divide="ignore", invalid="ignore"):
            return (grad_out * (exponent * x ** (exponent - 1)),)


class Pow(Primitive):
    """z = x ** y;  dz/dx = y * x ** (y - 1), taken as 0 where y = 0;
    dz/dy = z * log(x), taken as 0 where x = 0 and y >= 0 (the limit of z * log(x)).

    These are PyTorch's formulas and masks (pow_backward_self, pow_backward_exponent),
    written with `where` as PyTorch does, so the derivatives, first and second, agree with
    PyTorch's everywhere, NaN for NaN: log(x) is NaN for x < 0 and -inf at x = 0.
    """

    name = "pow"
    broadcasts = True
    reading = Rule(
        "$a**$b",
        "$a^{$b}",
        (
            entrywise("$b * $a**($b - 1)", "$b\\, $a^{$b - 1}"),
            entrywise("$a**$b * log($a)", r"$a^{$b} \log $a"),
        ),
    )
    saves_output = True

    @staticmethod
    def forward(x: Any, y: Any) -> tuple[Any, Saved]:
        out = x**y
        return out, (x, y, out)

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        x, y, out = saved
        xp = namespace(x, y)
        grad_x = grad_y = None
        # The masked-out branches may divide by zero or take the log of a negative number;
        # `where` discards those entries, so NumPy's warnings about them mean nothing here.
        with np.errstate(divide="ignore", invalid="ignore"):
            if needs[0]:
                grad_x = xp.where(plain_values(y == 0), 0, grad_out * (y * x ** (y - 1)))
            if needs[1]:
                limit = plain_values((x == 0) & (y >= 0))
                grad_y = grad_out * xp.where(limit, 0, out * xp.log(x))
        return grad_x, grad_y


class Exp(Primitive):
    """z = exp(x);  dz/dx = exp(x) = z."""

    name = "exp"
    function = "exp"
    method = "exp"
    numpy = ("exp",)
    reading = Rule("exp($a)", r"\exp($a)", (entrywise("exp($a)", r"\exp($a)"),))
    saves_output = True

    @staticmethod
    def forward(x: Any) -> tuple[Any, Saved]:
        out = namespace(x).exp(x)
        return out, out

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        return (grad_out * saved,)


class Log(Primitive):
    """z = log(x);  dz/dx = 1 / x."""

    name = "log"
    function = "log"
    method = "log"
    numpy = ("log",)
    reading = Rule("log($a)", r"\log($a)", (entrywise("1 / $a", r"\frac{1}{$a}"),))

    @staticmethod
    def forward(x: Any) -> tuple[Any, Saved]:
        return namespace(x).log(x), x

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        return (grad_out / saved,)


class Sqrt(Primitive):
    """z = sqrt(x);  dz/dx = 1 / (2 sqrt(x)) = 1 / (2 z)."""

    name = "sqrt"
    function = "sqrt"
    method = "sqrt"
    numpy = ("sqrt",)
    reading = Rule(
        "sqrt($a)", r"\sqrt{$a}", (entrywise("1 / (2 * sqrt($a))", r"\frac{1}{2\sqrt{$a}}"),)
    )
    saves_output = True

    @staticmethod
    def forward(x: Any) -> tuple[Any, Saved]:
        out = namespace(x).sqrt(x)
        return out, out

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        return (grad_out / (2 * saved),)


class Abs(Primitive):
    """z = abs(x);  dz/dx = sign(x) (0 at x = 0, as in PyTorch)."""

    name = "abs"
    function = "abs"
    method = "abs"
    numpy = ("absolute",)
    reading = Rule(
        "abs($a)", r"\lvert $a \rvert", (entrywise("sign($a)", r"\operatorname{sign}($a)"),)
    )

    @staticmethod
    def forward(x: Any) -> tuple[Any, Saved]:
        xp = namespace(x)
        if xp.isdtype(x.dtype, "bool"):  # |True| is True; NumPy has no sign for bools
            return xp.asarray(x, copy=True), None
        return xp.abs(x), xp.sign(plain_values(x))

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        return (grad_out * saved,)


class Tanh(Primitive):
    """z = tanh(x);  dz/dx = 1 - z**2."""

    name = "tanh"
    function = "tanh"
    method = "tanh"
    numpy = ("tanh",)
    reading = Rule("tanh($a)", r"\tanh($a)", (entrywise("1 - tanh($a)**2", r"1 - \tanh^{2}($a)"),))
    saves_output = True

    @staticmethod
    def forward(x: Any) -> tuple[Any, Saved]:
        out = namespace(x).tanh(x)
        return out, out

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        return (grad_out * (1 - saved * saved),)


class Sin(Primitive):
    """z = sin(x);  dz/dx = cos(x)."""

    name = "sin"
    function = "sin"
    method = "sin"
    numpy = ("sin",)
    reading = Rule("sin($a)", r"\sin($a)", (entrywise("cos($a)", r"\cos($a)"),))

    @staticmethod
    def forward(x: Any) -> tuple[Any, Saved]:
        return namespace(x).sin(x), x

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        # Recorded (second-order) path: cos(x) as sin(x + pi/2), a recorded sin.
        xp = namespace(saved)
        cos = xp.cos(saved) if is_array(saved) else xp.sin(saved + np.pi / 2)
        return (grad_out * cos,)


class Sigmoid(Primitive):
    """z = 1 / (1 + exp(-x));  dz/dx = z (1 - z).

    Computed as exp(-logaddexp(0, -x)) = exp(-log(1 + exp(-x))): logaddexp never overflows,
    so large negative x gives 0 and large positive x gives 1 without a warning.
    """

    name = "sigmoid"
    function = "sigmoid"
    method = "sigmoid"
    reading = Rule(
        "sigmoid($a)",
        r"\sigma($a)",
        (entrywise("sigmoid($a) * (1 - sigmoid($a))", r"\sigma($a)\,(1 - \sigma($a))"),),
    )
    saves_output = True

    @staticmethod
    def forward(x: Any) -> tuple[Any, Saved]:
        if is_array(x):
            xp = namespace(x)
            out = xp.exp(-xp.logaddexp(0, -x))
        else:
            # Recorded (second-order) path: sigmoid itself, recorded, so every higher
            # derivative is a polynomial in z, as in PyTorch. Spelled 1 / (1 + exp(-x)), its
            # backward would multiply by exp(-x), which overflows below x = -709 (0 * inf =
            # NaN), and divide by (1 + exp(-x))**2, which overflows below x = -355 (0).
            out = call(Sigmoid, x)
        return out, out

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        return (grad_out * (saved * (1 - saved)),)


_RELU_AT_NAN = "1 where $a is NaN, as PyTorch"
_TIES_AT_NAN = "1 where $a or $b is NaN, as PyTorch"
"""The derivatives at NaN of relu, maximum and minimum, whose masks read 0 there."""


class ReLU(Primitive):
    """z = max(x, 0);  dz/dx = [x > 0] (0 at the kink, as in PyTorch), and 1 at NaN.

    The mask is [z != 0], which is [x > 0] but for NaN: z is NaN there, and its gradient
    passes through as PyTorch's, clip's and maximum's do."""

    name = "relu"
    function = "relu"
    method = "relu"
    reading = Rule(
        "relu($a)",
        r"\operatorname{relu}($a)",
        (entrywise("[$a > 0]", r"[$a > 0]", at_nan=_RELU_AT_NAN),),
    )

    @staticmethod
    def forward(x: Any) -> tuple[Any, Saved]:
        if type(x) is np.ndarray:  # the eager step's hot path: `is_array`'s NumPy case
            out = np.maximum(x, 0)
            return out, out != 0
        if is_array(x):
            # Same values as x * mask (up to the sign of zero), without a mixed-dtype multiply.
            out = namespace(x).maximum(x, 0)
            return out, out != 0
        mask = ~np.asarray(x <= 0)  # a recorded comparison's values
        return x * mask, mask

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        if type(saved) is np.ndarray:  # `as_factor`'s NumPy case, without its call
            return (grad_out * saved,)
        return (grad_out * as_factor(saved, grad_out),)

    @staticmethod
    def forward_into(x: np.ndarray, *, out: np.ndarray) -> tuple[np.ndarray, Saved]:
        np.maximum(x, 0, out=out)
        return out, out != 0

    @staticmethod
    def vjp_into(saved: Saved, grad_out: np.ndarray, needs: tuple[bool, ...], outs: Outs) -> Grads:
        """grad_out * mask into outs[0], which may be grad_out itself (in place)."""
        return (np.multiply(grad_out, saved, out=outs[0]),)


class Maximum(Primitive):
    """z = max(x, y);  dz/dx = [x > y] + [x = y]/2,  dz/dy = [y > x] + [x = y]/2, and 1 to
    both where a NaN makes them unordered (as PyTorch: the NaN side made the output)."""

    name = "maximum"
    function = "maximum"
    numpy = ("maximum",)
    broadcasts = True
    reading = Rule(
        "maximum($a, $b)",
        r"\max($a, $b)",
        (
            entrywise("[$a > $b] (1/2 on ties)", r"[$a > $b]", at_nan=_TIES_AT_NAN),
            entrywise("[$b > $a] (1/2 on ties)", r"[$b > $a]", at_nan=_TIES_AT_NAN),
        ),
    )

    @staticmethod
    def forward(x: Any, y: Any) -> tuple[Any, Saved]:
        xp = namespace(x, y)
        return xp.maximum(x, y), _tie_split_weights(plain_values(x), plain_values(y))

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        weight_x, weight_y = saved
        return (grad_out * weight_x if needs[0] else None), (
            grad_out * weight_y if needs[1] else None
        )


class Minimum(Primitive):
    """z = min(x, y);  dz/dx = [x < y] + [x = y]/2,  dz/dy = [y < x] + [x = y]/2, and 1 to
    both where a NaN makes them unordered (as PyTorch)."""

    name = "minimum"
    function = "minimum"
    numpy = ("minimum",)
    broadcasts = True
    reading = Rule(
        "minimum($a, $b)",
        r"\min($a, $b)",
        (
            entrywise("[$a < $b] (1/2 on ties)", r"[$a < $b]", at_nan=_TIES_AT_NAN),
            entrywise("[$b < $a] (1/2 on ties)", r"[$b < $a]", at_nan=_TIES_AT_NAN),
        ),
    )

    @staticmethod
    def forward(x: Any, y: Any) -> tuple[Any, Saved]:
        xp = namespace(x, y)
        return xp.minimum(x, y), _tie_split_weights(plain_values(y), plain_values(x))

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        return Maximum.vjp(saved, grad_out, needs)


def _tie_split_weights(winner: Any, loser: Any) -> tuple[Any, Any]:
    """x's and y's shares of the gradient, x's being 1 where `winner` is strictly larger, 1/2
    on ties, 0 where it is smaller, and y's the reverse; both 1 where a NaN leaves the two
    unordered (PyTorch's convention). Counted from the losing comparisons, which NaN fails:
    z is NaN there, and sending its gradient to the other input alone hid the NaN's source."""
    xp = namespace(winner, loser)
    dtype = xp.result_type(winner, loser)
    half_ties = xp.astype(winner == loser, dtype) * 0.5
    return (
        1 - xp.astype(winner < loser, dtype) - half_ties,
        1 - xp.astype(loser < winner, dtype) - half_ties,
    )


def as_factor(mask: Any, like: Any) -> Any:
    """The boolean `mask` as a factor of `like` (0 or 1): the mask itself for NumPy arrays
    and Tensors, which multiply booleans as numbers; `like`'s dtype for other libraries, since
    the array API standard multiplies no booleans. A product keeps NaN and inf where `where`
    would drop them, so both paths give the same values."""
    if isinstance(mask, (np.ndarray, np.generic)):
        return mask  # taken from NumPy arrays or Tensors, it multiplies them as it is
    xp = namespace(mask, like)
    return mask if xp is np else xp.astype(mask, like.dtype)


class Where(Primitive):
    """z = x where cond else y;  dz/dx = [cond],  dz/dy = [not cond]. cond is a constant."""

    name = "where"
    function = "where"
    broadcasts = True
    reading = Rule(
        "where(cond, $a, $b)",
        r"\operatorname{where}(c, $a, $b)",
        (entrywise("[cond]", "[c]"), entrywise("[not cond]", r"[\lnot c]")),
    )

    @staticmethod
    def forward(x: Any, y: Any, *, condition: np.ndarray) -> tuple[Any, Saved]:
        # The node's own copy: the caller's mask may change before the backward.
        return namespace(condition, x, y).where(condition, x, y), owned_index(condition)

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        condition = saved
        return (grad_out * as_factor(condition, grad_out) if needs[0] else None), (
            grad_out * as_factor(~condition, grad_out) if needs[1] else None
        )


class Clip(Primitive):
    """z = min(max(x, low), high);  dz/dx = [low <= x <= high] (PyTorch's clamp convention)."""

    name = "clip"
    function = "clip"
    method = "clip"
    reading = Rule(
        "clip($a, $low, $high)",
        r"\operatorname{clip}($a, $low, $high)",
        (entrywise("[$clip_mask]", "[$clip_mask_latex]"),),
    )

    @staticmethod
    def forward(x: Any, *, low: float | None, high: float | None) -> tuple[Any, Saved]:
        xp = namespace(x)
        raw = plain_values(x)
        inside = xp.ones(x.shape, dtype=xp.bool, device=creation_device(raw))
        if low is not None:
            inside = inside & (raw >= low)
        if high is not None:
            inside = inside & (raw <= high)
        return xp.clip(x, low, high), inside

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        return (grad_out * as_factor(saved, grad_out),)


class Cast(Primitive):
    """z = x converted to another float dtype;  the gradient is converted back."""

    name = "astype"
    method = "astype"
    reading = Rule("$a.astype($dtype)", r"$a", (constant("1", "1"),), checkable=False)

    @staticmethod
    def forward(x: Any, *, dtype: np.dtype[Any]) -> tuple[Any, Saved]:
        xp = namespace(x)
        if xp is np:  # ndarrays, NumPy scalars and Tensors (recorded) convert themselves
            return x.astype(dtype), x.dtype
        return xp.astype(x, _dtype_in(xp, dtype)), x.dtype

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        xp = namespace(grad_out)
        return (grad_out.astype(saved) if xp is np else xp.astype(grad_out, saved),)


def _dtype_in(xp: Any, dtype: Any) -> Any:
    """`dtype` (a NumPy dtype or its name, float32) as the dtype of that name in `xp`."""
    try:
        name = np.dtype(dtype).name
    except TypeError:
        return dtype  # already a dtype of `xp`'s library
    return getattr(xp, name)
