"""Helpers shared by the training-loop tests: run a Trainer quietly, compare histories."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chainrule.train import TrainConfig, Trainer
from chainrule.train.datasets import Splits
from chainrule.train.metrics import TIMING_KEYS


def fit(config: TrainConfig, folder: Path, splits: Splits) -> Trainer:
    trainer = Trainer(config, folder, splits=splits)
    trainer.fit(progress=False, echo=lambda line: None)
    return trainer


def without_timing(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {key: value for key, value in record.items() if key not in TIMING_KEYS}
        for record in history
    ]
