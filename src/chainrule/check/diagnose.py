"""Diagnosing a wrong gradient from the numbers: which hand-derivation mistake it looks like.

`diagnose(got, expected)` tries the usual mistakes in turn (a constant factor, a flipped sign,
a transpose, a sum over the wrong axis, a mask zeroing the wrong entries, a shape that differs)
and returns the first that explains the numbers, as a `Diagnosis` that prints as one sentence.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum

import numpy as np
import numpy.typing as npt

from chainrule._types import Float64Array

DEFAULT_DIAGNOSE_RTOL = 1e-4
"""Relative tolerance of a diagnosis: loose enough for finite differences against float32."""


class Mistake(str, Enum):
    """The kinds of mistake `diagnose` recognises; the value is the phrase it prints."""

    AGREES = "agrees"
    SCALED = "off by a constant factor"
    SIGN_FLIPPED = "sign flipped"
    TRANSPOSED = "transposed"
    WRONG_AXIS = "summed over the wrong axis"
    ZEROED = "wrong entries zeroed"
    ONE_ROW = "wrong in one row only"
    SWAPPED = "swapped with another gradient"
    SHAPE = "shape differs"
    UNKNOWN = "no simple pattern"


@dataclass(frozen=True)
class Diagnosis:
    """What a wrong gradient looks like: `kind`, a one-sentence `message` (what `str` gives),
    the constant `factor` with got = factor * expected where one explains it, and `details`
    (counts, shapes, axes) for whoever wants the numbers."""

    kind: Mistake
    message: str
    factor: float | None = None
    details: Mapping[str, object] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.message


def diagnose(
    got: npt.ArrayLike,
    expected: npt.ArrayLike,
    *,
    n: int | None = None,
    n_out: int | None = None,
    rtol: float = DEFAULT_DIAGNOSE_RTOL,
    atol: float | None = None,
) -> Diagnosis:
    """Which usual mistake turns `expected` (the true gradient) into `got` (the derived one).

    Checked in this order, each only accepted when it explains every entry to tolerance
    (``|got_i - model_i| <= atol + rtol * |model_i|``):

      - same shape: agrees; off by a constant factor c, estimated by least squares
        c = <got, expected> / <expected, expected> (c = -1: sign flipped; c named when it is
        2, 1/2, N or 1/N, with N from `n`, the batch size, n_out, 1/n_out or N * n_out with
        n_out from `n_out`, the outputs per example of a mean-reduced loss, or any integer);
        transposed (got = expected.T); wrong entries zeroed (got = expected except entries
        that are 0 in one of them: a mask taken from the wrong tensor), unless every such
        entry lies in one row, which is then named as wrong in one row only (an array of 2 or
        more dimensions and at least 3 rows, right in every row but one along axis 0: one
        example of a batch handled apart, such as row 0 left at 0 by a loop from 1);
      - shapes differ: transposed; the same values in another shape (keepdims, reshape);
        got summed over one axis gives expected (a sum left out); got is an expected of 2 or
        more dimensions summed over one axis (a sum where none belongs, as dloss/dx summed
        over the samples); the same total in a different shape (the same array summed over
        another axis);
      - otherwise no simple pattern, with the relative error.

    `atol` (default ``1e-6 * max(|got|, |expected|)``) is the size below which an entry counts
    as 0, for finite differences that never give an exact 0.

    Example:
        >>> print(diagnose(np.array([2.0, -4.0]), np.array([-2.0, 4.0])))
        sign flipped (got = -expected): a dropped minus, like du4/du3 = -1 in u4 = y - u3?
    """
    for tolerance_name, tolerance in (("rtol", rtol), ("atol", atol)):
        if tolerance is not None and not 0 <= tolerance < np.inf:
            raise ValueError(
                f"diagnose: {tolerance_name} must be a finite number >= 0, got {tolerance!r}"
            )
    got64 = np.asarray(got, dtype=np.float64)
    expected64 = np.asarray(expected, dtype=np.float64)
    if not (np.all(np.isfinite(got64)) and np.all(np.isfinite(expected64))):
        return Diagnosis(
            Mistake.UNKNOWN,
            "no simple pattern: got or expected holds inf or NaN; "
            "look for an overflow or a division by 0 first",
        )
    scale = max(_max_abs(got64), _max_abs(expected64))
    zero_tol = 1e-6 * scale if atol is None else atol
    if got64.shape != expected64.shape:
        return _diagnose_shapes(got64, expected64, rtol=rtol, atol=zero_tol)
    return _diagnose_values(got64, expected64, n=n, n_out=n_out, rtol=rtol, atol=zero_tol)


def diagnose_shapes(
    got_shape: tuple[int, ...], expected_shape: tuple[int, ...], *, n: int | None = None
) -> Diagnosis:
    """A diagnosis from the shapes alone, for when the expected values are not at hand:
    reversed shapes suggest a transpose; a 1-D got with one entry per example (`n`) against a
    different 1-D expected suggests a sum over the wrong axis. The values are not compared."""
    details = {"got_shape": got_shape, "expected_shape": expected_shape}
    if len(got_shape) > 1 and got_shape == expected_shape[::-1]:
        return Diagnosis(
            Mistake.TRANSPOSED,
            f"transposed: got has shape {got_shape}, the reverse of {expected_shape} "
            f"(values not compared); a missing .T?",
            details=details,
        )
    if n is not None and got_shape == (n,) and len(expected_shape) == 1:
        return Diagnosis(
            Mistake.WRONG_AXIS,
            f"summed over the wrong axis: got {got_shape} has one entry per example "
            f"(N = {n}) where expected has {expected_shape}; sum over axis 0 (the "
            "batch), not over the features? (values not compared)",
            details=details,
        )
    return _shape_differs(got_shape, expected_shape, "")


def _max_abs(array: Float64Array) -> float:
    return float(np.abs(array).max()) if array.size else 0.0


def _close(got: Float64Array, model: Float64Array, rtol: float, atol: float) -> bool:
    return bool(np.all(np.abs(got - model) <= atol + rtol * np.abs(model)))


def _diagnose_values(
    got: Float64Array,
    expected: Float64Array,
    *,
    n: int | None,
    n_out: int | None,
    rtol: float,
    atol: float,
) -> Diagnosis:
    if _close(got, expected, rtol, atol):
        return Diagnosis(
            Mistake.AGREES,
            f"agrees (rtol {rtol:g}, atol {atol:.2g}): no mistake to diagnose",
            factor=1.0,
        )
    expected_norm_sq = float((expected * expected).sum())
    if _max_abs(got) > atol and expected_norm_sq > 0:
        factor = float((got * expected).sum()) / expected_norm_sq
        if factor != 0 and _close(got, factor * expected, rtol, atol):

            def fits(candidate: float) -> bool:
                return _close(got, candidate * expected, rtol, atol)

            return _scaled(factor, n, n_out, rtol, fits)
    if got.ndim >= 2 and got.shape == expected.T.shape and _close(got, expected.T, rtol, atol):
        return _transposed(got.shape)
    # One row before zeroed entries: a row left at 0 (a loop from 1) also fits a mask.
    one_row = _one_row(got, expected, rtol, atol)
    if one_row is not None:
        return one_row
    zeroed = _zeroed(got, expected, rtol, atol)
    if zeroed is not None:
        return zeroed
    return _unknown(got, expected)


MIN_ROWS = 3
"""The fewest rows for "wrong in one row only": of two rows, one wrong says little."""


def _one_row(
    got: Float64Array, expected: Float64Array, rtol: float, atol: float
) -> Diagnosis | None:
    """Got equals expected in every row along axis 0 but one, or None."""
    if got.ndim < 2 or got.shape[0] < MIN_ROWS:
        return None
    wrong = np.abs(got - expected) > atol + rtol * np.abs(expected)
    wrong_rows = np.flatnonzero(wrong.reshape(got.shape[0], -1).any(axis=1))
    if wrong_rows.size != 1:
        return None
    row = int(wrong_rows[0])
    entries, per_row = int(wrong[row].sum()), int(wrong[row].size)
    zeroed = bool(np.all(np.abs(got[row][wrong[row]]) <= atol))
    if zeroed and entries == per_row:
        loops = {0: ", like for i in range(1, N)", got.shape[0] - 1: ", like for i in range(N - 1)"}
        cause = (
            f"got is 0 throughout that row: a loop that never reaches it{loops.get(row, '')}? "
            "(a mask that zeroes whole rows, taken from an (N, 1) tensor, fits too)"
        )
    else:
        cause = "an index off by one, a loop that skips or repeats an example?"
        if zeroed:
            cause += " (the wrong entries are 0 in got: a mask zeroing them fits too)"
    return Diagnosis(
        Mistake.ONE_ROW,
        f"wrong in row {row} only (axis 0, of {got.shape[0]}): {entries} of {per_row} "
        f"entries there disagree, every other row agrees; where axis 0 is the batch, one "
        f"example handled apart: {cause}",
        details={"row": row, "entries": entries, "rows": got.shape[0]},
    )


def diagnose_swaps(
    got: Mapping[str, npt.ArrayLike],
    expected: Mapping[str, npt.ArrayLike],
    *,
    rtol: float = DEFAULT_DIAGNOSE_RTOL,
    atol: float | None = None,
) -> dict[str, Diagnosis]:
    """Gradients swapped between two names: got[a] disagrees with expected[a] (in shape or
    values) but has expected[b]'s shape and matches it, and got[b] has expected[a]'s shape
    and matches it (each to ``atol + rtol * |expected|``, atol by default 1e-6 of the
    pair's largest entry). The two names may have different shapes (b1 of shape (50,) and
    w2 of shape (50, 1)): each got then shows as a shape mismatch, which reshaping would
    not fix. Returns a diagnosis for each name in such a pair (a name is paired at most
    once); names in `got` alone are left out.

    Example:
        >>> a, b = np.array([[1.0, 2.0]]), np.array([[3.0, 4.0]])
        >>> diagnose_swaps({"w": b, "v": a}, {"w": a, "v": b})["w"].details
        {'with': 'v'}
    """
    arrays = {
        name: (np.asarray(got[name], dtype=np.float64), np.asarray(expected[name], np.float64))
        for name in got
        if name in expected
    }
    found: dict[str, Diagnosis] = {}
    names = list(arrays)
    for position, first in enumerate(names):
        for second in names[position + 1 :]:
            if first in found or second in found:
                continue
            (got_a, expected_a), (got_b, expected_b) = arrays[first], arrays[second]
            if got_a.shape != expected_b.shape or got_b.shape != expected_a.shape:
                continue
            arrays_of_pair = (got_a, expected_a, got_b, expected_b)
            if not all(np.all(np.isfinite(array)) for array in arrays_of_pair):
                continue
            scale = max(_max_abs(array) for array in arrays_of_pair)
            tol = 1e-6 * scale if atol is None else atol
            if (
                (got_a.shape == expected_a.shape and _close(got_a, expected_a, rtol, tol))
                or not _close(got_a, expected_b, rtol, tol)
                or not _close(got_b, expected_a, rtol, tol)
            ):
                continue
            for this, other in ((first, second), (second, first)):
                found[this] = Diagnosis(
                    Mistake.SWAPPED,
                    f"swapped with {other}: got {this} equals expected {other} and got "
                    f"{other} equals expected {this}; the two gradients assigned to each "
                    f"other's names (returned in the wrong order)?",
                    details={"with": other},
                )
    return found


def _scaled(
    factor: float,
    n: int | None,
    n_out: int | None,
    rtol: float,
    fits: Callable[[float], bool],
) -> Diagnosis:
    """The diagnosis of got = factor * expected; `fits(c)` says whether got = c * expected
    explains every entry, so that a factor estimated from noisy finite differences (-1.00001
    where |f(x)| is large) is still named -1, 2, N, ... when that factor fits as well."""
    magnitude = abs(factor)
    if factor < 0 and (abs(magnitude - 1) <= rtol or fits(-1.0)):
        return Diagnosis(
            Mistake.SIGN_FLIPPED,
            "sign flipped (got = -expected): a dropped minus, like du4/du3 = -1 in u4 = y - u3?",
            factor=-1.0,
        )
    name, hint = _name_factor(
        magnitude, n, n_out, rtol, lambda value: fits(float(np.copysign(value, factor)))
    )
    sign = "sign flipped and " if factor < 0 else ""
    hint = hint or f"got = {factor:.6g} * expected"
    return Diagnosis(
        Mistake.SCALED,
        f"{sign}off by a factor of {name}: {hint}",
        factor=factor,
        details={"name": name},
    )


def _name_factor(
    magnitude: float,
    n: int | None,
    n_out: int | None,
    rtol: float,
    fits: Callable[[float], bool],
) -> tuple[str, str]:
    """A name for |factor| (N, 1/N, n_out, N * n_out, 2, 0.5, an integer) and the mistake that
    usually gives it; `fits(value)` says whether that magnitude explains every entry."""

    def near(value: float) -> bool:
        return abs(magnitude - value) <= 10 * rtol * value or fits(value)

    sum_for_mean = "a sum where the loss takes a mean?"
    mean_for_sum = "a mean where a sum was wanted?"
    if n_out is not None and n_out > 1:
        if n is not None and n > 1 and near(n * n_out):
            return f"{n * n_out} (= N * n_out)", sum_for_mean
        if near(n_out):
            return f"{n_out} (= n_out)", (
                "2 / N where the loss averages all N * n_out entries, so 2 / (N * n_out)?"
            )
        if near(1 / n_out):
            return f"1/{n_out} (= 1/n_out)", "a mean over the outputs where a sum was wanted?"
    if n is not None and n > 1:
        if near(n):
            return f"{n} (= N)", sum_for_mean
        if near(1 / n):
            return f"1/{n} (= 1/N)", mean_for_sum
    if near(0.5):
        return "0.5", "the 2 from d(u**2)/du = 2u missing?"
    if near(2):
        return "2", "a 2 too many: d(u**2)/du = 2u applied twice, or a 1/2 in the loss dropped?"
    whole = round(magnitude)
    if whole >= 3 and near(whole):
        return f"{whole} (an integer, like a batch size N)", sum_for_mean
    inverse = round(1 / magnitude)
    if inverse >= 3 and near(1 / inverse):
        return f"1/{inverse} (like 1/N for a batch size N)", mean_for_sum
    return f"{magnitude:.4g}", ""


def _transposed(shape: tuple[int, ...]) -> Diagnosis:
    return Diagnosis(
        Mistake.TRANSPOSED,
        f"transposed: got {shape} equals expected.T; a missing "
        ".T, as in x.T @ grad_out rather than grad_out.T @ x?",
        details={"got_shape": shape},
    )


def _zeroed(
    got: Float64Array, expected: Float64Array, rtol: float, atol: float
) -> Diagnosis | None:
    """Got equals expected except at entries where one of them is 0, or None."""
    wrong = np.abs(got - expected) > atol + rtol * np.abs(expected)
    zeroed = wrong & (np.abs(got) <= atol)
    leaked = wrong & (np.abs(expected) <= atol)
    if not np.all(zeroed | leaked | ~wrong):
        return None
    n_zeroed, n_leaked, total = int(zeroed.sum()), int(leaked.sum()), got.size
    details = {"zeroed": n_zeroed, "leaked": n_leaked, "entries": total}
    if n_leaked == 0 and np.all(np.abs(got) <= atol):
        # 0 everywhere, also where expected is 0 (a dead unit): no gradient flowed back at all
        message = (
            "wrong entries zeroed: got is 0 everywhere, so no gradient flowed back; "
            "a mask that is all 0, or a detached input?"
        )
    elif n_leaked == 0:
        message = (
            f"wrong entries zeroed: gradient zeroed where it should flow at {n_zeroed} "
            f"of {total} entries, right elsewhere; ReLU mask from the wrong tensor?"
        )
    elif n_zeroed == 0:
        message = (
            f"wrong entries zeroed: gradient nonzero where it should be 0 at {n_leaked} "
            f"of {total} entries, right elsewhere; a missing ReLU mask, or one from the "
            "wrong tensor?"
        )
    else:
        message = (
            f"wrong entries zeroed: got matches expected except {n_zeroed} of {total} "
            f"entries zeroed where the gradient should flow and {n_leaked} nonzero where "
            "it should be 0; ReLU mask from the wrong tensor?"
        )
    return Diagnosis(Mistake.ZEROED, message, details=details)


def _unknown(got: Float64Array, expected: Float64Array) -> Diagnosis:
    error = float(np.linalg.norm(got - expected))
    norm = float(np.linalg.norm(expected))
    relative = f"relative error {error / norm:.2g}" if norm else "expected is 0"
    return Diagnosis(
        Mistake.UNKNOWN,
        f"no simple pattern: not a constant factor, sign, "
        f"transpose or mask; {relative}, max abs error "
        f"{_max_abs(got - expected):.2g}",
        details={"abs_error": error, "expected_norm": norm},
    )


def _diagnose_shapes(
    got: Float64Array, expected: Float64Array, *, rtol: float, atol: float
) -> Diagnosis:
    got_shape, expected_shape = got.shape, expected.shape
    if got.ndim >= 2 and got_shape == expected_shape[::-1] and _close(got.T, expected, rtol, atol):
        return _transposed(got_shape)
    if got.size == expected.size and _close(got.reshape(expected_shape), expected, rtol, atol):
        return _shape_differs(
            got_shape,
            expected_shape,
            (
                f"; the values are right, only the shape is not: reshape({expected_shape}), or "
                "sum without keepdims=True?"
            ),
        )
    for axis in range(got.ndim):
        summed = got.sum(axis=axis)
        if summed.shape == expected_shape and _close(summed, expected, rtol, atol):
            return Diagnosis(
                Mistake.WRONG_AXIS,
                f"summed over the wrong axis: got {got_shape} "
                f"was not summed at all; its sum over axis {axis} is expected "
                f"{expected_shape}",
                details={"axis": axis},
            )
    if expected.ndim >= 2:
        for axis in range(expected.ndim):
            for keepdims in (False, True):
                extra = expected.sum(axis=axis, keepdims=keepdims)
                if extra.shape == got_shape and _close(got, extra, rtol, atol):
                    return Diagnosis(
                        Mistake.WRONG_AXIS,
                        f"summed over axis {axis} where no sum belongs: got {got_shape} is "
                        f"expected {expected_shape} summed over its axis {axis}; a gradient "
                        "keeps every axis of what it differentiates (each sample's row its "
                        "own), so leave that sum out?",
                        details={"axis": axis, "extra_sum": True},
                    )
    total_got, total_expected = float(got.sum()), float(expected.sum())
    magnitude = max(float(np.abs(got).sum()), float(np.abs(expected).sum()))
    if abs(total_expected) > rtol * magnitude and abs(
        total_got - total_expected
    ) <= atol + rtol * abs(total_expected):
        return _wrong_axis(got_shape, expected_shape, total_expected)
    return _shape_differs(got_shape, expected_shape, "")


def _wrong_axis(
    got_shape: tuple[int, ...], expected_shape: tuple[int, ...], total: float
) -> Diagnosis:
    """Same total, different shape: two reductions of one array over different axes."""
    details: dict[str, object] = {
        "got_shape": got_shape,
        "expected_shape": expected_shape,
        "total": total,
    }
    if len(got_shape) == 1 and len(expected_shape) == 1:
        full = (got_shape[0], expected_shape[0])
        details.update(full_shape=full, got_axis=1, expected_axis=0)
        message = (
            f"summed over axis 1 instead of axis 0: got {got_shape} and expected "
            f"{expected_shape} have the same total ({total:.6g}), as sums of one "
            f"{full} array over different axes; sum over axis 0 (the batch)?"
        )
    else:
        message = (
            f"summed over the wrong axis: got {got_shape} and expected {expected_shape} "
            f"have the same total ({total:.6g}), as sums of one array over different "
            "axes; sum over the batch axis only?"
        )
    return Diagnosis(Mistake.WRONG_AXIS, message, details=details)


def _shape_differs(
    got_shape: tuple[int, ...], expected_shape: tuple[int, ...], note: str
) -> Diagnosis:
    advice = note or (
        ": a gradient has the shape of what it differentiates; reshape, or "
        "sum with keepdims to match?"
    )
    return Diagnosis(
        Mistake.SHAPE,
        f"shape differs: got {got_shape}, expected {expected_shape}{advice}",
        details={"got_shape": got_shape, "expected_shape": expected_shape},
    )
