"""Test-set evaluation: accuracy and the confusion matrix, and the matrix as a text table."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """(C, C) int64 counts: entry [i, j] is how many samples of class i were predicted j.

    `labels` and `predictions` are (N,) class indices in 0 .. C-1."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    if labels.ndim != 1 or predictions.shape != labels.shape:
        raise ValueError(
            f"confusion_matrix: labels and predictions must be (N,) arrays of one class index "
            f"per sample, got shapes {labels.shape} and {predictions.shape}"
        )
    for name, indices in (("labels", labels), ("predictions", predictions)):
        # A negative index would silently count in the last classes' row or column.
        outside = (indices < 0) | (indices >= num_classes)
        if outside.any():
            raise ValueError(
                f"confusion_matrix: {name} must lie in 0..{num_classes - 1} "
                f"(num_classes={num_classes}); found {indices[outside][0]} at index "
                f"{int(np.flatnonzero(outside)[0])}"
            )
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


def format_confusion(matrix: np.ndarray, class_names: Sequence[str]) -> str:
    """The matrix as an aligned table: one row per true class, one column per predicted,
    ending with each class's recall (diagonal / row total)."""
    width = max(5, *(len(name) for name in class_names), len(str(int(matrix.max()))))
    header = " " * width + " " + " ".join(f"{name:>{width}}" for name in class_names)
    lines = ["rows: true class, columns: predicted class", header + "  recall"]
    for name, row, correct in zip(class_names, matrix, np.diag(matrix), strict=True):
        total = int(row.sum())
        recall = f"{correct / total:.3f}" if total else "  -  "
        counts = " ".join(f"{int(count):>{width}}" for count in row)
        lines.append(f"{name:>{width}} {counts}  {recall}")
    return "\n".join(lines)
