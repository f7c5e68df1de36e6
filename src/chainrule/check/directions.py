"""The random-direction check: <v, grad> against the central difference of the loss along
v, corrected for the rounding of the step; a miss measured again with finer steps, and
traced, by halving the direction, to the kinks or the entry it comes from."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import numpy.typing as npt

from chainrule._types import Float64Array
from chainrule.check.kinks import KINK_REFINEMENTS, is_kink, one_sided_slopes, refine_miss
from chainrule.check.numerical import probe
from chainrule.check.row_setup import RowSetup


def _constant(value: float, central: float) -> float:
    """The tolerance of a direction, the same whatever its central difference."""
    return value


def only_the_kinks_miss(
    row: RowSetup, direction: Float64Array, kinked: npt.NDArray[np.intp]
) -> bool:
    """Whether a direction misses only because it moves entries found sitting on kinks.

    At a point where several entries sit on kinks at once, the loss is not differentiable
    and its slope along a direction is not <v, grad> for any convention at the kinks (two
    ReLUs at 0 whose contributions switch on from opposite sides can add up to a straight
    line of another slope), so the miss proves nothing. The direction is measured again
    with those entries held still: if it agrees then, the miss was the kinks'.
    """
    still = direction.copy()
    still.flat[kinked] = 0.0
    if not np.any(still):
        return True
    along, numerical, allowed, _ = measure_along(row, still)
    return abs(along - numerical) <= allowed


SPLIT_BUDGET = 400
"""Directional derivatives `split_at_kinks` may take for one direction, at least: four per
entry of the array (checking every entry alone takes two)."""


def split_budget(size: int) -> int:
    """The directional derivatives `split_at_kinks` or `locate_miss` may take for one
    direction of an array of `size` entries: SPLIT_BUDGET, or four per entry if more."""
    return max(SPLIT_BUDGET, 4 * size)


def split_at_kinks(row: RowSetup, direction: Float64Array, *, budget: int) -> str:
    """Whether a direction that missed as if across kinks misses only at kinks: "kinks",
    "fails" or "unverified" (out of `budget` evaluations).

    The direction's entries are halved until each part agrees with <part, grad> or is a
    single entry; a single entry that misses must pass `is_kink` and `refine_kink`, as a
    sampled entry must. A wrong entry thus fails wherever it sits, while the kinks of
    entries the sample left out (relu at 0) are excused one by one, each measured alone.
    """
    pending = [np.flatnonzero(direction)]
    spent = 0
    undecided = False
    while pending:
        entries = pending.pop()
        if spent >= budget:
            return "unverified"
        part = np.zeros_like(direction)
        part.flat[entries] = direction.flat[entries]
        along, numerical, allowed, slopes = measure_along(row, part)
        spent += 1
        miss = abs(along - numerical)
        if miss <= allowed:
            continue
        if entries.size > 1:
            half = entries.size // 2
            pending += [entries[:half], entries[half:]]
            continue
        if not is_kink(miss, *slopes):
            return "fails"
        verdict, _, _ = refine_along(row, part, along, numerical, slopes, allowed)
        spent += KINK_REFINEMENTS
        if verdict == "fails":
            return "fails"
        undecided = undecided or verdict == "unresolved"
    return "unverified" if undecided else "kinks"


@dataclass(frozen=True)
class Located:
    """An entry outside the sample that a missing direction was traced to."""

    index: tuple[int, ...]
    analytic: float
    numerical: float


def locate_miss(
    row: RowSetup, direction: Float64Array, sampled: npt.NDArray[np.intp], *, budget: int
) -> Located | None:
    """One entry, not among the `sampled` ones (which agree), whose own central difference
    misses its analytic value and still misses at finer steps (`refine_miss`, as a sampled
    entry's miss is judged: no kink, no truncation error): the direction's unsampled entries
    are halved, following each part that misses, until a single entry is left. None when no
    part misses alone (errors spread thin, or cancelling) or `budget` evaluations run out:
    then no entry is blamed."""
    point, analytic = row.point, row.analytic
    pending = [np.setdiff1d(np.flatnonzero(direction), sampled)]
    spent = 0
    while pending and spent < budget:
        entries = pending.pop()
        spent += 1
        if entries.size == 1:
            index = tuple(int(i) for i in np.unravel_index(int(entries[0]), point.shape))
            f_plus, f_minus, step = probe(row.at_point, point, index, row.eps)
            numerical = (f_plus - f_minus) / step
            miss = abs(float(analytic[index]) - numerical)
            if miss > row.atol + row.floor + row.rtol * abs(numerical):
                # judged as a sampled entry is: a coarse miss that finer steps clear (kinks
                # crossed by a step of 0.1 on the tutorial network) blamed a right entry
                verdict, measured, _ = refine_miss(
                    partial(probe, row.at_point, point, index),
                    row.f0,
                    float(analytic[index]),
                    numerical,
                    one_sided_slopes(f_plus, row.f0, f_minus, step),
                    eps=row.eps,
                    floor=row.floor,
                    tolerance=lambda central: row.atol + row.floor + row.rtol * abs(central),
                )
                spent += KINK_REFINEMENTS
                if verdict == "fails":
                    return Located(index, float(analytic[index]), measured)
            continue
        part = np.zeros_like(direction)
        part.flat[entries] = direction.flat[entries]
        along, numerical, allowed, _ = measure_along(row, part)
        if abs(along - numerical) > allowed:
            half = entries.size // 2
            pending += [entries[half:], entries[:half]]
    return None


def measure_along(
    row: RowSetup, direction: Float64Array
) -> tuple[float, float, float, tuple[float, float]]:
    """<v, grad> (analytic), its central difference along v, the miss allowed between them,
    and the one-sided slopes, for one direction v (the loss's values corrected to the step v was
    meant to take, see `_probe_along`)."""
    # A step reported lost leaves f's values as measured (gradcheck refused an eps lost
    # at the largest entry; a part of a direction may still move too little).
    f0, eps, analytic = row.f0, row.eps, row.analytic
    f_plus, f_minus, _ = _probe_along(row.at_point, row.point, direction, analytic, eps)
    numerical = (f_plus - f_minus) / (2 * eps)
    along = float((direction * analytic).sum())
    allowed = (
        float((np.abs(direction) * (row.atol + row.rtol * np.abs(analytic))).sum()) + row.floor
    )
    return along, numerical, allowed, ((f_plus - f0) / eps, (f0 - f_minus) / eps)


def refine_along(
    row: RowSetup,
    direction: Float64Array,
    along: float,
    numerical: float,
    slopes: tuple[float, float],
    allowed: float,
) -> tuple[str, float, float]:
    """`refine_miss` for a direction that misses at step `eps`.

    The step along v is taken as 2h, but each moved entry x_i + h v_i rounds to the
    spacing of x_i: a relative error up to spacing(x_i) / (h |v_i|) in its displacement,
    three times that in the eps**2 term it carries, at the finest step."""
    point, eps = row.point, row.eps
    moved = direction != 0
    finest = eps / 10**KINK_REFINEMENTS
    step_error = (
        4.0
        * float(np.spacing(np.abs(point[moved])).max())
        / (finest * float(np.abs(direction[moved]).min()))
        if moved.any()
        else 0.0
    )
    return refine_miss(
        partial(_probe_along, row.at_point, point, direction, row.analytic),
        row.f0,
        along,
        numerical,
        slopes,
        eps=eps,
        floor=row.floor,
        tolerance=partial(_constant, allowed),
        step_error=step_error,
    )


DISPLACEMENT_MISS = 0.5
"""The largest ``||taken - h v|| / ||h v||`` for which `_probe_along` corrects f's values to
the displacement h v; past it (most entries no longer move at all) the step is lost."""


def _probe_along(
    f: Callable[[Float64Array], float],
    point: Float64Array,
    direction: Float64Array,
    analytic: Float64Array,
    h: float,
) -> tuple[float, float, float]:
    """f(x + h v) and f(x - h v), corrected to the displacements +-h v, and the step 2h
    between them, as `probe` gives for one entry; a step of 0 when h is lost to rounding.

    x_i + h v_i rounds to the spacing of x_i: at x ~ 1e6 (spacing 1.2e-10) and h v_i ~ 1e-7
    the displacement taken misses h v_i by up to 1e-3 of it, so the slope measured is not
    <v, grad f> but that of the direction taken, and a right gradient failed by far more than
    rtol. Subtracting <taken - h v, analytic> from each value makes the comparison that of
    <taken / 2h, grad f - analytic> with 0: a wrong gradient still shows along the direction
    actually taken. When that direction is far from h v (``||taken - h v|| > DISPLACEMENT_MISS
    ||h v||``, entries that no longer move), the correction would be most of the measurement:
    the step is reported lost (0) instead."""
    step = h * direction
    upper, lower = point + step, point - step
    miss_up, miss_down = (upper - point) - step, (point - lower) - step
    scale = float(np.linalg.norm(step))
    if scale == 0 or max(np.linalg.norm(miss_up), np.linalg.norm(miss_down)) > (
        DISPLACEMENT_MISS * scale
    ):
        return float(f(upper)), float(f(lower)), 0.0
    f_plus = float(f(upper)) - _dot_moved(miss_up, analytic)
    f_minus = float(f(lower)) + _dot_moved(miss_down, analytic)
    return f_plus, f_minus, 2 * h


def _dot_moved(miss: Float64Array, analytic: Float64Array) -> float:
    """<miss, analytic> over the entries that missed (an inf elsewhere adds no NaN)."""
    moved = miss != 0
    return float((miss[moved] * analytic[moved]).sum())
