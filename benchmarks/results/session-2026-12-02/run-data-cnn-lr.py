"""The CNN's default learning rate per optimizer, measured on the bundled digits: each
candidate trains `chainrule train --model cnn`'s network (batch 64, cosine schedule, seed 0)
for EPOCHS epochs; printed: validation accuracy after each epoch and the test accuracy.
The default is chosen by the final validation accuracy (the test split is only reported).

    python run-data-cnn-lr.py               # every candidate
    python run-data-cnn-lr.py sgd:1.0       # only these (optimizer:lr)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from chainrule.train import TrainConfig, train

EPOCHS = 5
CANDIDATES = [
    *(("sgd", lr) for lr in (0.01, 0.03, 0.1, 0.3, 1.0)),
    *(("momentum", lr) for lr in (0.003, 0.01, 0.03, 0.1, 0.3)),
    *(("adam", lr) for lr in (0.001, 0.003)),
    *(("adamw", lr) for lr in (0.001, 0.003)),
]

chosen = [(name, float(lr)) for name, lr in (arg.split(":") for arg in sys.argv[1:])]
for optimizer, lr in chosen or CANDIDATES:
    config = TrainConfig(model="cnn", optimizer=optimizer, lr=lr, epochs=EPOCHS, batch_size=64)
    with tempfile.TemporaryDirectory() as folder:
        run = train(config, Path(folder) / "run", progress=False, echo=lambda line: None)
    curve = " ".join(f"{record['val_accuracy']:.3f}" for record in run.history)
    print(
        f"{optimizer:8} lr {lr:<6g} val_accuracy by epoch {curve}  test {run.test_accuracy:.4f}",
        flush=True,
    )
