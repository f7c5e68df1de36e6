"""The seed and mlp networks' default learning rate per optimizer (DEFAULT_LR) against a
third and three times it, on the bundled digits: EPOCHS epochs of `chainrule train`'s
settings (batch 32, cosine schedule, seed 0); printed: the final validation accuracy and
the test accuracy. The default is judged by the validation accuracy."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from chainrule.train import TrainConfig, train
from chainrule.train.config import DEFAULT_LR

EPOCHS = 10

for model in sys.argv[1:] or ["seed", "mlp"]:
    for optimizer, default in DEFAULT_LR.items():
        if optimizer == "adamw":  # Adam's rate, with decoupled decay: measured as adam
            continue
        for lr in (default / 3, default, default * 3):
            config = TrainConfig(model=model, optimizer=optimizer, lr=lr, epochs=EPOCHS)
            with tempfile.TemporaryDirectory() as folder:
                run = train(config, Path(folder) / "run", progress=False, echo=lambda line: None)
            print(
                f"{model:4} {optimizer:8} lr {lr:<7.3g} val_accuracy "
                f"{run.history[-1]['val_accuracy']:.3f}  test {run.test_accuracy:.4f}",
                flush=True,
            )
