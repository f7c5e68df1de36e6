"""Finite differences: the derivative measured instead of derived, always in float64.

Central differences (f(x + h) - f(x - h)) / 2h have error O(h^2) on smooth functions; the
inputs are copied to float64 so that rounding in f, about 1e-16 * |f| / h, usually stays far
below the gradients being checked. It does not when |f| is large next to its gradient (a
loss of 1e12 plus small terms): `gradcheck` then reports the entries as unresolved.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import numpy.typing as npt

from chainrule._types import Float64Array

# The kink rules live in kinks.py; they stay importable from here, where they were.
from chainrule.check.kinks import CONVERGENCE as CONVERGENCE
from chainrule.check.kinks import EXTRAPOLATION_ULPS as EXTRAPOLATION_ULPS
from chainrule.check.kinks import KINK_REFINEMENTS as KINK_REFINEMENTS
from chainrule.check.kinks import is_kink as is_kink
from chainrule.check.kinks import one_sided_slopes as one_sided_slopes
from chainrule.check.kinks import refine_kink as refine_kink
from chainrule.check.kinks import refine_miss as refine_miss

ScalarFunction = Callable[[Float64Array], float]

IN_PLACE_HINT = (
    "the same float64 copies are reused at every evaluation, so an in-place update "
    "(x /= 2, x -= x.mean(), np.clip(x, a, b, out=x)) moves the point being measured for "
    "every later one: compute new arrays instead (x = x / 2)"
)
"""Why a function under finite differences may not write into its arguments."""


def real_float64(owner: str, name: str, value: npt.ArrayLike, *, copy: bool = True) -> Float64Array:
    """`value` as a float64 array (a copy unless `copy` is False); a TypeError naming `owner`
    and `name` when it is not real numbers (bool, integer or float): a complex array cast
    to float64 silently loses its imaginary part, and strings ("1.5") are parsed, so a
    check of either would pass for numbers it never saw."""
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        advice = (
            "finite differences here are real: check the real and imaginary parts as two real "
            "arrays"
            if array.dtype.kind == "c"
            else "pass an array of real numbers"
        )
        raise TypeError(f"{owner}: {name} has dtype {array.dtype}, not real numbers; {advice}")
    return np.array(array, dtype=np.float64, copy=copy or None)


@contextmanager
def read_only(*arrays: np.ndarray) -> Iterator[None]:
    """The writeable `arrays` made read-only for the block, so that a function measured by
    finite differences cannot move the point in place (NumPy raises at the write)."""
    frozen = [array for array in arrays if array.flags.writeable]
    for array in frozen:
        array.flags.writeable = False
    try:
        yield
    finally:
        for array in frozen:
            array.flags.writeable = True


def is_write_error(error: ValueError) -> bool:
    """Whether `error` is NumPy's refusal to write into a read-only array."""
    return "read-only" in str(error)


def call_read_only(f: Callable[[Float64Array], Any], point: Float64Array, owner: str) -> Any:
    """f(point) with `point` read-only; a ValueError naming `owner` when f writes into it."""
    with read_only(point):
        try:
            return f(point)
        except ValueError as error:
            if not is_write_error(error):
                raise
            message = f"{owner}: f wrote into its argument ({error}); {IN_PLACE_HINT}"
    raise ValueError(message)


def float64_value(
    result: Any, eps: float, *, owner: str, function: str = "f", value: str = "f's value"
) -> float:
    """`result` as a float; a ValueError naming `owner` when it comes back in a float dtype
    narrower than float64, whose rounding (about 6e-8 * |f| for float32) divided by eps would
    pass for slopes: a right gradient failed, entry after entry, as "kinks", and
    numerical_grad of (v.astype(np.float32)**2).sum() at [1, 2] gave [1.907, 3.815]. A
    TypeError naming `owner` when it is not one number (an array of several values, a
    string, None): Python's and NumPy's own errors ("only 0-dimensional arrays can be
    converted to Python scalars") named neither the function nor the fix."""
    dtype = getattr(result, "dtype", None)
    try:
        kind = np.dtype(dtype) if dtype is not None else None
    except TypeError:
        kind = None
    if kind is not None and kind.kind == "f" and kind.itemsize < 8:
        raise ValueError(
            f"{owner}: {value} came back as {kind.name}; central differences with "
            f"eps={eps:g} need it computed in float64, or their rounding swamps the slope. "
            f"{function} receives float64 copies of the arrays: compute from them "
            "without casting down (drop any .astype(np.float32) or float32 constant)"
        )
    shape = getattr(result, "shape", None)
    if shape is not None and int(np.prod(shape)) != 1:
        raise TypeError(
            f"{owner}: {value} has shape {tuple(shape)}, not one number; {function} must "
            "return the loss as a scalar: reduce it with .sum() or .mean() (a non-scalar "
            "output y is checked through (y * weights).sum() with fixed random weights)"
        )
    if shape:
        result = result[(0,) * len(shape)]  # one value in an array of shape (1,) or (1, 1)
    if isinstance(result, str | bytes):
        raise TypeError(f"{owner}: {value} is the string {result!r}; return the loss as a float")
    try:
        return float(result)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"{owner}: {value} is {result!r}, not a number; {function} must return the loss "
            "as a float"
        ) from error


FLOAT32_LOOKING_BITS = 12
"""How many significant bits a value must carry to count as evidence of a float32 loss: a
float32 result carries up to 24, about 24 at random; a float64 one lands on a float32 only as
a short dyadic number (a rounding residue such as 2**-52 of a loss that is 0, a small integer)."""


def significant_bits(value: float) -> int:
    """The number of significant bits of a finite float64 `value`: 53 minus its trailing zero
    bits (0 for 0; a float32 number has at most 24)."""
    mantissa, _ = math.frexp(value)
    whole = abs(int(mantissa * 2**53))
    return 0 if whole == 0 else 53 - ((whole & -whole).bit_length() - 1)


def require_float64_values(
    values: Iterable[float], eps: float, *, owner: str, function: str = "f"
) -> None:
    """A ValueError naming `owner` when f's `values` (at a point and at points eps away) look
    computed in float32 or narrower and converted to a Python float (float(), .item()), which
    `float64_value` cannot see: each is exactly a float32, not all are integers, and two
    different ones carry more than FLOAT32_LOOKING_BITS, while eps is no float32 (so x +
    eps carries bits no float32 holds, and a float64 computation from it lands on a float32
    only as a short dyadic number). Their rounding, about 6e-8 * |f|, over eps passes for
    slope: a right gradient of (x.float()**2).sum().item() FAILED by 5% with "no simple
    pattern"."""
    if float(np.float32(eps)) == eps:
        return
    finite = [float(value) for value in values if np.isfinite(value)]
    if all(value == round(value) for value in finite):
        return  # a step function's counts, exact in any float
    with np.errstate(over="ignore", under="ignore"):
        if not all(float(np.float32(value)) == value for value in finite):
            return
    looking = {value for value in finite if significant_bits(value) > FLOAT32_LOOKING_BITS}
    if len(looking) < 2:
        return
    shown = ", ".join(f"{value!r}" for value in finite[:3])
    raise ValueError(
        f"{owner}: {function}'s values near the point ({shown}) are all exact float32 "
        f"numbers: {function} computes in float32 (or float16) and converts the result "
        "(float(), .item()), and that rounding, about 6e-8 * |f|, divided by "
        f"eps={eps:g} swamps the slope. {function} receives float64 copies: compute from "
        "them in float64 (drop any .float(), .astype(np.float32) or float32 constant)"
    )


def check_step(owner: str, eps: float, point: Float64Array | None = None) -> float:
    """`eps` as a float when it can measure a derivative; a ValueError naming `owner` when it
    is not a finite number > 0, or (given the `point`) so small that x + eps == x in float64
    for the largest ``|x|`` (a zero difference divided by a zero step)."""
    is_number = isinstance(eps, (int, float, np.integer, np.floating)) and not isinstance(eps, bool)
    if not is_number or not 0 < float(eps) < np.inf:
        raise ValueError(
            f"{owner}: eps, the finite-difference step, must be a finite number "
            f"> 0 such as 1e-6, got {eps!r}"
        )
    eps = float(eps)
    if point is not None:
        finite = np.abs(point[np.isfinite(point)])
        largest = float(finite.max()) if finite.size else 0.0
        if largest + eps == largest:
            raise ValueError(
                f"{owner}: eps={eps!r} is lost to rounding: x + eps == x in float64 for the "
                f"entry of size {largest:g}; use eps of at least {largest * 2**-52 * 1e3:.1g} "
                f"(default 1e-6)"
            )
    return eps


def numerical_grad(f: ScalarFunction, x: npt.ArrayLike, eps: float = 1e-6) -> Float64Array:
    """df/dx by central differences, entry by entry: (f(x + eps e_i) - f(x - eps e_i)) / 2 eps.

    `f` receives a float64 copy of `x` (perturbed in one entry, read-only: a write into it
    is a ValueError) and must return a float64 scalar (a float32 one, or float32 values
    converted to Python floats, are refused with a ValueError); the result is float64 with
    x's shape. Costs 2 * x.size evaluations of f. Each entry carries rounding noise of about
    ``2**-52 * |f(x)| / eps``: entries not well above it are noise (`gradcheck` says which;
    it reports them as unresolved).

    Example:
        >>> numerical_grad(lambda v: float((v**2).sum()), np.array([1.0, -2.0]))
        array([ 2., -4.])
    """
    point = real_float64("numerical_grad", "x", x)
    eps = check_step("numerical_grad", eps, point)
    grad = np.empty_like(point)

    def evaluate(perturbed: Float64Array) -> float:
        return float64_value(
            call_read_only(f, perturbed, "numerical_grad"), eps, owner="numerical_grad"
        )

    values = []
    for index in np.ndindex(point.shape):
        f_plus, f_minus, step = probe(evaluate, point, index, eps)
        grad[index] = (f_plus - f_minus) / step
        values += [f_plus, f_minus]
    require_float64_values(values, eps, owner="numerical_grad")
    return grad


def probe(
    f: ScalarFunction, point: Float64Array, index: tuple[int, ...], eps: float
) -> tuple[float, float, float]:
    """f at `point` moved by +eps and -eps in one entry, and the step actually taken.

    The step is measured as (x + eps) - (x - eps) in float64, not assumed to be 2 eps, and
    the entry is restored exactly afterwards.
    """
    original = point[index]
    upper, lower = original + eps, original - eps
    point[index] = upper
    f_plus = float(f(point))
    point[index] = lower
    f_minus = float(f(point))
    point[index] = original
    return f_plus, f_minus, float(upper - lower)


def directional_derivative(
    f: ScalarFunction, x: npt.ArrayLike, direction: npt.ArrayLike, eps: float = 1e-6
) -> tuple[float, float, float]:
    """f(x + eps v), f(x - eps v) and the central difference (f(x+eps v) - f(x-eps v)) / 2 eps.

    Two evaluations of f measure <v, grad f(x)> for a whole array at once.
    """
    point = real_float64("directional_derivative", "x", x, copy=False)
    eps = check_step("directional_derivative", eps, point)
    step = real_float64("directional_derivative", "direction", direction, copy=False) * eps
    f_plus = float64_value(f(point + step), eps, owner="directional_derivative")
    f_minus = float64_value(f(point - step), eps, owner="directional_derivative")
    require_float64_values((f_plus, f_minus), eps, owner="directional_derivative")
    return f_plus, f_minus, (f_plus - f_minus) / (2 * eps)
