"""Checking one named gradient: central differences on every entry or on a sample, the
random directions, and the row's status (ok, FAIL, UNRESOLVED, KINKS ONLY, PARTIAL, SHAPE
MISMATCH) with the reason or diagnosis that goes with it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import numpy.typing as npt

from chainrule._types import Float64Array
from chainrule.check.diagnose import Diagnosis, Mistake, diagnose, diagnose_shapes
from chainrule.check.directions import (
    Located,
    locate_miss,
    measure_along,
    only_the_kinks_miss,
    refine_along,
    split_at_kinks,
    split_budget,
)
from chainrule.check.evaluation import LossFunction, evaluate, loss_value
from chainrule.check.kinks import one_sided_slopes, refine_miss
from chainrule.check.numerical import probe
from chainrule.check.report import DirectionCheck, GradcheckRow, relative_error
from chainrule.check.row_setup import RowSetup

RESOLUTION = 0.1
"""An entry (or direction) is resolved when the rounding floor is at most RESOLUTION times
its size, max(|analytic|, |numerical|, 1e-3 * max|analytic|, atol); otherwise the finite
difference cannot tell a right gradient from one wrong by a factor of ten, and the entry is
"unresolved". Entries a thousand times smaller than the row's largest are judged against
that largest one, as the default atol judges them on absolute error."""


def check_one(
    loss_fn: LossFunction,
    points: dict[str, Float64Array],
    name: str,
    grad: npt.NDArray[np.generic],
    *,
    f0: float,
    eps: float,
    rtol: float,
    atol: float | None,
    floor: float,
    max_entries: int,
    directions: int,
    rng: np.random.Generator,
    n: int | None,
    n_out: int | None,
    measured: dict[str, tuple[Float64Array, Float64Array, float]],
) -> GradcheckRow:
    """Check one gradient; a failing one whose every entry was checked smoothly, or one of
    the wrong shape whose array has at most `max_entries` entries, leaves (analytic,
    numerical, rtol) in `measured`, for a swap with another to be told."""
    point = points[name]

    def at_point(perturbed: Float64Array) -> float:
        return loss_value(evaluate(loss_fn, {**points, name: perturbed}), eps)

    if grad.shape != point.shape:
        return _shape_mismatch_row(
            at_point, point, name, grad, eps, rtol, atol, floor, max_entries, n, n_out, measured
        )
    row = _row_setup(at_point, point, grad, f0=f0, eps=eps, rtol=rtol, atol=atol, floor=floor)
    tally = _check_entries(row, _sample(point.size, max_entries, rng))
    _count_unsampled_non_finite(row, tally)
    direction_checks, vectors = _check_directions(row, tally, directions, rng)
    located = _locate_direction_miss(row, tally, vectors, direction_checks)
    status, reason = _status_and_reason(row, tally, direction_checks)
    failure_diagnosis = None
    if status == "FAIL" and tally.checked == point.size and tally.smooth.all():
        measured[name] = (row.analytic, tally.numerical_values.reshape(point.shape), rtol)
    if status == "FAIL":
        failure_diagnosis = _diagnose_failure(
            row.analytic,
            tally.numerical_values,
            tally.flat_indices,
            tally.smooth,
            rtol=rtol,
            atol=row.atol + floor,
            n=n,
            n_out=n_out,
            located=located,
        )
    return GradcheckRow(
        name,
        point.shape,
        grad.shape,
        status,
        checked=tally.checked,
        failures=tally.failures,
        kinks=tally.kinks,
        max_abs_err=tally.max_abs_err,
        max_rel_err=tally.max_rel_err,
        worst_index=tally.worst_index,
        directions=tuple(direction_checks),
        diagnosis=failure_diagnosis,
        unresolved=tally.unresolved,
        reason=reason,
        worst_values=tally.worst_values,
        dtype=grad.dtype.name,
        rtol=rtol,
    )


def _shape_mismatch_row(
    at_point: Callable[[Float64Array], float],
    point: Float64Array,
    name: str,
    grad: npt.NDArray[np.generic],
    eps: float,
    rtol: float,
    atol: float | None,
    floor: float,
    max_entries: int,
    n: int | None,
    n_out: int | None,
    measured: dict[str, tuple[Float64Array, Float64Array, float]],
) -> GradcheckRow:
    """The row of a gradient whose shape is not its array's: diagnosed against the full
    numerical gradient when the array has at most `max_entries` entries (and left in
    `measured`), else from the shapes alone. The diagnosis allows the row's tolerance plus
    the rounding `floor`, as a failing row's does: without it, a (4, 1) gradient holding the
    right values of a (4,) array at |f(x)| = 4e12 was diagnosed "summed over the wrong
    axis" instead of "reshape"."""
    if point.size <= max_entries:
        numerical_full = np.empty_like(point)
        for index in np.ndindex(point.shape):
            f_plus, f_minus, step = probe(at_point, point, index, eps)
            numerical_full[index] = (f_plus - f_minus) / step
        _, row_atol = _scale_and_atol(grad.astype(np.float64), rtol, atol)
        diagnosis = diagnose(
            grad, numerical_full, n=n, n_out=n_out, rtol=rtol, atol=row_atol + floor
        )
        # another name's gradient of another shape (b1 and w2 swapped) shows as a shape
        # mismatch that reshaping would not fix: `_name_swaps` tells it
        measured[name] = (np.asarray(grad, dtype=np.float64), numerical_full, rtol)
    else:
        diagnosis = diagnose_shapes(grad.shape, point.shape, n=n)
    return GradcheckRow(
        name,
        point.shape,
        grad.shape,
        "SHAPE MISMATCH",
        checked=0,
        failures=0,
        kinks=0,
        max_abs_err=float("nan"),
        max_rel_err=float("nan"),
        worst_index=None,
        directions=(),
        diagnosis=diagnosis,
        dtype=grad.dtype.name,
        rtol=rtol,
    )


def _row_setup(
    at_point: Callable[[Float64Array], float],
    point: Float64Array,
    grad: npt.NDArray[np.generic],
    *,
    f0: float,
    eps: float,
    rtol: float,
    atol: float | None,
    floor: float,
) -> RowSetup:
    analytic = grad.astype(np.float64)
    scale, row_atol = _scale_and_atol(analytic, rtol, atol)
    resolvable = max(1e-3 * scale, row_atol)
    return RowSetup(at_point, point, analytic, f0, eps, rtol, row_atol, floor, scale, resolvable)


def _scale_and_atol(analytic: Float64Array, rtol: float, atol: float | None) -> tuple[float, float]:
    """The largest finite |analytic| entry (0 when there is none) and the row's atol: the
    one given, else 1e-3 * rtol * that largest entry."""
    finite_magnitudes = np.abs(analytic[np.isfinite(analytic)])
    scale = float(finite_magnitudes.max()) if finite_magnitudes.size else 0.0
    return scale, 1e-3 * rtol * scale if atol is None else atol


def _sample(size: int, max_entries: int, rng: np.random.Generator) -> npt.NDArray[np.intp]:
    """The flat indices of the entries to check: all of them, or a sorted random sample."""
    if size <= max_entries:
        return np.arange(size)
    return np.sort(rng.choice(size, size=max_entries, replace=False))


@dataclass
class _Tally:
    """What the checks of a row found so far: the counts, the largest errors and the worst
    entry, the numerical value of each checked entry, whether it was measured smoothly (no
    kink, loss finite at x +- eps) and whether it agreed only at the finer steps of a miss
    (`refined`: a kink within eps that they clear), and the entries where the loss was not
    finite."""

    flat_indices: npt.NDArray[np.intp]
    numerical_values: Float64Array
    smooth: npt.NDArray[np.bool_]
    refined: npt.NDArray[np.bool_]
    outside: list[tuple[tuple[int, ...], float, float]]
    failures: int
    kinks: int
    unresolved: int
    unconverged: int
    max_abs_err: float
    max_rel_err: float
    worst_badness: float
    worst_index: tuple[int, ...] | None
    worst_values: tuple[float, float | None] | None

    @property
    def checked(self) -> int:
        return len(self.flat_indices)


def _check_entries(row: RowSetup, flat_indices: npt.NDArray[np.intp]) -> _Tally:
    """Central differences on each entry of `flat_indices`; a miss is measured again with
    finer steps (`refine_miss`): a kink, a truncation error, or a failure."""
    point, analytic, floor, rtol = row.point, row.analytic, row.floor, row.rtol
    failures = kinks = unresolved = unconverged = 0
    outside: list[tuple[tuple[int, ...], float, float]] = []
    numerical_values = np.empty(len(flat_indices))
    smooth = np.ones(len(flat_indices), dtype=bool)
    refined = np.zeros(len(flat_indices), dtype=bool)
    max_abs_err = max_rel_err = worst_badness = 0.0
    worst_index: tuple[int, ...] | None = None
    worst_values: tuple[float, float | None] | None = None
    for position, flat in enumerate(flat_indices):
        index = tuple(int(i) for i in np.unravel_index(int(flat), point.shape))
        f_plus, f_minus, step = probe(row.at_point, point, index, row.eps)
        numerical = (f_plus - f_minus) / step
        numerical_values[position] = numerical
        miss = abs(analytic[index] - numerical)
        allowed = row.atol + floor + rtol * abs(numerical)
        if not np.isfinite(miss):
            if np.isfinite(analytic[index]) and not np.isfinite(f_plus - f_minus):
                # The step left where the loss is defined (log of an entry within eps of 0):
                # nothing measured, so neither a failure nor a pass.
                smooth[position] = False
                outside.append((index, f_plus, f_minus))
                continue
            failures += 1
            max_abs_err = max_rel_err = worst_badness = np.inf
            worst_index, worst_values = index, (float(analytic[index]), numerical)
            continue
        slopes = one_sided_slopes(f_plus, row.f0, f_minus, step)
        verdict = "agrees"
        if miss > allowed:
            # a kink, or the truncation error of a zero gradient at an inflection (x**3 at 0)
            verdict, numerical, allowed = refine_miss(
                partial(probe, row.at_point, point, index),
                row.f0,
                float(analytic[index]),
                numerical,
                slopes,
                eps=row.eps,
                floor=floor,
                tolerance=lambda central: row.atol + floor + rtol * abs(central),
            )
            numerical_values[position] = numerical
            miss = abs(analytic[index] - numerical)
            refined[position] = verdict == "agrees"
            if verdict == "kink":
                kinks += 1
                smooth[position] = False
                continue
            unconverged += verdict == "unresolved"
        if miss > allowed:
            failures += 1
        elif verdict == "unresolved" or floor > RESOLUTION * max(
            abs(analytic[index]), abs(numerical), row.resolvable
        ):
            unresolved += 1
        max_abs_err = max(max_abs_err, miss)
        max_rel_err = max(max_rel_err, relative_error(miss, numerical))
        # allowed is 0 for an exact 0 difference of an all-zero gradient at f(x) = 0
        badness = miss / allowed if allowed else (np.inf if miss > 0 else 0.0)
        if worst_index is None or badness > worst_badness:
            worst_badness, worst_index = badness, index
            worst_values = (float(analytic[index]), float(numerical))
    return _Tally(
        flat_indices,
        numerical_values,
        smooth,
        refined,
        outside,
        failures,
        kinks,
        unresolved,
        unconverged,
        max_abs_err,
        max_rel_err,
        worst_badness,
        worst_index,
        worst_values,
    )


def _count_unsampled_non_finite(row: RowSetup, tally: _Tally) -> None:
    """A non-finite entry the sample missed is still known to fail, without a finite
    difference; a direction alone could not tell (|grad| scales its tolerance to inf too)."""
    unsampled = np.setdiff1d(np.flatnonzero(~np.isfinite(row.analytic)), tally.flat_indices)
    if unsampled.size:
        tally.failures += int(unsampled.size)
        tally.max_abs_err = tally.max_rel_err = tally.worst_badness = np.inf
        worst_index = tuple(int(i) for i in np.unravel_index(int(unsampled[0]), row.point.shape))
        tally.worst_index = worst_index
        tally.worst_values = (float(row.analytic[worst_index]), None)


def _check_directions(
    row: RowSetup, tally: _Tally, directions: int, rng: np.random.Generator
) -> tuple[list[DirectionCheck], list[Float64Array]]:
    """<v, grad> against the directional central difference along `directions` random
    unit vectors v (returned with their checks); a miss is refined as an entry's, and put
    down to kinks only where they explain it (`split_at_kinks`, `only_the_kinks_miss`)."""
    point, floor = row.point, row.floor
    flat_indices, smooth = tally.flat_indices, tally.smooth
    direction_checks = []
    vectors = []
    for _ in range(directions):
        v = rng.standard_normal(point.shape)
        v /= np.linalg.norm(v) or 1.0
        vectors.append(v)
        along, numerical, allowed, slopes = measure_along(row, v)
        kink = False
        verified = True
        verdict = "agrees"
        if abs(along - numerical) > allowed:
            verdict, numerical, allowed = refine_along(row, v, along, numerical, slopes, allowed)
            kink = verdict == "kink"
            tally.unconverged += verdict == "unresolved"
            if kink and len(flat_indices) < point.size:
                # The kinks may sit in entries the sample left out, where nothing else
                # checks the gradient: split the direction until each miss is one entry's.
                split = split_at_kinks(row, v, budget=split_budget(point.size))
                kink = split != "fails"
                verified = split != "unverified"
        # entries on kinks, and those that agree once finer steps cleared a kink within
        # eps: a direction's step eps * v crosses both (held still, the miss must go)
        crossed = flat_indices[~smooth | tally.refined]
        if not kink and abs(along - numerical) > allowed and crossed.size:
            kink = only_the_kinks_miss(row, v, crossed)
        resolved = verdict != "unresolved" and floor <= RESOLUTION * max(
            abs(along), abs(numerical), float(np.abs(v).sum()) * row.resolvable
        )
        left_domain = np.isfinite(along) and not np.isfinite(numerical)
        direction_checks.append(
            DirectionCheck(along, numerical, allowed, kink, resolved, verified, left_domain)
        )
    return direction_checks, vectors


def _locate_direction_miss(
    row: RowSetup,
    tally: _Tally,
    vectors: list[Float64Array],
    direction_checks: list[DirectionCheck],
) -> Located | None:
    """Where every sampled entry agrees but a direction misses, the worst of them is no
    culprit: find the entry the first missed direction misses at (a failure), or name none."""
    missed = [v for v, check in zip(vectors, direction_checks, strict=True) if not check.ok]
    if not (missed and tally.failures == 0 and tally.checked < row.point.size):
        return None
    located = locate_miss(row, missed[0], tally.flat_indices, budget=split_budget(row.point.size))
    tally.worst_index = None if located is None else located.index
    tally.worst_values = None if located is None else (located.analytic, located.numerical)
    if located is not None:
        tally.failures += 1
        miss = abs(located.analytic - located.numerical)
        tally.max_abs_err = max(tally.max_abs_err, miss)
        tally.max_rel_err = max(tally.max_rel_err, relative_error(miss, located.numerical))
    return located


def _status_and_reason(
    row: RowSetup, tally: _Tally, direction_checks: list[DirectionCheck]
) -> tuple[str, str | None]:
    """The row's status, with the reason for any that is neither ok nor FAIL."""
    size, checked, floor, f0 = row.point.size, tally.checked, row.floor, row.f0
    unresolved = tally.unresolved
    if tally.failures or not all(check.ok or check.outside for check in direction_checks):
        return "FAIL", None
    if tally.outside or any(check.outside for check in direction_checks):
        return "UNRESOLVED", _outside_reason(tally.outside, size, row.eps)
    if not all(check.verified for check in direction_checks):
        return "UNRESOLVED", (
            f"unresolved: a direction crossed kinks among the {size - checked} entries "
            f"not sampled, too many to tell apart within {split_budget(size)} "
            "evaluations; "
            f"pass max_entries >= {size} to check every entry"
        )
    if tally.unconverged:
        return "UNRESOLVED", (
            f"unresolved, loss too large for the finer steps: {tally.unconverged} central "
            "differences (entries or directions) missed by what may be truncation error "
            "(eps**2 / 6 times the third derivative, all they measure where the gradient "
            "is 0 at an inflection) or a kink within eps, or may be a wrong gradient, and "
            "the finer steps that would tell which round by "
            f"{10 * floor:.2g} or more at |f(x)| = {abs(f0):.3g}; shift the loss (subtract "
            "its constant part) or check at a point where |f(x)| is smaller"
        )
    if (unresolved or not all(check.resolved for check in direction_checks)) and not (
        row.resolvable
    ):
        # An all-zero gradient with no atol: nothing sets the size it must be resolved at,
        # and no eps or shift of the loss makes 0 larger than the noise.
        return "UNRESOLVED", (
            f"unresolved: the analytic gradient is 0 at every entry and the central "
            f"differences are within their rounding noise ({floor:.2g} at |f(x)| = "
            f"{abs(f0):.3g}) of 0, which cannot tell 0 from a gradient of that size; pass "
            "atol, the absolute error you accept (such as atol=1e-6), to check it against "
            "that"
        )
    if unresolved or not all(check.resolved for check in direction_checks):
        return "UNRESOLVED", (
            f"unresolved, loss too large for eps: |f(x)| = {abs(f0):.3g} makes the "
            f"central differences noisy to about {floor:.2g}, not small next to "
            f"{unresolved} of {checked} checked entries (largest analytic entry "
            f"{row.scale:.2g}); subtract the loss's constant part or raise eps"
        )
    if checked and tally.kinks == checked:
        return "KINKS ONLY", (
            f"not verified: each of the {checked} checked entries sits on a kink (its one-sided "
            "differences disagree, as relu or abs at exactly 0), where the derivative is a "
            "convention (0 for relu at 0, as PyTorch) that finite differences cannot check; "
            "check at a point off the kinks (no input exactly at 0)"
        )
    if not direction_checks and checked < size:
        return "PARTIAL", (
            f"checked {checked} of {size} entries; the rest unchecked: directions=0; "
            f"pass directions=1 or more (a random direction covers every entry), or "
            f"max_entries >= {size} to check each"
        )
    return "ok", None


def _outside_reason(
    outside: list[tuple[tuple[int, ...], float, float]], size: int, eps: float
) -> str:
    """Why a row whose loss is not finite at x +- eps (entries or a direction) is unresolved."""
    if outside:
        index, f_plus, f_minus = outside[0]
        where = (
            f"at {len(outside)} checked entries of {size}, the first {index}: "
            f"f(x + eps) = {f_plus:.6g}, f(x - eps) = {f_minus:.6g}"
        )
    else:
        where = "along a random direction"
    return (
        f"unresolved: the loss is finite at x but not at x +- eps {where}; the step "
        "leaves where the loss is defined (log or sqrt of an entry within eps of 0?), so "
        f"nothing was measured there: pass an eps (now {eps:g}) smaller than the distance "
        "to that edge, or check at a point further from it"
    )


def _diagnose_failure(
    analytic: Float64Array,
    numerical_values: Float64Array,
    flat_indices: npt.NDArray[np.intp],
    smooth: npt.NDArray[np.bool_],
    *,
    rtol: float,
    atol: float,
    n: int | None,
    n_out: int | None,
    located: Located | None = None,
) -> Diagnosis:
    """diagnose() on the whole array when every entry was checked smoothly, else on the
    smooth checked entries; inf or NaN anywhere in the gradient is named first, and an
    entry outside the sample that a direction was traced to (`located`) when the sampled
    entries agree."""
    non_finite = np.flatnonzero(~np.isfinite(analytic))
    if non_finite.size:
        first = tuple(int(i) for i in np.unravel_index(int(non_finite[0]), analytic.shape))
        return Diagnosis(
            Mistake.UNKNOWN,
            f"no simple pattern: the gradient holds inf or NaN at {non_finite.size} of "
            f"{analytic.size} entries, the first at {first}; look for an overflow or a "
            "division by 0 first",
            details={"non_finite": int(non_finite.size), "first": first},
        )
    if len(flat_indices) == analytic.size and smooth.all():
        return diagnose(
            analytic,
            numerical_values.reshape(analytic.shape),
            n=n,
            n_out=n_out,
            rtol=rtol,
            atol=atol,
        )
    sampled = analytic.ravel()[flat_indices[smooth]]
    if sampled.size == 0:
        return Diagnosis(
            Mistake.UNKNOWN,
            "no simple pattern: no entry was checked smoothly, "
            "only a random direction disagrees; raise max_entries to see more",
        )
    diagnosis = diagnose(sampled, numerical_values[smooth], n=n, n_out=n_out, rtol=rtol, atol=atol)
    if diagnosis.kind is Mistake.AGREES:
        found = (
            ""
            if located is None
            else f": halving the direction found {located.index} (analytic "
            f"{located.analytic:.6g}, numerical {located.numerical:.6g}), maybe not alone"
        )
        return Diagnosis(
            Mistake.UNKNOWN,
            f"no simple pattern: the {sampled.size} sampled "
            "entries agree but a random direction does not, so the error sits in "
            f"entries not sampled{found}; raise max_entries to find them",
        )
    return Diagnosis(
        diagnosis.kind,
        f"{diagnosis.message} (from {sampled.size} sampled entries of {analytic.size})",
        diagnosis.factor,
        {**diagnosis.details, "sampled": sampled.size},
    )
