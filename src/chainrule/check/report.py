"""The report of a gradient check: one row per named gradient (`GradcheckRow`), the
random directions it was checked along (`DirectionCheck`), and the table that prints them
as text or, in Jupyter, as HTML (`GradcheckReport`)."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

import numpy as np

from chainrule.check.diagnose import Diagnosis


def relative_error(miss: float, reference: float) -> float:
    """miss / |reference|; 0 for no miss at a reference of 0, and 1 for any miss there."""
    return miss / abs(reference) if reference else float(miss > 0)


@dataclass(frozen=True)
class DirectionCheck:
    """<v, grad> (analytic) against (f(x + eps v) - f(x - eps v)) / 2 eps (numerical)."""

    analytic: float
    numerical: float
    allowed: float
    kink: bool
    resolved: bool = True
    verified: bool = True
    """False where the miss was put down to kinks among unsampled entries that the search
    for them (`split_at_kinks`) ran out of evaluations to confirm."""
    outside: bool = False
    """True where the loss is not finite at x +- eps v though <v, grad> is: the step left
    where the loss is defined, so nothing was measured (not ok, and no failure)."""

    @property
    def abs_err(self) -> float:
        return abs(self.analytic - self.numerical)

    @property
    def rel_err(self) -> float:
        return relative_error(self.abs_err, self.numerical)

    @property
    def ok(self) -> bool:
        """Agrees (or sits on a kink); an unresolved direction agrees only within the noise.
        An inf or NaN on either side never agrees."""
        if not np.isfinite(self.abs_err):
            return False
        return self.abs_err <= self.allowed or self.kink


@dataclass(frozen=True)
class GradcheckRow:
    """The check of one named gradient.

    status: "ok"; "FAIL" (some resolved entry or direction disagrees and is no kink, or is
    inf/NaN); "UNRESOLVED" (nothing failed, but some checked entries or directions are smaller
    than about ten times the rounding noise of the central difference, so they were not
    verified: the loss is too large for eps; or the loss is not finite at x +- eps where
    the analytic value is, the step leaving where it is defined); "SHAPE MISMATCH" (the
    analytic gradient's shape is not its array's); "KINKS ONLY" (every checked entry sat
    on a kink, so nothing was actually verified); "PARTIAL" (every checked entry agrees,
    but with directions=0 the entries outside the sample were not checked at all). Only
    "ok" passes.
    diagnosis: for a row that is "FAIL" or "SHAPE MISMATCH", what the mistake looks like
    (see `diagnose`); None for the others.
    unresolved: how many checked entries (not directions) the noise left unresolved.
    worst_index: the checked entry furthest outside (or nearest the edge of) its tolerance;
    in a row where every sampled entry agrees but a direction fails, the entry outside the
    sample that halving the direction traced the miss to, or None when none could be.
    reason: for an "UNRESOLVED", "KINKS ONLY" or "PARTIAL" row, one sentence saying why and
    what to change.
    worst_values: (analytic, numerical) at `worst_index`, the numerical value None for an
    inf/NaN analytic entry outside the sample (not measured); None where there is no worst
    entry.
    dtype: the analytic gradient's dtype as given (the check itself is in float64), which
    sets its default rtol; rtol: the relative tolerance it was judged with (None where
    unknown). The table prints both, so that an "ok" of a float32 gradient reads as one
    within 1e-3, not 1e-5.
    """

    name: str
    shape: tuple[int, ...]
    grad_shape: tuple[int, ...]
    status: str
    checked: int
    failures: int
    kinks: int
    max_abs_err: float
    max_rel_err: float
    worst_index: tuple[int, ...] | None
    directions: tuple[DirectionCheck, ...]
    diagnosis: Diagnosis | None = None
    unresolved: int = 0
    reason: str | None = None
    worst_values: tuple[float, float | None] | None = None
    dtype: str = "float64"
    rtol: float | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def dtype_cell(self) -> str:
        """The table's dtype cell: the dtype and the rtol it was judged with."""
        return self.dtype if self.rtol is None else f"{self.dtype} (rtol {self.rtol:g})"

    @property
    def total(self) -> int:
        return int(np.prod(self.shape))


@dataclass(frozen=True)
class GradcheckReport:
    """One row per checked name; `ok` when every row is, `failing` names the rows that are not
    (an "UNRESOLVED" row is not ok: its gradient was not verified)."""

    rows: tuple[GradcheckRow, ...]
    eps: float

    @property
    def ok(self) -> bool:
        return all(row.ok for row in self.rows)

    @property
    def failing(self) -> tuple[str, ...]:
        return tuple(row.name for row in self.rows if not row.ok)

    def __getitem__(self, name: str) -> GradcheckRow:
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(
            f"no gradient named {name!r} was checked; checked: "
            f"{', '.join(row.name for row in self.rows)}"
        )

    def __str__(self) -> str:
        lines = self._cells()
        header = lines[0]
        widths = [max(len(line[column]) for line in lines) for column in range(len(header))]
        table = [
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
            for line in lines
        ]
        return "\n".join(table + self._diagnoses())

    def _repr_html_(self) -> str:
        """Jupyter: the same table as `str`, in HTML, failing rows in bold, then the
        diagnoses; every name is escaped."""
        header, *body = self._cells()
        head = "".join(f"<th>{escape(cell)}</th>" for cell in header)
        rows = "".join(
            "<tr>"
            + "".join(
                f"<td>{escape(cell)}</td>"
                if row.ok
                else f"<td><strong>{escape(cell)}</strong></td>"
                for cell in cells
            )
            + "</tr>"
            for row, cells in zip(self.rows, body, strict=True)
        )
        verdict = "every gradient agrees" if self.ok else f"failing: {', '.join(self.failing)}"
        notes = "".join(f"<li>{escape(line)}</li>" for line in self._diagnoses())
        return (
            f'<table class="chainrule-gradcheck"><thead><tr>{head}</tr></thead>'
            f"<tbody>{rows}</tbody></table><p>gradcheck (eps={self.eps:g}): "
            f"{escape(verdict)}</p>" + (f"<ul>{notes}</ul>" if notes else "")
        )

    def _diagnoses(self) -> list[str]:
        """Both values at each failing row's worst entry, the diagnosis of each failing row,
        then the reason of each unresolved one."""
        worst = [
            _worst_line(row.name, row.worst_index, *row.worst_values)
            for row in self.rows
            if row.status == "FAIL" and row.worst_values is not None
        ]
        diagnoses = worst + [
            f"diagnosis of {row.name}: {row.diagnosis}"
            for row in self.rows
            if row.diagnosis is not None
        ]
        return diagnoses + [
            f"{row.name}: {row.reason}" for row in self.rows if row.reason is not None
        ]

    def _cells(self) -> list[tuple[str, ...]]:
        """The header and one tuple of cell texts per row."""
        header = (
            "name",
            "shape",
            "dtype",
            "status",
            "checked",
            "kinks",
            "max_abs",
            "max_rel",
            "worst at",
            "direction rel_err",
        )
        lines: list[tuple[str, ...]] = [header]
        for row in self.rows:
            if row.status == "SHAPE MISMATCH":
                lines.append(
                    (
                        row.name,
                        str(row.shape),
                        row.dtype_cell,
                        row.status,
                        "-",
                        "-",
                        "-",
                        "-",
                        "-",
                        f"gradient has shape {row.grad_shape}",
                    )
                )
                continue
            direction = ", ".join(
                "outside"
                if d.outside
                else ("kink" if d.kink else f"{d.rel_err:.2g}")
                + ("" if d.ok else " FAIL")
                + ("" if d.resolved or not d.ok else " unresolved")
                for d in row.directions
            )
            lines.append(
                (
                    row.name,
                    str(row.shape),
                    row.dtype_cell,
                    row.status,
                    f"{row.checked}/{row.total}",
                    str(row.kinks),
                    f"{row.max_abs_err:.2g}",
                    f"{row.max_rel_err:.2g}",
                    str(row.worst_index),
                    direction,
                )
            )
        return lines


def _worst_line(
    name: str, index: tuple[int, ...] | None, analytic: float, numerical: float | None
) -> str:
    """One line naming a failing row's worst entry, both values and how far apart they are."""
    if numerical is None:
        return (
            f"{name}: worst at {index}: analytic {analytic:.6g}, not sampled (no finite difference)"
        )
    return (
        f"{name}: worst at {index}: analytic {analytic:.6g}, numerical {numerical:.6g}, "
        f"off by {abs(analytic - numerical):.2g}"
    )
