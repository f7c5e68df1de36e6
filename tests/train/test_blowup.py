"""A run whose loss turns non-finite names what went non-finite first (the loss on a batch,
a named gradient, a parameter after the step) and the setting most likely to blame, instead
of always blaming --lr."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from chainrule.cli import main
from chainrule.train import TrainConfig, Trainer
from chainrule.train.blowup import explain_blowup
from chainrule.train.checkpoint import save_checkpoint
from chainrule.train.datasets import load_splits

QUIET = ["--no-progress", "--schedule", "constant"]
SRC = Path(__file__).resolve().parents[2] / "src"

pytestmark = pytest.mark.filterwarnings(
    "ignore:overflow encountered:RuntimeWarning", "ignore:invalid value encountered:RuntimeWarning"
)


def _train_error(options: list[str], folder: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["train", *options, *QUIET, "--out", str(folder)]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_momentum_above_one_is_named_as_the_cause(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    message = _train_error(
        ["--optimizer", "momentum", "--momentum", "5", "--lr", "0.05", "--epochs", "1"],
        tmp_path / "run",
        capsys,
    )
    assert "the loss became nan on batch" in message
    assert "of epoch 1" in message
    assert "likely cause: --momentum 5 is >= 1" in message
    assert "lower --lr" not in message


def test_a_growing_weight_decay_is_named_as_the_cause(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    message = _train_error(
        ["--optimizer", "sgd", "--weight-decay", "1000", "--lr", "0.1", "--epochs", "1"],
        tmp_path / "run",
        capsys,
    )
    assert "1 - lr * weight_decay = -99" in message
    assert "lower --weight-decay" in message


def test_a_huge_learning_rate_is_named_with_how_large_the_weights_grew(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    message = _train_error(
        ["--optimizer", "sgd", "--lr", "1e30", "--epochs", "1"], tmp_path / "run", capsys
    )
    assert message.startswith(
        "chainrule train: the loss became nan on batch 2 of epoch 1, the first non-finite value"
    )
    assert "the weights had grown to" in message
    assert message.endswith("lower --lr")


def test_a_step_that_overflows_the_weights_names_the_parameter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    message = _train_error(
        ["--optimizer", "sgd", "--lr", "1e39", "--epochs", "1"], tmp_path / "run", capsys
    )
    assert "after the optimizer step on batch 1 of epoch 1" in message
    assert "with a finite loss and gradients" in message
    assert message.endswith("lower --lr")


def test_a_blow_up_in_a_later_epoch_is_replayed_from_the_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    message = _train_error(
        ["--optimizer", "sgd", "--weight-decay", "25", "--lr", "0.1", "--epochs", "6"],
        tmp_path / "run",
        capsys,
    )
    assert "of epoch 3, the first non-finite value" in message
    assert "lower --weight-decay" in message


def test_a_gradient_that_overflows_with_a_finite_loss_is_named(tmp_path: Path) -> None:
    config = TrainConfig(optimizer="sgd", lr=0.1, epochs=2, schedule="constant")
    splits = load_splits("digits", val_fraction=0.1, dtype="float32")
    trainer = Trainer(dataclasses.replace(config, epochs=1), tmp_path, splits=splits)
    trainer.fit(progress=False, echo=lambda line: None)
    trainer.config = config
    # Tiny first-layer weights keep the logits finite; output weights of +-3e38 (class 0
    # against the rest) make each example's backward term ~2e37, and the batch sum overflows.
    state = {
        name: np.full_like(value, 1e-37) for name, value in trainer.engine.state_dict().items()
    }
    state["2.weight"] = np.full_like(state["2.weight"], -3e38)
    state["2.weight"][:, 0] = 3e38
    trainer.engine.load_state_dict(state)
    save_checkpoint(tmp_path, trainer.snapshot())
    message = explain_blowup(trainer, 2, 1, float("nan"))
    assert re.match(r"train: the gradient of 0\.(weight|bias) became -?inf ", message)
    assert "on batch 1 of epoch 2 while the loss was finite" in message


@pytest.mark.parametrize(
    "options",
    [
        ["--optimizer", "sgd", "--lr", "0.1", "--weight-decay", "1e6", "--epochs", "2"],
        ["--optimizer", "momentum", "--momentum", "5", "--lr", "0.05", "--epochs", "1"],
    ],
    ids=["weight-decay", "momentum"],
)
def test_a_blow_up_prints_its_one_line_error_and_no_numpy_warnings(
    options: list[str], tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])),
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "chainrule",
            "train",
            "--model",
            "mlp",
            "--hidden",
            "16",
            *options,
            *QUIET,
            "--out",
            str(tmp_path / "run"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("chainrule train: the loss became nan")


def test_weights_overflowed_by_an_epochs_last_step_are_explained_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # One batch per epoch: its loss is finite, the step overflows the weights, and the
    # validation pass that follows is the first to see them. It must say what blew up (as
    # a blow-up inside the epoch does), not fail in the loss with "remove the non-finite
    # entries before the forward pass".
    one_batch = ["--model", "mlp", "--hidden", "16", "--batch-size", "2000"]
    message = _train_error(
        [*one_batch, "--optimizer", "sgd", "--lr", "1e39", "--epochs", "2"],
        tmp_path / "run",
        capsys,
    )
    assert "after the optimizer step on batch 1 of epoch 1" in message
    assert "with a finite loss and gradients" in message
    assert "before the forward pass" not in message
    assert message.endswith("lower --lr")


def test_a_blow_up_of_the_manual_engine_is_explained_like_the_autograd_engines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The hand-derived cross-entropy refuses non-finite logits with a ValueError about its
    # input; in training they mean the weights blew up, to be explained as such.
    message = _train_error(
        ["--engine", "manual", "--optimizer", "sgd", "--lr", "1e30", "--epochs", "1"],
        tmp_path / "run",
        capsys,
    )
    assert message.startswith("chainrule train: the loss became nan on batch 2 of epoch 1")
    assert "before the forward pass" not in message
    assert message.endswith("lower --lr")
