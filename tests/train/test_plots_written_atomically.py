"""The run's figures (loss.png, gradients.png, confusion.png) replace the former image in
one step, as the checkpoints do: a run killed while Matplotlib writes leaves the former
image whole. Before, each was written in place and a kill mid-write left it truncated."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from matplotlib.figure import Figure

from chainrule.train import plots
from chainrule.train.diagnostics import plot_diagnostics

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HISTORY = [
    {
        "epoch": epoch,
        "train_loss": 1.0 / epoch,
        "val_loss": 1.2 / epoch,
        "grad_norm": {"0": 0.5},
        "dead_relu": {"0": 0.1},
    }
    for epoch in (1, 2)
]

DRAWERS: dict[str, Callable[[Path], Any]] = {
    "loss.png": lambda path: plots.plot_losses(HISTORY, path),
    "confusion.png": lambda path: plots.plot_confusion(np.eye(3), ["a", "b", "c"], path),
    "gradients.png": lambda path: plot_diagnostics(HISTORY, path),
}


@pytest.mark.parametrize("name", list(DRAWERS))
def test_a_write_killed_midway_leaves_the_former_image_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    path = tmp_path / name
    DRAWERS[name](path)
    former = path.read_bytes()
    assert former[:8] == PNG_SIGNATURE
    save = Figure.savefig

    def killed_midway(figure: Figure, target: Any, **options: Any) -> None:
        save(figure, target, **options)
        if hasattr(target, "truncate"):
            target.truncate(20)
        else:
            Path(target).write_bytes(Path(target).read_bytes()[:20])
        raise KeyboardInterrupt

    monkeypatch.setattr(Figure, "savefig", killed_midway)
    with pytest.raises(KeyboardInterrupt):
        DRAWERS[name](path)
    assert path.read_bytes() == former
    assert sorted(item.name for item in tmp_path.iterdir()) == [name]


@pytest.mark.parametrize("name", list(DRAWERS))
def test_a_figure_replaces_the_former_image(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"stale")
    DRAWERS[name](path)
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert sorted(item.name for item in tmp_path.iterdir()) == [name]
