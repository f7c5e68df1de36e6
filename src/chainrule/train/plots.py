"""PNG figures of a run: loss curves and the confusion matrix.

Matplotlib loads only when a figure is drawn, through its Agg canvas: no display, no pyplot
global state.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from chainrule.files import write_atomically


def new_figure(width: float, height: float) -> Any:
    """A Matplotlib Figure of `width` x `height` inches on its own Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure: Any, path: Path | str | IO[bytes]) -> None:
    """Save `figure` as a PNG at `path` in one step, as the checkpoints are written: the
    image is drawn in memory, written to a temporary file in the same folder, flushed to
    disk and moved over `path` (os.replace), so a run killed mid-write leaves the former
    image or none, never a truncated one. A binary file object is written directly."""
    if not isinstance(path, (str, os.PathLike)):
        figure.savefig(path, format="png")
        return
    target = Path(path)
    image = io.BytesIO()
    figure.savefig(image, format="png")
    write_atomically(target, image.getvalue())


def epoch_axis(axes: Any) -> None:
    """Label the x axis "epoch", ticked at whole epochs only (a 2-epoch run would otherwise
    be ticked at 1.2, 1.4, ...)."""
    from matplotlib.ticker import MaxNLocator

    axes.set_xlabel("epoch")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))


def plot_losses(history: Sequence[dict[str, Any]], path: Path | IO[bytes]) -> None:
    """Training and validation loss against epoch, saved as a PNG at `path` (or written to a
    binary file object)."""
    figure = new_figure(6.4, 4.0)
    axes = figure.add_subplot()
    epochs = [record["epoch"] for record in history]
    axes.plot(epochs, [record["train_loss"] for record in history], marker="o", label="training")
    axes.plot(epochs, [record["val_loss"] for record in history], marker="o", label="validation")
    epoch_axis(axes)
    axes.set_ylabel("cross-entropy loss")
    axes.set_yscale("log")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    save_figure(figure, path)


def plot_confusion(
    matrix: np.ndarray, class_names: Sequence[str], path: Path, *, title: str | None = None
) -> None:
    """The confusion matrix (rows: true class, columns: predicted) as a PNG at `path`, under
    `title` (what it scores: the file can outlive its checkpoint's epoch)."""
    size = len(class_names)
    figure = new_figure(1.0 + 0.6 * size, 0.8 + 0.6 * size)
    axes = figure.add_subplot()
    axes.imshow(matrix, cmap="Blues")
    axes.set_xticks(range(size), labels=list(class_names), rotation=45, ha="right")
    axes.set_yticks(range(size), labels=list(class_names))
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    if title is not None:
        axes.set_title(title, fontsize=9)
    threshold = matrix.max() / 2 if matrix.size else 0
    for row in range(size):
        for column in range(size):
            axes.text(
                column,
                row,
                str(int(matrix[row, column])),
                ha="center",
                va="center",
                fontsize=8,
                color="white" if matrix[row, column] > threshold else "black",
            )
    figure.tight_layout()
    save_figure(figure, path)
