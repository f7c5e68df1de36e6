"""Checking named analytic gradients against finite differences, with a printable report.

For each named array, `gradcheck` compares the analytic gradient with central differences
on every entry (small arrays) or on a random sample of entries (large ones), and compares
<v, grad> with the directional central difference along random unit directions v, which
costs two evaluations however large the array. Everything is evaluated in float64.
A failing row carries a `diagnose` of the analytic gradient against the numerical one.

The parts live in modules of their own: the report and its rows (`report`), calling the
loss (`evaluation`), the random directions (`directions`) and the check of one named
gradient (`one_gradient`); their public names are importable from here as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from chainrule._types import Float64Array
from chainrule.check.diagnose import Diagnosis, Mistake, diagnose, diagnose_shapes, diagnose_swaps
from chainrule.check.directions import DISPLACEMENT_MISS, SPLIT_BUDGET, Located
from chainrule.check.evaluation import (
    REPEAT_ULPS,
    LossFunction,
    evaluate,
    loss_value,
    require_deterministic,
)
from chainrule.check.numerical import check_step, real_float64, require_float64_values
from chainrule.check.one_gradient import RESOLUTION, check_one
from chainrule.check.report import DirectionCheck, GradcheckReport, GradcheckRow

__all__ = [
    "DEFAULT_RTOL",
    "DISPLACEMENT_MISS",
    "REPEAT_ULPS",
    "RESOLUTION",
    "ROUNDING_ULPS",
    "SPLIT_BUDGET",
    "Diagnosis",
    "DirectionCheck",
    "GradcheckReport",
    "GradcheckRow",
    "Located",
    "LossFunction",
    "Mistake",
    "diagnose",
    "diagnose_shapes",
    "diagnose_swaps",
    "gradcheck",
]
"""The names importable from this module before its parts were moved out, still importable."""

DEFAULT_RTOL = {"float64": 1e-5, "float32": 1e-3, "float16": 1e-2}
"""Relative tolerance by the analytic gradient's dtype (other dtypes use float64's)."""

ROUNDING_ULPS = 8
"""The rounding floor: central differences in float64 cannot resolve gradients below
ROUNDING_ULPS * 2**-52 * |f(x)| / eps, so that much absolute error is always allowed."""


def gradcheck(
    loss_fn: LossFunction,
    arrays: Mapping[str, npt.ArrayLike],
    grads: Mapping[str, npt.ArrayLike],
    *,
    eps: float = 1e-6,
    rtol: float | None = None,
    atol: float | None = None,
    max_entries: int = 200,
    directions: int = 1,
    rng: np.random.Generator | None = None,
    n: int | None = None,
    n_out: int | None = None,
) -> GradcheckReport:
    """Check each gradient in `grads` (name -> dloss/d arrays[name]) by finite differences.

    `loss_fn(arrays)` receives a dict of float64 copies of all `arrays` (integer and bool
    arrays that no gradient differentiates, such as class labels and masks, keep their
    dtype; every copy is read-only: a loss that writes into one is refused with a
    ValueError, as the point would move) and returns the loss (computed in float64: a loss
    returned as float32 or float16 is refused with a ValueError, as is one computed in
    float32 and returned as a Python float, whose values at the point and with every
    checked entry moved by +-eps are then all exact float32 numbers).
    It is evaluated twice at the point: a loss that gives two different values there (dropout
    drawn inside it) is refused with a ValueError, as its differences would measure noise.
    For each name in `grads`, up to `max_entries` entries (all of them for small arrays, else a
    random sample) are checked against central differences, and `directions` random unit
    directions v compare <v, grad> with the directional central difference. With
    directions=0 the entries outside the sample go unchecked: such a row is "PARTIAL", not ok.

    Tolerance: an entry passes when ``|analytic - numerical| <= atol + floor + rtol *
    |numerical|``, with rtol by the gradient's dtype (DEFAULT_RTOL), atol by default
    ``1e-3 * rtol * max|grad|`` (entries a thousand times smaller than the largest are judged on
    absolute error), and ``floor = ROUNDING_ULPS * 2**-52 * |f(x)| / eps``, the rounding limit
    of float64 central differences. A direction passes within
    ``sum_i |v_i| (atol + rtol * |grad_i|) + floor``, what entrywise agreement would give.
    An analytic or numerical value that is inf or NaN always fails.

    Resolution: the floor is the rounding noise of the central difference (its truncation
    error, ``eps**2 / 6`` times the third derivative, is far smaller at the default eps and is
    covered by rtol). An entry whose size ``max(|analytic|, |numerical|, 1e-3 max|grad|, atol)``
    is below ``floor / RESOLUTION`` cannot be verified: a gradient ten times too large would pass.
    Such an entry that does not fail outright is counted as unresolved, and a row with
    unresolved entries or directions and no failures has status "UNRESOLVED" (not ok), with
    a `reason` naming ``|f(x)|`` and the noise. Remedies: subtract the loss's constant part, or
    raise eps (for a smooth loss).

    Kinks: an entry that fails is reported as a kink, not a failure, when its one-sided
    differences (f(x+h) - f(x)) / h and (f(x) - f(x-h)) / h disagree by at least as much as
    the central difference misses the analytic value. On a smooth stretch they differ only by
    about h * f''(x), so a real error is never excused; when the step crosses one kink (a ReLU
    input crossing 0) the central difference misses the one-sided slope by exactly half
    their disagreement. Such a miss is then measured again with steps eps/10 and eps/100
    (`chainrule.check.kinks.refine_miss`; up to eps/1e5 while each finer step still crosses
    kinks, fewer of them, and its rounding allows): it is a kink only if the slopes' disagreement
    does not shrink with the step (curvature, as when the step straddles the bottom of x**2,
    shrinks tenfold), and an entry
    whose finer central difference agrees is not a miss at all. The same rule applies along
    directions; and a direction that misses in a row with entries on kinks is measured again
    with those entries held still (at such a point the loss has no gradient, and its slope
    along v need not be <v, grad>): it fails only if it still misses.

    `rng` draws the sampled entries and directions; None means a fixed seed (0), so a
    report is reproducible.

    Diagnosis: a failing row is diagnosed (`diagnose(analytic, numerical)`, with `n`, the
    batch size, and `n_out`, the outputs per example of a mean-reduced loss, to name a factor
    N, n_out or N * n_out) on the whole array when every entry was
    checked and none is a kink, else on the checked entries that are no kinks (a constant
    factor, sign or zeroed entries show in samples; a transpose does not). A shape mismatch
    is diagnosed against the full numerical gradient when the array has at most
    `max_entries` entries, else from the shapes alone.
    """
    eps = check_step("gradcheck", eps)
    for name, tolerance in (("rtol", rtol), ("atol", atol)):
        if tolerance is not None and not 0 <= tolerance < np.inf:
            raise ValueError(
                f"gradcheck: {name} must be a finite number >= 0 (or None for the "
                f"default), got {tolerance!r}"
            )
    _check_count("directions", directions, "0 checks only the sampled entries")
    _check_count("max_entries", max_entries, "0 leaves the check to the directions")
    generator = np.random.default_rng(0) if rng is None else rng
    points = {name: _loss_input(name, value, name in grads) for name, value in arrays.items()}
    missing = [name for name in grads if name not in points]
    if missing:
        raise ValueError(
            f"gradcheck got gradients for {', '.join(missing)} but no arrays of "
            f"those names; arrays has {', '.join(points)}: pass each array that "
            f"a gradient differentiates"
        )
    for name, grad in grads.items():
        if grad is None:
            # what .grad holds for a leaf no gradient reached (PyTorch's gradcheck reads it
            # as 0); here the learner says which they mean
            raise TypeError(
                f"gradcheck: the gradient of {name!r} is None: no gradient reached it (the "
                "loss does not use it, or it was detached?). To check that the loss does "
                f"not depend on it, pass np.zeros_like(arrays[{name!r}]) and an atol; "
                f"otherwise leave {name!r} out of grads"
            )
        real_float64("gradcheck", f"the gradient of {name!r}", grad, copy=False)
        check_step(f"gradcheck of {name!r}", eps, points[name])
    f0 = loss_value(evaluate(loss_fn, points), eps)
    if not np.isfinite(f0):
        raise ValueError(
            f"gradcheck: the loss at the point is {f0}; a gradient check needs a "
            "finite loss: check the inputs for inf/NaN and the loss for overflow"
        )
    require_deterministic(f0, loss_value(evaluate(loss_fn, points), eps))
    _require_float64_loss(loss_fn, points, grads, f0, eps)
    floor = ROUNDING_ULPS * np.finfo(np.float64).eps * abs(f0) / eps
    rows = []
    measured: dict[str, tuple[Float64Array, Float64Array, float]] = {}
    for name, grad in grads.items():
        grad_array = np.asarray(grad)
        row_rtol = DEFAULT_RTOL.get(grad_array.dtype.name, DEFAULT_RTOL["float64"])
        row_rtol = row_rtol if rtol is None else rtol
        rows.append(
            check_one(
                loss_fn,
                points,
                name,
                grad_array,
                f0=f0,
                eps=eps,
                rtol=row_rtol,
                atol=atol,
                floor=floor,
                max_entries=max_entries,
                directions=directions,
                rng=generator,
                n=n,
                n_out=n_out,
                measured=measured,
            )
        )
    return GradcheckReport(rows=_name_swaps(rows, measured), eps=eps)


def _require_float64_loss(
    loss_fn: LossFunction,
    points: Mapping[str, Float64Array],
    grads: Mapping[str, object],
    f0: float,
    eps: float,
) -> None:
    """Refuse a loss computed in float32 and returned as a Python float (`loss_value` refuses
    a float32 one): measured at the point and with every checked entry moved by +-eps, its
    values are all exact float32 numbers (`require_float64_values`)."""
    moved = [
        loss_value(
            evaluate(loss_fn, {**points, **{name: points[name] + shift for name in grads}}),
            eps,
        )
        for shift in (eps, -eps)
    ]
    require_float64_values([f0, *moved], eps, owner="gradcheck", function="loss_fn")


def _loss_input(name: str, value: npt.ArrayLike, differentiated: bool) -> Float64Array:
    """The copy of arrays[name] that loss_fn receives: float64 (refusing what is not real
    numbers), except an integer or bool array no gradient differentiates, which keeps its
    dtype: class labels index (z[np.arange(N), y]) and masks select, and as float64 copies
    they crashed the loss with NumPy's "arrays used as indices must be of integer type"."""
    point = real_float64("gradcheck", f"array {name!r}", value)
    if not differentiated and np.asarray(value).dtype.kind in "biu":
        return np.array(value)
    return point


def _name_swaps(
    rows: list[GradcheckRow], measured: Mapping[str, tuple[Float64Array, Float64Array, float]]
) -> tuple[GradcheckRow, ...]:
    """The rows, with the diagnosis of two failing rows whose gradients are each other's
    (`diagnose_swaps` on the whole, smoothly checked arrays in `measured`)."""
    swaps = diagnose_swaps(
        {name: analytic for name, (analytic, _, _) in measured.items()},
        {name: numerical for name, (_, numerical, _) in measured.items()},
        rtol=max((rtol for _, _, rtol in measured.values()), default=0.0),
    )
    return tuple(
        replace(row, diagnosis=swaps[row.name]) if row.name in swaps else row for row in rows
    )


def _check_count(name: str, value: object, zero: str) -> None:
    """Refuse a count that is not a whole number >= 0 (a negative one would check nothing)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise ValueError(f"gradcheck: {name} must be a whole number >= 0 ({zero}), got {value!r}")
