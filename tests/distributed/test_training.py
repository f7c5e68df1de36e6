"""The loop's parts for several ranks (`chainrule.distributed.training`), on in-process
ranks."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from thread_ranks import ThreadRank, run_ranks

from chainrule.data.errors import DatasetError
from chainrule.distributed import SingleProcess, training
from chainrule.train.checkpoint import CheckpointError, load_checkpoint
from chainrule.train.config import TrainConfig
from chainrule.train.datasets import load_splits
from chainrule.train.loop import Trainer


def test_non_finite_validation_logits_give_every_rank_a_nan_loss_not_one_ranks_error() -> None:
    # Rank 1 alone sees non-finite logits: were it to raise, rank 0 would wait in the
    # allreduce for it. Every rank gets the same non-finite loss, for the loop to report.
    x = np.arange(8.0).reshape(4, 2)
    y = np.array([0, 1, 0, 1])

    def logits_of(rows: np.ndarray) -> np.ndarray:
        logits = np.stack([rows[:, 0], -rows[:, 0]], axis=1)
        return np.where(rows[:, :1] > 3, np.inf, logits)

    def body(comm: ThreadRank) -> tuple[float, float]:
        return training.reduced_validation(logits_of, x, y, comm)

    for loss, _ in run_ranks(2, body):
        assert np.isnan(loss)


CONFIG = TrainConfig(
    model="mlp", hidden=(4,), epochs=1, batch_size=256, schedule="constant", dtype="float64"
)


def test_a_rank_that_read_other_data_stops_every_rank(tmp_path: Path) -> None:
    """Rank 1 reading another copy of the data (another machine's) trained on other samples
    than its shard indices named, silently; every rank now stops with one error."""
    splits = load_splits("digits", val_fraction=0.1, dtype="float64")
    other = replace(splits, x_train=splits.x_train[::-1].copy())

    def body(comm: ThreadRank, folder: Path) -> str:
        trainer = Trainer(CONFIG, folder, splits=other if comm.rank else splits, comm=comm)
        with pytest.raises(DatasetError, match=r"rank\(s\) 1 of 2 read other data") as error:
            trainer.fit(progress=False, echo=lambda line: None)
        return str(error.value)

    assert len(set(run_ranks(2, lambda comm: body(comm, tmp_path)))) == 1


def test_a_rank_that_resumed_another_checkpoint_stops_every_rank(tmp_path: Path) -> None:
    splits = load_splits("digits", val_fraction=0.1, dtype="float64")
    first, second = tmp_path / "first", tmp_path / "second"
    Trainer(CONFIG, first, splits=splits, comm=SingleProcess()).fit(
        progress=False, echo=lambda line: None
    )
    shutil.copytree(first, second)
    later = replace(CONFIG, epochs=2)
    resumed = Trainer(later, second, splits=splits, comm=SingleProcess())
    resumed.restore(load_checkpoint(second))
    resumed.fit(progress=False, echo=lambda line: None)
    later = replace(CONFIG, epochs=3)

    def body(comm: ThreadRank) -> None:
        trainer = Trainer(later, first, splits=splits, comm=comm)
        trainer.restore(load_checkpoint(second if comm.rank else first))
        with pytest.raises(CheckpointError, match=r"rank\(s\) 1 of 2 resumed another"):
            trainer.fit(progress=False, echo=lambda line: None)

    run_ranks(2, body)


def test_a_rank_that_refuses_its_checkpoint_stops_every_rank_at_once(tmp_path: Path) -> None:
    """Rank 1's copy of the data differs from the run's: its restore refused it while rank
    0 went on and waited for it in the next collective until the deadline (600 s)."""
    splits = load_splits("digits", val_fraction=0.1, dtype="float64")
    Trainer(CONFIG, tmp_path, splits=splits, comm=SingleProcess()).fit(
        progress=False, echo=lambda line: None
    )
    other = replace(splits, x_train=splits.x_train[::-1].copy())

    def body(comm: ThreadRank) -> str:
        trainer = Trainer(CONFIG, tmp_path, splits=other if comm.rank else splits, comm=comm)
        with pytest.raises(CheckpointError, match="the data differ") as error:
            trainer.restore(load_checkpoint(tmp_path))
        return str(error.value)

    rank_0, rank_1 = run_ranks(2, body)
    assert rank_0.startswith("train: rank 1 of 2 cannot resume: the data differ")
    assert rank_1.startswith("train: the data differ")


@pytest.mark.parametrize("ranks", [1, 3], ids=["fewer", "more"])
def test_a_two_rank_run_resumes_on_another_rank_count(tmp_path: Path, ranks: int) -> None:
    """Resuming on more ranks than saved the run failed with an IndexError (each rank looked
    for its own dropout generators among the saved ranks'); without dropout it resumes, with
    the same global batches, as the uninterrupted run to rounding."""
    splits = load_splits("digits", val_fraction=0.1, dtype="float64")
    config = replace(CONFIG, batch_size=61)
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"

    def fit(comm: ThreadRank, folder: Path, epochs: int, resume: bool) -> str | None:
        trainer = Trainer(replace(config, epochs=epochs), folder, splits=splits, comm=comm)
        if resume:
            trainer.restore(load_checkpoint(folder))
        trainer.fit(progress=False, echo=lambda line: None)
        return trainer.notice

    run_ranks(2, lambda comm: fit(comm, straight, 2, resume=False))
    run_ranks(2, lambda comm: fit(comm, stopped, 1, resume=False))
    notices = run_ranks(ranks, lambda comm: fit(comm, stopped, 2, resume=True))
    assert notices[0] is not None
    assert f"saved with 2 rank(s) on {ranks}" in notices[0]
    expected = load_checkpoint(straight).meta["model"]
    got = load_checkpoint(stopped).meta["model"]
    assert sorted(got) == sorted(expected)
    for key, value in expected.items():
        np.testing.assert_allclose(np.asarray(got[key]), np.asarray(value), rtol=1e-12, atol=1e-14)
