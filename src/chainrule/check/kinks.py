"""Telling a kink from a wrong gradient: the one-sided slopes of a central difference, the
kink rule (they disagree by at least the miss), and a miss measured again with tenfold finer
steps, a kink staying put while curvature and truncation error shrink."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


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

MORE_KINK_REFINEMENTS = 3
"""How many more tenfold finer steps `refine_kink` may take while every step still straddles
kinks (their number shrinking with the step, so the slopes' disagreement shrinks but stays
past the miss) and the next step's rounding stays within the tolerance."""

CONVERGENCE = 25.0
"""How many times smaller a miss must get at each tenfold finer step for `refine_miss` to
read it as truncation error (which shrinks a hundredfold) rather than a wrong gradient."""


SHRINKING = 2.0
"""How many times smaller a miss must get at a tenfold finer step for `refine_miss` to take
the next one though it did not shrink like truncation error (CONVERGENCE): kinks crossed by
the step, fewer at each finer one. A wrong gradient misses by as much at every step."""

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
    """Whether a miss that looks like a kink at step `eps` is one: "kink", "agrees",
    "unresolved" or "fails", with the last central difference and the miss it was allowed.

    `coarse` is the central difference at `eps` and `slopes` its one-sided slopes;
    `measure(h)` gives f(x + h v), f(x - h v) and the step taken; `tolerance(central)` the
    allowed miss at `eps`. A step 10**k times smaller rounds (10**k - 1) `floor` worse: a
    miss inside that rounding but past the tolerance is "unresolved", as is a finer step lost
    to rounding, and agreement may use no more of it than the tolerance itself. Neither is a
    "kink": a kink is excused, and the coarse step's one-sided slopes disagree by
    h * f''(x) on any curved stretch, so calling an undecided miss a kink passed a gradient
    0.5% off on 1e6 + 1e4 x**2 (and 5% off beside a ReLU's kink at |f(x)| = 1e6) whenever
    another entry of the row was verified. At eps/10, then eps/100:
    a central difference within tolerance means the step had straddled a kink (or a minimum)
    that the finer one clears, so the gradient agrees;
    one-sided slopes that still disagree by the miss, and by at least half as much as at the
    step before, are a kink (a jump in slope does not shrink with the step). On a smooth
    stretch they disagree by about h * f''(x), a tenth as much at each finer step, so the
    curvature at the bottom of a parabola never excuses a wrong gradient.

    Every finer step is taken, even after one found a kink: the kink may lie between eps/100
    and eps/10 from x, which the finest step clears, and there the gradient is measured as
    anywhere else (stopping at the first kink passed 4 |x| at x = -5e-8 with a gradient
    of -3.9). The verdict is the finest decided step's; a step that cannot decide (lost to
    rounding, or a miss within its rounding) leaves a kink a coarser finer step confirmed.
    Where the finest step still straddles kinks whose disagreement shrank (fewer of them
    crossed: a ReLU network's loss along one bias at eps = 1e-2 crosses 34 examples' kinks,
    at eps/100 still one), up to MORE_KINK_REFINEMENTS further steps are taken while their
    rounding stays within the tolerance; stopping at eps/100 FAILED that right gradient.
    """
    disagreement = abs(slopes[0] - slopes[1])
    numerical, allowed = coarse, tolerance(coarse)
    kink = False
    k = 0
    while True:
        k += 1
        f_plus, f_minus, step = measure(eps / 10**k)
        if step == 0:
            # The finer step is lost to rounding at this magnitude: nothing tells a kink
            # from curvature.
            return ("kink" if kink else "unresolved"), numerical, allowed
        numerical = (f_plus - f_minus) / step
        allowed, rounding = tolerance(numerical), floor * (10**k - 1)
        miss = abs(analytic - numerical)
        if miss <= allowed + min(rounding, allowed):
            return "agrees", numerical, allowed
        if miss <= allowed + rounding:
            # Within the finer step's rounding (10**k times the floor) but past the
            # tolerance: this step cannot tell a right gradient from a wrong one (passing it
            # passed a gradient 5% off at |f(x)| = 1e6), nor a kink from curvature.
            return ("kink" if kink else "unresolved"), numerical, allowed + rounding
        forward_slope, backward_slope = one_sided_slopes(f_plus, f0, f_minus, step)
        finer = abs(forward_slope - backward_slope)
        straddles = is_kink(miss, forward_slope, backward_slope)
        kink = straddles and finer >= disagreement / 2
        disagreement = finer
        if k >= KINK_REFINEMENTS and (
            kink
            or not straddles
            or k >= KINK_REFINEMENTS + MORE_KINK_REFINEMENTS
            or floor * (10 ** (k + 1) - 1) > allowed
        ):
            return ("kink" if kink else "fails"), numerical, allowed


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
    straddled_at = 0  # the last step whose miss may be kinks it crossed (0: none)
    k = 0
    while k < KINK_REFINEMENTS or (
        straddled_at
        and k < KINK_REFINEMENTS + MORE_KINK_REFINEMENTS
        and floor * (10 ** (k + 1) - 1) <= tolerance(central)
    ):
        k += 1
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
            # A wrong gradient misses by as much at every step. A miss that still shrank
            # (by SHRINKING), or whose step's slopes disagree by at least the miss, may be
            # kinks, fewer crossed at each step (a ReLU network's loss along one bias at
            # eps = 0.1 crosses several examples' kinks, at eps/100 none): the next step
            # may clear them, and only a finer step that agrees passes it.
            if not (
                finer * SHRINKING <= miss
                or is_kink(finer, *one_sided_slopes(f_plus, f0, f_minus, step))
            ):
                return failure
            straddled_at = k
        miss = finer
    if straddled_at >= k - 1:
        # No finer step agreed, and a difference that may hold kinks is no eps**2 term to
        # extrapolate away: the last two steps must both have shrunk like truncation error.
        return failure
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
