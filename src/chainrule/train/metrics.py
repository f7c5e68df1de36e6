"""Per-epoch metrics: what each line of metrics.jsonl holds, and how the file is written.

One JSON object per completed epoch: epoch, train_loss (mean over the epoch's samples),
val_loss, val_accuracy, seconds, samples_per_s and lr (the learning rate of that epoch);
with --diagnostics also grad_norm ({layer: mean over the epoch's batches of the layer's
gradient norm}) and dead_relu ({ReLU: fraction of its units dead on the validation set}).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.files import write_atomically

METRICS_FILE = "metrics.jsonl"
KEYS = ("epoch", "train_loss", "val_loss", "val_accuracy", "seconds", "samples_per_s", "lr")
DIAGNOSTIC_KEYS = ("grad_norm", "dead_relu")
TIMING_KEYS = ("seconds", "samples_per_s")
"""Keys that measure the machine, not the training: they differ between identical runs."""


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of rows whose largest logit is at the label: mean over i of
    [argmax_c logits[i, c] == labels[i]], for logits (N, C) and labels (N,)."""
    logits, labels = np.asarray(logits), np.asarray(labels)
    if logits.ndim != 2 or labels.shape != (logits.shape[0],):
        # (N, 1) labels would broadcast against the (N,) predictions into an (N, N) table.
        raise ValueError(
            f"accuracy: expected logits (N, C) and labels (N,), got logits of shape "
            f"{logits.shape} and labels of shape {labels.shape}; pass one class index per row"
        )
    return float(np.mean(np.argmax(logits, axis=1) == labels))


def append_metrics(folder: Path, record: dict[str, Any]) -> None:
    """Add one epoch's line to metrics.jsonl, flushed to disk."""
    with open(folder / METRICS_FILE, "a") as sink:
        sink.write(json.dumps(record) + "\n")
        sink.flush()
        os.fsync(sink.fileno())


def rewrite_metrics(folder: Path, history: Sequence[dict[str, Any]]) -> None:
    """Replace metrics.jsonl by `history` (on resume: drop lines past the checkpoint), in
    one step as the checkpoint is written: flushed to disk before it replaces the former
    file, and an interrupted rewrite leaves that file whole and no temporary behind."""
    lines = "".join(json.dumps(record) + "\n" for record in history)
    write_atomically(folder / METRICS_FILE, lines.encode())


def read_metrics(folder: Path) -> list[dict[str, Any]]:
    """The records of metrics.jsonl, in order."""
    lines = (folder / METRICS_FILE).read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]
