"""A finished run displays in a notebook: its history as a table, its loss curve as a PNG
(a table when Matplotlib is missing)."""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any

import pytest

from chainrule.train import RunResult, TrainConfig, train
from chainrule.train.display import History

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _history() -> History:
    return History(
        [
            {"epoch": 1, "train_loss": 1.5, "val_loss": 1.25, "val_accuracy": 0.5, "lr": 0.01},
            {"epoch": 2, "train_loss": 0.75, "val_loss": 0.625, "val_accuracy": 0.875, "lr": 0.005},
        ]
    )


@pytest.fixture
def no_matplotlib(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def refuse_matplotlib(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", refuse_matplotlib)


def test_history_is_still_a_list_of_dicts() -> None:
    history = _history()
    assert isinstance(history, list)
    assert history[1]["val_accuracy"] == 0.875


def test_history_html_has_a_row_per_epoch_and_a_column_per_metric() -> None:
    html = _history()._repr_html_()
    assert html.count("<tr>") == 3
    assert "<th>epoch</th><th>train_loss</th><th>val_loss</th><th>val_accuracy</th>" in html
    assert "<td>0.875</td>" in html


def test_history_html_escapes_metric_names() -> None:
    html = History([{"<loss&>": 1.0}])._repr_html_()
    assert "<th>&lt;loss&amp;&gt;</th>" in html


def test_run_result_displays_its_loss_curve_as_png(tmp_path: Path) -> None:
    result = RunResult(tmp_path, _history(), 0.9)
    png = result._repr_png_()
    assert png is not None
    assert png.startswith(PNG_SIGNATURE)
    assert result._repr_html_() is None


@pytest.mark.usefixtures("no_matplotlib")
def test_run_result_without_matplotlib_displays_a_table(tmp_path: Path) -> None:
    result = RunResult(tmp_path, _history(), 0.9)
    assert result._repr_png_() is None
    html = result._repr_html_()
    assert html is not None
    assert "test accuracy 0.9000" in html
    assert "<th>train_loss</th>" in html


def test_train_returns_a_history_that_displays(tmp_path: Path) -> None:
    config = TrainConfig(epochs=1, batch_size=256, dtype="float64")
    result = train(config, tmp_path / "run", progress=False, echo=lambda line: None)
    assert isinstance(result.history, History)
    assert "<th>val_accuracy</th>" in result.history._repr_html_()
