"""Training classifiers end to end: the engine behind `chainrule train` and `evaluate`.

`train(config, folder)` builds the model (the tutorial's `seed` network or an MLP) for either
engine, runs epochs of mini-batches with validation, writes metrics.jsonl, loss.png and an
exact-resume checkpoint to the run folder; `load_checkpoint` reads one back.
"""

from chainrule.train.checkpoint import Checkpoint, CheckpointError, load_checkpoint
from chainrule.train.config import TrainConfig
from chainrule.train.loop import RunResult, Trainer, TrainingInterrupted, train

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "RunResult",
    "TrainConfig",
    "Trainer",
    "TrainingInterrupted",
    "load_checkpoint",
    "train",
]
