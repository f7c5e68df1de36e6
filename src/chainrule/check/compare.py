"""Comparing two arrays the way a gradient check needs: same shape, then how close.

Shapes must match exactly; a (64,) against a (1, 64) is a failure, never broadcast. The
result says whether the arrays are bit-for-bit equal, whether they are within tolerance, and
where they differ most.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

import numpy as np
import numpy.typing as npt

DEFAULT_TOLERANCES: dict[str, tuple[float, float]] = {
    "float64": (1e-7, 1e-12),
    "float32": (1e-4, 1e-6),
    "float16": (1e-2, 1e-3),
}
"""(rtol, atol) by the less precise dtype of the two arrays compared.

float64 allows ~1e9 ulp of accumulated rounding, float32 ~1e3 ulp; callers comparing sums of
many terms with cancellation should pass an atol scaled to the array's magnitude.
"""


def default_tolerances(*arrays: npt.NDArray[np.generic]) -> tuple[float, float]:
    """(rtol, atol) for comparing `arrays`: the loosest entry of DEFAULT_TOLERANCES among them."""
    rtol, atol = DEFAULT_TOLERANCES["float64"]
    for array in arrays:
        # a complex dtype by the precision of its parts (complex64 as float32)
        loose = DEFAULT_TOLERANCES.get(np.abs(np.empty(0, array.dtype)).dtype.name)
        if loose is not None:
            rtol, atol = max(rtol, loose[0]), max(atol, loose[1])
    return rtol, atol


@dataclass(frozen=True)
class Comparison:
    """How `got` compares to `expected`.

    exact: same shape and bit-for-bit equal values. close: same shape and every finite
    entry within ``|got - expected| <= atol + rtol * |expected|``; an infinity only matches the
    same infinity at the same position, and a NaN is never close to anything (with
    `equal_nan`, a NaN matches a NaN at the same position). max_abs_err / max_rel_err: largest
    ``|got - expected|`` and ``|got - expected| / |expected|`` (inf where only expected is 0).
    worst_index: the entry furthest outside (or nearest the edge of) the tolerance.
    """

    name: str
    got_shape: tuple[int, ...]
    expected_shape: tuple[int, ...]
    exact: bool
    close: bool
    max_abs_err: float
    max_rel_err: float
    worst_index: tuple[int, ...] | None
    rtol: float
    atol: float

    @property
    def shape_matches(self) -> bool:
        return self.got_shape == self.expected_shape

    @property
    def status(self) -> str:
        """ "exact", "close", "MISMATCH" or "SHAPE MISMATCH" (failures in capitals)."""
        if not self.shape_matches:
            return "SHAPE MISMATCH"
        if self.exact:
            return "exact"
        return "close" if self.close else "MISMATCH"

    def __str__(self) -> str:
        if not self.shape_matches:
            return (
                f"{self.name}  SHAPE MISMATCH  got {self.got_shape} expected {self.expected_shape}"
            )
        where = "" if self.worst_index is None else f" at {self.worst_index}"
        return (
            f"{self.name}  {self.status}  max_abs={self.max_abs_err:.2g} "
            f"max_rel={self.max_rel_err:.2g}{where}"
        )

    def _repr_html_(self) -> str:
        """Jupyter: one table row of the comparison (the name escaped)."""
        cells = (
            self.name,
            self.status,
            str(self.got_shape),
            str(self.expected_shape),
            f"{self.max_abs_err:.2g}",
            f"{self.max_rel_err:.2g}",
            "-" if self.worst_index is None else str(self.worst_index),
            f"{self.rtol:g}",
            f"{self.atol:g}",
        )
        header = (
            "name",
            "status",
            "got shape",
            "expected shape",
            "max_abs",
            "max_rel",
            "worst at",
            "rtol",
            "atol",
        )
        head = "".join(f"<th>{column}</th>" for column in header)
        row = "".join(f"<td>{escape(cell)}</td>" for cell in cells)
        return (
            f'<table class="chainrule-compare"><thead><tr>{head}</tr></thead>'
            f"<tbody><tr>{row}</tr></tbody></table>"
        )


def compare(
    name: str,
    got: npt.ArrayLike,
    expected: npt.ArrayLike,
    *,
    rtol: float | None = None,
    atol: float | None = None,
    equal_nan: bool = False,
) -> Comparison:
    """Compare `got` with `expected` entry by entry, without broadcasting.

    Tolerances default by dtype (DEFAULT_TOLERANCES; complex64 as float32); a given rtol or
    atol must be finite and >= 0 (ValueError otherwise). Errors are computed in float64, or
    in complex128 when either array is complex (``|got - expected|`` the modulus); arrays
    that are not numbers are refused (TypeError).
    Non-finite entries are compared exactly: +inf matches only +inf and -inf only -inf (no
    tolerance makes 1.0 close to inf), and NaN matches nothing unless `equal_nan`, when it
    matches a NaN in the same position (as numpy.allclose and torch.testing.assert_close).
    A mismatched non-finite entry has infinite absolute and relative error.

    Example:
        >>> print(compare("w1", np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-12])))
        w1  close  max_abs=2e-12 max_rel=1e-12 at (1,)
    """
    for tolerance_name, tolerance in (("rtol", rtol), ("atol", atol)):
        if tolerance is not None and not 0 <= tolerance < np.inf:
            raise ValueError(
                f"compare: {tolerance_name} must be a finite number >= 0 (or None "
                f"for the dtype's default), got {tolerance!r}"
            )
    got_array, expected_array = np.asarray(got), np.asarray(expected)
    for label, array in (("got", got_array), ("expected", expected_array)):
        if array.dtype.kind not in "biufc":
            raise TypeError(
                f"compare {name!r}: {label} has dtype {array.dtype}, not numbers; pass "
                "numeric arrays (strings would be parsed, objects compared by identity)"
            )
    # Complex values are compared whole: cast to float64 they would lose the imaginary
    # part, and 1+1j would be "exact" against 1+2j.
    wide = np.complex128 if "c" in (got_array.dtype.kind, expected_array.dtype.kind) else np.float64
    default_rtol, default_atol = default_tolerances(got_array, expected_array)
    rtol = default_rtol if rtol is None else rtol
    atol = default_atol if atol is None else atol
    if got_array.shape != expected_array.shape:
        return Comparison(
            name,
            got_array.shape,
            expected_array.shape,
            exact=False,
            close=False,
            max_abs_err=float("nan"),
            max_rel_err=float("nan"),
            worst_index=None,
            rtol=rtol,
            atol=atol,
        )
    got64 = got_array.astype(wide)
    expected64 = expected_array.astype(wide)
    exact = bool(np.array_equal(got64, expected64, equal_nan=equal_nan))
    if got64.size == 0:
        return Comparison(
            name,
            got_array.shape,
            expected_array.shape,
            exact=exact,
            close=exact,
            max_abs_err=0.0,
            max_rel_err=0.0,
            worst_index=None,
            rtol=rtol,
            atol=atol,
        )
    finite = np.isfinite(got64) & np.isfinite(expected64)
    # Off the finite entries only identical infinities (or NaN pairs, with equal_nan) match.
    same_special = (got64 == expected64) | (equal_nan & np.isnan(got64) & np.isnan(expected64))
    with np.errstate(invalid="ignore"):
        abs_err = np.where(finite, np.abs(got64 - expected64), np.where(same_special, 0.0, np.inf))
    allowed = np.where(finite, atol + rtol * np.abs(expected64), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel_err = np.where(abs_err == 0, 0.0, abs_err / np.abs(expected64))
        rel_err[~finite & (abs_err != 0)] = np.inf
        badness = np.where(abs_err == 0, 0.0, abs_err / allowed)
    worst_flat = int(np.argmax(badness))
    worst_index = tuple(int(i) for i in np.unravel_index(worst_flat, got64.shape))
    return Comparison(
        name,
        got_array.shape,
        expected_array.shape,
        exact=exact,
        close=bool(np.all(abs_err <= allowed)),
        max_abs_err=float(abs_err.max()),
        max_rel_err=float(rel_err.max()),
        worst_index=worst_index,
        rtol=rtol,
        atol=atol,
    )
