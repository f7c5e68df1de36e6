"""What every step of one gradient's check reads (`RowSetup`): the loss as a function of
that array alone, the point, the analytic gradient and the row's tolerances."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from chainrule._types import Float64Array


@dataclass(frozen=True)
class RowSetup:
    """The loss near one array's point and the tolerances its entries and directions are
    judged with: a miss is allowed ``atol + floor + rtol * |numerical|`` per entry."""

    at_point: Callable[[Float64Array], float]
    """The loss with this array replaced (every other array at its point)."""
    point: Float64Array
    analytic: Float64Array
    """The gradient checked, in float64."""
    f0: float
    """The loss at the point."""
    eps: float
    rtol: float
    atol: float
    """The row's atol: the one given, else 1e-3 * rtol * scale."""
    floor: float
    """The rounding noise of a central difference at f0 and eps."""
    scale: float
    """The largest finite |analytic| entry (0 when there is none)."""
    resolvable: float
    """The size an entry is judged at when it is smaller: max(1e-3 * scale, atol)."""
