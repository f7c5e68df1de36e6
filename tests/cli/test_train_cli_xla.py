"""`chainrule train --compile xla`: the training step compiled to one jitted JAX function,
on the bundled digits, reaching the accuracy of the NumPy replay (`--compile`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chainrule.cli import main
from chainrule.train.checkpoint import META_FILE
from chainrule.train.metrics import read_metrics

pytest.importorskip("jax")

SMALL = ["--model", "mlp", "--hidden", "16", "--batch-size", "64", "--no-progress"]


def _one_epoch(folder: Path, *compile: str) -> dict[str, float]:
    assert (
        main(["train", *SMALL, "--epochs", "1", "--compile", *compile, "--out", str(folder)]) == 0
    )
    (record,) = read_metrics(folder)
    return record


def test_compile_xla_reaches_the_accuracy_of_the_numpy_replay_in_one_epoch(
    tmp_path: Path,
) -> None:
    replayed = _one_epoch(tmp_path / "numpy")
    compiled = _one_epoch(tmp_path / "xla", "xla")
    assert abs(compiled["val_accuracy"] - replayed["val_accuracy"]) <= 0.01
    assert compiled["train_loss"] == pytest.approx(replayed["train_loss"], rel=1e-4)
    config = json.loads((tmp_path / "xla" / META_FILE).read_text())["meta"]["config"]
    assert config["compile"] is True
    assert config["compile_backend"] == "xla"


def test_compile_alone_still_means_the_numpy_replay(tmp_path: Path) -> None:
    _one_epoch(tmp_path)
    config = json.loads((tmp_path / META_FILE).read_text())["meta"]["config"]
    assert config["compile"] is True
    assert config["compile_backend"] == "numpy"


def test_an_unknown_compile_backend_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["train", *SMALL, "--compile", "tpu"])
    assert "invalid choice: 'tpu'" in capsys.readouterr().err
