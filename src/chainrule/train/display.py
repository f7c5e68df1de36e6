"""How a run shows itself in a notebook: the history as an HTML table and the loss curve as a
PNG (a table when Matplotlib is missing)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from html import escape
from typing import Any

from chainrule.train.plots import plot_losses


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return ", ".join(_cell(item) for item in value)
    return str(value)


def history_html(history: Sequence[dict[str, Any]]) -> str:
    """One row per epoch, one column per metric (in first-seen order), names escaped."""
    columns: list[str] = []
    for record in history:
        columns += [key for key in record if key not in columns]
    head = "".join(f"<th>{escape(column)}</th>" for column in columns)
    rows = "".join(
        "<tr>"
        + "".join(f"<td>{escape(_cell(record.get(column, '')))}</td>" for column in columns)
        + "</tr>"
        for record in history
    )
    return (
        f'<table class="chainrule-history"><thead><tr>{head}</tr></thead>'
        f"<tbody>{rows}</tbody></table>"
    )


class History(list[dict[str, Any]]):
    """A run's metrics, one dict per epoch (a plain list otherwise); displays as a table."""

    def _repr_html_(self) -> str:
        return history_html(self)


def loss_png(history: Sequence[dict[str, Any]]) -> bytes | None:
    """The loss curve as PNG bytes; None when Matplotlib is not installed or there is no
    epoch to plot."""
    if not history:
        return None
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return None
    buffer = io.BytesIO()
    plot_losses(history, buffer)
    return buffer.getvalue()
