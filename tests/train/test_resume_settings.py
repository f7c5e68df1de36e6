"""Trainer.restore refuses a checkpoint of a run trained with other settings than the
trainer's (the Python API's `train(config, folder, resume=...)`; the command line refuses
them before it builds the trainer)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from training_helpers import fit

from chainrule.train import CheckpointError, TrainConfig, Trainer, load_checkpoint, train
from chainrule.train.datasets import Splits

RUN = TrainConfig(
    model="mlp",
    hidden=(16,),
    epochs=1,
    batch_size=100,
    seed=3,
    dtype="float64",
    optimizer="momentum",
    schedule="constant",
)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"momentum": 0.5}, r"momentum 0\.5 \(saved: 0\.9\)"),
        ({"lr": 0.5}, r"lr 0\.5 \(saved: 0\.05\)"),
        ({"weight_decay": 0.1}, r"weight_decay 0\.1 \(saved: 0\.0\)"),
        ({"seed": 4}, r"seed 4 \(saved: 3\)"),
        ({"dropout": 0.25}, r"dropout 0\.25 \(saved: 0\.0\)"),
        ({"optimizer": "sgd"}, r"optimizer 'sgd' \(saved: 'momentum'\)"),
        ({"schedule": "cosine"}, r"schedule 'cosine' \(saved: 'constant'\)"),
    ],
)
def test_restoring_a_run_with_other_settings_is_refused_naming_them(
    tmp_path: Path, digits64: Splits, change: dict[str, Any], named: str
) -> None:
    # Accepted, the optimizer kept the saved momentum, learning rate and decay while the
    # checkpoint then recorded the new ones: a run labelled with settings it never used.
    fit(RUN, tmp_path, digits64)
    saved = (tmp_path / "checkpoint.json").read_bytes()
    other = dataclasses.replace(RUN, epochs=2, **change)
    trainer = Trainer(other, tmp_path, splits=digits64)
    with pytest.raises(CheckpointError, match=rf"other settings than .*{named}"):
        trainer.restore(load_checkpoint(tmp_path))
    assert (tmp_path / "checkpoint.json").read_bytes() == saved


def test_train_with_resume_and_other_settings_leaves_the_run_as_it_was(
    tmp_path: Path, digits64: Splits
) -> None:
    fit(RUN, tmp_path, digits64)
    saved = load_checkpoint(tmp_path).meta
    with pytest.raises(CheckpointError, match=r"momentum 0\.5 \(saved: 0\.9\)"):
        train(
            dataclasses.replace(RUN, epochs=2, momentum=0.5),
            tmp_path,
            resume=load_checkpoint(tmp_path),
            progress=False,
            echo=lambda line: None,
        )
    after = load_checkpoint(tmp_path).meta
    assert after["config"] == saved["config"]
    assert after["epoch"] == 1


def test_restoring_with_an_optimizer_default_spelled_out_is_the_same_run(
    tmp_path: Path, digits64: Splits
) -> None:
    # lr None is the optimizer's default (0.05 for momentum), weight_decay None is 0.
    fit(RUN, tmp_path, digits64)
    spelled = dataclasses.replace(RUN, epochs=2, lr=0.05, weight_decay=0.0)
    trainer = Trainer(spelled, tmp_path, splits=digits64)
    trainer.restore(load_checkpoint(tmp_path))
    assert trainer.epoch == 1


def test_restoring_a_cosine_run_with_other_epochs_is_refused_as_such(
    tmp_path: Path, digits64: Splits
) -> None:
    # Refused before too, but as a "corrupt" checkpoint (the schedule's state did not load).
    cosine = dataclasses.replace(RUN, schedule="cosine")
    fit(cosine, tmp_path, digits64)
    trainer = Trainer(dataclasses.replace(cosine, epochs=3), tmp_path, splits=digits64)
    with pytest.raises(CheckpointError, match=r"anneals its learning rate over 1 epochs"):
        trainer.restore(load_checkpoint(tmp_path))


def test_restoring_with_more_epochs_continues_the_same_run(
    tmp_path: Path, digits64: Splits
) -> None:
    straight = fit(dataclasses.replace(RUN, epochs=2), tmp_path / "straight", digits64)
    fit(RUN, tmp_path / "split", digits64)
    resumed = Trainer(dataclasses.replace(RUN, epochs=2), tmp_path / "split", splits=digits64)
    resumed.restore(load_checkpoint(tmp_path / "split"))
    resumed.fit(progress=False, echo=lambda line: None)
    for name, weight in straight.engine.state_dict().items():
        np.testing.assert_array_equal(resumed.engine.state_dict()[name], weight, err_msg=name)


def test_a_trainer_refuses_splits_of_another_dtype_than_its_config(digits64: Splits) -> None:
    # Float64 inputs to the float32 weights computed the run in float64, while its config
    # and checkpoint said float32.
    with pytest.raises(
        ValueError, match=r"config's dtype is float32, but the splits given hold x_train float64"
    ):
        Trainer(dataclasses.replace(RUN, dtype="float32"), Path("unused"), splits=digits64)


def test_restoring_with_hidden_sizes_given_as_a_list_is_the_same_run(
    tmp_path: Path, digits64: Splits
) -> None:
    # The checkpoint reads `hidden` back as a tuple; a config written in Python may hold
    # the list it was given.
    fit(RUN, tmp_path, digits64)
    listed = dataclasses.replace(RUN, epochs=2, hidden=[16])  # type: ignore[arg-type]
    trainer = Trainer(listed, tmp_path, splits=digits64)
    trainer.restore(load_checkpoint(tmp_path))
    assert trainer.epoch == 1


def test_train_resumes_from_the_path_of_a_checkpoint(tmp_path: Path) -> None:
    # A path as `resume` failed with AttributeError: 'str' object has no attribute 'meta'.
    config = TrainConfig(model="mlp", hidden=(8,), epochs=1, batch_size=256, schedule="constant")
    train(config, tmp_path, progress=False, echo=lambda line: None)
    resumed = train(
        dataclasses.replace(config, epochs=2),
        tmp_path,
        resume=str(tmp_path),
        progress=False,
        echo=lambda line: None,
    )
    assert [record["epoch"] for record in resumed.history] == [1, 2]
