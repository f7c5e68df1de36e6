"""`chainrule evaluate` on a finished run reports the test accuracy the training printed last,
and its confusion matrix is scikit-learn's of the run's own predictions."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix as sklearn_confusion_matrix

from chainrule.cli import main
from chainrule.train import TrainConfig, Trainer, load_checkpoint

RUNS = {
    "seed-float32-adam": ["--epochs", "2"],
    "mlp-dropout-float64-momentum": [
        "--model", "mlp", "--hidden", "24,12", "--dropout", "0.3", "--dtype", "float64",
        "--optimizer", "momentum", "--epochs", "1",
    ],
    "manual-sgd": ["--engine", "manual", "--optimizer", "sgd", "--epochs", "1"],
}  # fmt: skip


@pytest.mark.parametrize("name", list(RUNS))
def test_evaluate_reports_the_training_accuracy_and_sklearn_confusion_matrix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    run = tmp_path / "run"
    arguments = ["train", "--batch-size", "64", "--no-progress", "--out", str(run)]
    assert main([*arguments, *RUNS[name]]) == 0
    trained = capsys.readouterr().out.splitlines()[-1]
    assert main(["evaluate", str(run)]) == 0
    evaluated = capsys.readouterr().out.splitlines()

    checkpoint = load_checkpoint(run)
    trainer = Trainer(TrainConfig.from_json(checkpoint.meta["config"]), tmp_path / "scratch")
    trainer.load_weights(checkpoint)
    predictions = np.argmax(trainer.engine.logits(trainer.splits.x_test), axis=1)
    labels = trainer.splits.y_test
    expected = sklearn_confusion_matrix(labels, predictions, labels=range(10))
    rows = [line.split() for line in evaluated[3:13]]
    assert [row[0] for row in rows] == [str(digit) for digit in range(10)]
    matrix = np.array([[int(count) for count in row[1:11]] for row in rows])
    np.testing.assert_array_equal(matrix, expected, strict=False)

    accuracy = re.fullmatch(r"test accuracy (\S+) \((\d+)/(\d+)\); .*", evaluated[-1])
    assert accuracy is not None
    correct, total = int(accuracy[2]), int(accuracy[3])
    assert (correct, total) == (int(np.sum(predictions == labels)), len(labels))
    assert trained.startswith(f"test accuracy {accuracy[1]}  (")
    assert accuracy[1] == f"{correct / total:.4f}"
