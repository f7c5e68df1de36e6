"""Finite differences: the derivative measured instead of derived, always in float64.

Central differences (f(x + h) - f(x - h)) / 2h have error O(h^2) on smooth functions; the
inputs are copied to float64 so that rounding in f, about 1e-16 * |f| / h, usually stays far
below the gradients being checked. It does not when |f| is large next to its gradient (a
loss of 1e12 plus small terms): `gradcheck` then reports the entries as unresolved.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import numpy.typing as npt

from chainrule._types import Float64Array

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
    numerical_grad of (v.astype(np.float32)**2).sum() at [1, 2] gave [1.907, 3.815]."""
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
    return float(result)


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
    is a ValueError) and must return a scalar; the result is float64 with x's shape. Costs
    2 * x.size evaluations of f. Each entry carries rounding noise of about
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

    for index in np.ndindex(point.shape):
        f_plus, f_minus, step = probe(evaluate, point, index, eps)
        grad[index] = (f_plus - f_minus) / step
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
    return f_plus, f_minus, (f_plus - f_minus) / (2 * eps)


def one_sided_slopes(
    f_plus: float, f_centre: float, f_minus: float, step: float
) -> tuple[float, float]:
    """(f(x + h) - f(x)) / h and (f(x) - f(x - h)) / h, with h half the measured central
    `step` that `probe` returns."""
    half = step / 2
    return (f_plus - f_centre) / half, (f_centre - f_minus) / half


def is_kink(miss: float, forward_slope: float, backward_slope: float) -> bool:
    """Whether a central difference that misses the analytic value by `miss` sits on a kink
    (ReLU or ``|x|`` at 0), where the derivative is a convention: the one-sided slopes disagree
    by at least the miss. On a smooth stretch they differ only by about h * f''(x), so a real
    error is never excused; when the step crosses one kink the central difference misses
    the one-sided slope by exactly half their disagreement. The one rule of `gradcheck` and
    of explain's per-link check."""
    return abs(forward_slope - backward_slope) >= miss


KINK_REFINEMENTS = 2
"""How many tenfold finer steps `refine_kink` takes before it calls a miss a failure."""

CONVERGENCE = 25.0
"""How many times smaller a miss must get at each tenfold finer step for `refine_miss` to
read it as truncation error (which shrinks a hundredfold) rather than a wrong gradient."""


EXTRAPOLATION_ULPS = 16
"""The rounding `refine_miss` allows its Richardson extrapolation, in ulps of the two central
differences it combines (each exact to an ulp or two where f(x) is 0, and the sum to ~1/99)."""


def refine_kink(
    measure: Callable[[float], tuple[float, float, float]],
    f0: float,
    analytic: float,
    coarse: float,
    slopes: tuple[float, float],
    *,
    eps: float,
    floor: float,
    tolerance: Callable[[float], float],
) -> tuple[str, float, float]:
    """Whether a miss that looks like a kink at step `eps` is one: "kink", "agrees" or
    "fails", with the last central difference and the miss it was allowed.

    `coarse` is the central difference at `eps` and `slopes` its one-sided slopes;
    `measure(h)` gives f(x + h v), f(x - h v) and the step taken; `tolerance(central)` the
    allowed miss at `eps`. A step 10**k times smaller rounds (10**k - 1) `floor` worse: a
    miss inside that rounding but past the tolerance is undecided (the coarse "kink" stands),
    and agreement may use no more of it than the tolerance itself. At eps/10, then eps/100:
    a central difference within tolerance means the step had straddled a kink (or a minimum)
    that the finer one clears, so the gradient agrees;
    one-sided slopes that still disagree by the miss, and by at least half as much as at the
    step before, are a kink (a jump in slope does not shrink with the step). On a smooth
    stretch they disagree by about h * f''(x), a tenth as much at each finer step, so the
    curvature at the bottom of a parabola never excuses a wrong gradient.
    """
    disagreement = abs(slopes[0] - slopes[1])
    numerical, allowed = coarse, tolerance(coarse)
    for k in range(1, KINK_REFINEMENTS + 1):
        f_plus, f_minus, step = measure(eps / 10**k)
        if step == 0:
            # The finer step is lost to rounding at this magnitude: keep the coarse verdict.
            return "kink", numerical, allowed
        numerical = (f_plus - f_minus) / step
        allowed, rounding = tolerance(numerical), floor * (10**k - 1)
        miss = abs(analytic - numerical)
        if miss <= allowed + min(rounding, allowed):
            return "agrees", numerical, allowed
        if miss <= allowed + rounding:
            # Within the finer step's rounding (10**k times the floor) but past the
            # tolerance: this step cannot tell a right gradient from a wrong one (passing it
            # passed a gradient 5% off at |f(x)| = 1e6), so the coarse verdict stands.
            return "kink", numerical, allowed + rounding
        forward_slope, backward_slope = one_sided_slopes(f_plus, f0, f_minus, step)
        finer = abs(forward_slope - backward_slope)
        if is_kink(miss, forward_slope, backward_slope) and finer >= disagreement / 2:
            return "kink", numerical, allowed
        disagreement = finer
    return "fails", numerical, allowed


def refine_miss(
    measure: Callable[[float], tuple[float, float, float]],
    f0: float,
    analytic: float,
    coarse: float,
    slopes: tuple[float, float],
    *,
    eps: float,
    floor: float,
    tolerance: Callable[[float], float],
    step_error: float = 0.0,
) -> tuple[str, float, float]:
    """`refine_kink` for any miss at step `eps`, kink-like or not: "kink", "agrees",
    "unresolved" or "fails", with the last central difference and the miss it was allowed.

    A miss whose one-sided slopes agree may still be the central difference's truncation
    error, eps**2 / 6 times the third derivative: all it measures where the gradient is 0
    at an inflection (x**3 at 0), above the absolute tolerance a zero gradient leaves (none
    at all when every entry of the gradient is 0). At eps/10 that error is a hundred times
    smaller: the finer difference agrees, or its miss shrinks at least CONVERGENCE-fold at
    each of the finer steps and their Richardson extrapolation (the eps**2 term removed)
    agrees. A wrong gradient misses by
    the same amount at every step, and at a kink by half the slopes' jump. Only a miss that
    looked like a kink at `eps` can be called one (a finer step lost to rounding keeps the
    coarse verdict). A converged miss comes back with the extrapolated value.

    The extrapolation uses the ratio of the steps `measure` says it took; `step_error`
    bounds the relative error of the finest step where it cannot say (a direction moves each
    entry by its own rounding), and widens the extrapolation's allowance by that fraction
    of the eps**2 term it removes.

    A finer step is judged against the tolerance alone: its difference rounds 10**k times
    worse, and where that rounding (`floor` times 10**k - 1) exceeds the tolerance it cannot
    tell a right gradient from a wrong one (allowing that rounding would pass a gradient 15%
    off at |f(x)| = 1e6): the miss stays a failure when the finer difference misses by more
    than that rounding plus 1/CONVERGENCE of the coarser miss (a wrong gradient misses as
    much at every step), and is "unresolved" otherwise (the right zero gradient of
    1e6 + 1e10 (x - 1)**3 at 1, whose coarse miss 1e-2 is truncation, and whose finer
    differences round by about 2e-2).
    """
    if is_kink(abs(analytic - coarse), *slopes):
        verdict, numerical, allowed = refine_kink(
            measure, f0, analytic, coarse, slopes, eps=eps, floor=floor, tolerance=tolerance
        )
        if verdict != "fails":
            return verdict, numerical, allowed
        # A step on the order of the scale of the function's curvature (a norm of a vector
        # of size 1e-6) looks like a kink and may need every finer step to converge.
        failure = ("fails", numerical, allowed)
    else:
        # A failure is reported at the coarse step, as measured there (diagnosis reads it).
        failure = ("fails", coarse, tolerance(coarse))
    miss, central, step = abs(analytic - coarse), coarse, 2 * eps
    for k in range(1, KINK_REFINEMENTS + 1):
        coarser = step
        f_plus, f_minus, step = measure(eps / 10**k)
        if step == 0:
            return failure
        previous, central = central, (f_plus - f_minus) / step
        allowed = tolerance(central)
        finer = abs(analytic - central)
        rounding = floor * (10**k - 1)
        if rounding > allowed:
            # A step 10**k times finer rounds 10**k times worse: past the tolerance, its
            # difference cannot tell a right gradient from a wrong one. A miss that stays
            # (beyond that rounding) is a wrong gradient; one that may have shrunk like the
            # truncation error it would be (a zero gradient at an inflection) is undecided.
            shrunk = (miss + floor * 10 ** (k - 1)) / CONVERGENCE
            if finer > allowed + rounding + shrunk:
                return failure
            return "unresolved", central, allowed + rounding + shrunk
        if finer <= allowed:
            return "agrees", central, allowed
        if finer * CONVERGENCE > miss:
            return failure  # a wrong gradient misses by as much at every step
        miss = finer
    # The misses shrank like eps**2: Richardson's extrapolation of the last two steps
    # removes that term, and the limit must agree with the analytic value within the
    # tolerance, plus the extrapolation's own rounding (a few ulps of the two differences:
    # the only allowance where the tolerance is 0, as for an all-zero gradient). The steps
    # taken, not 10**k, set the ratio: x + h rounds to the spacing of x, so away from 0 a
    # step of 1e-8 is off by ~1e-8 relative, enough to leave an eps**2 term of 1e-14 where
    # the gradient is 0 (1e10 (x - 1)**3 at 1).
    limit = central + (central - previous) / ((coarser / step) ** 2 - 1)
    rounding = EXTRAPOLATION_ULPS * np.finfo(np.float64).eps * (abs(central) + abs(previous))
    rounding += step_error * abs(central - previous)
    allowed = tolerance(limit) + rounding
    if abs(analytic - limit) <= allowed:
        return "agrees", limit, allowed
    return failure
