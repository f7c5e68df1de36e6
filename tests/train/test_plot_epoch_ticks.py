"""The run's figures tick the epoch axis at whole epochs: a 2-epoch run's loss.png and
gradients.png showed ticks at 1.2, 1.4, 1.6, ..."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from chainrule.train import plots
from chainrule.train.diagnostics import plot_diagnostics


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The figures the plotting functions make, kept to read their axes."""
    figures: list[Any] = []
    make = plots.new_figure

    def keep(width: float, height: float) -> Any:
        figures.append(make(width, height))
        return figures[-1]

    monkeypatch.setattr(plots, "new_figure", keep)
    return figures


def _epoch_ticks(axes: Any) -> np.ndarray:
    low, high = axes.get_xlim()
    ticks = np.asarray(axes.get_xticks())
    return ticks[(ticks >= low) & (ticks <= high)]


@pytest.mark.parametrize("epochs", [2, 3, 40])
def test_loss_plot_ticks_whole_epochs(epochs: int, drawn: list[Any]) -> None:
    history = [
        {"epoch": epoch, "train_loss": 1.0 / epoch, "val_loss": 1.2 / epoch}
        for epoch in range(1, epochs + 1)
    ]
    plots.plot_losses(history, io.BytesIO())
    (axes,) = drawn[0].axes
    ticks = _epoch_ticks(axes)
    assert axes.get_xlabel() == "epoch"
    assert len(ticks) >= 2
    np.testing.assert_array_equal(ticks, np.round(ticks))


def test_diagnostics_plot_ticks_whole_epochs(drawn: list[Any], tmp_path: Path) -> None:
    history = [
        {"epoch": epoch, "grad_norm": {"0": 0.5 * epoch}, "dead_relu": {"1": 0.1}}
        for epoch in (1, 2)
    ]
    plot_diagnostics(history, tmp_path / "gradients.png")
    for axes in drawn[0].axes:
        ticks = _epoch_ticks(axes)
        assert axes.get_xlabel() == "epoch"
        assert len(ticks) >= 2
        np.testing.assert_array_equal(ticks, np.round(ticks))
