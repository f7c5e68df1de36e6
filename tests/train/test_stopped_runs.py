"""Runs stopped anywhere (Ctrl-C, or a crash that skips every handler) and started again:
the folder is resumed, or trained into afresh when nothing was saved, and the finished run
is bit for bit the uninterrupted one."""

from __future__ import annotations

import gc
import sys
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import pytest
from training_helpers import fit, without_timing

from chainrule.train import TrainConfig, Trainer, TrainingInterrupted, load_checkpoint
from chainrule.train import loop as training_loop
from chainrule.train.checkpoint import ARRAYS_FILE, META_FILE, CheckpointError
from chainrule.train.datasets import Splits
from chainrule.train.metrics import read_metrics

CONFIG = TrainConfig(model="mlp", hidden=(16,), epochs=2, batch_size=200, dtype="float64", seed=3)


class _Crash(BaseException):
    """A process killed at this point: no handler of the loop runs."""


def test_a_run_stopped_before_its_first_checkpoint_can_be_trained_again_in_its_folder(
    tmp_path: Path, digits64: Splits, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(folder: Path, meta: dict[str, Any]) -> None:
        raise _Crash

    with monkeypatch.context() as patched:
        patched.setattr(training_loop, "save_checkpoint", crash)
        with pytest.raises(_Crash):
            fit(CONFIG, tmp_path / "run", digits64)
    again = fit(CONFIG, tmp_path / "run", digits64)
    straight = fit(CONFIG, tmp_path / "straight", digits64)
    assert without_timing(again.history) == without_timing(straight.history)
    assert without_timing(read_metrics(tmp_path / "run")) == without_timing(straight.history)
    assert load_checkpoint(tmp_path / "run").meta["epoch"] == CONFIG.epochs


WATCHED = frozenset(
    {"_fit", "run_epoch", "save_checkpoint", "_keep_previous", "write_atomically", "append_metrics"}
)
"""The functions of the loop and of its writes, at whose lines a run is stopped."""


def _stop_at_line(count: int, stop: type[BaseException]) -> Callable[..., Any]:
    """A trace function raising `stop` at the `count`-th line run in a WATCHED function."""
    seen = 0

    def on_line(frame: FrameType, event: str, arg: object) -> Callable[..., Any] | None:
        nonlocal seen
        if event == "line":
            seen += 1
            if seen == count:
                sys.settrace(None)
                raise stop
        return on_line

    def on_call(frame: FrameType, event: str, arg: object) -> Callable[..., Any] | None:
        return on_line if frame.f_code.co_name in WATCHED else None

    return on_call


def _lines_run(config: TrainConfig, folder: Path, splits: Splits) -> int:
    lines = 0

    def on_line(frame: FrameType, event: str, arg: object) -> Callable[..., Any] | None:
        nonlocal lines
        lines += event == "line"
        return on_line

    trainer = Trainer(config, folder, splits=splits)
    sys.settrace(lambda frame, event, arg: on_line if frame.f_code.co_name in WATCHED else None)
    try:
        trainer.fit(progress=False, echo=lambda line: None)
    finally:
        sys.settrace(None)
    return lines


def _stop_and_finish(
    config: TrainConfig, folder: Path, splits: Splits, at: int, stop: type[BaseException]
) -> None:
    """Train into `folder`, stopped by `stop` at line `at`; then resume it (or train it
    again, when nothing was saved) to the end, as `chainrule train --resume` would."""
    trainer = Trainer(config, folder, splits=splits)
    sys.settrace(_stop_at_line(at, stop))
    try:
        trainer.fit(progress=False, echo=lambda line: None)
    except (TrainingInterrupted, KeyboardInterrupt, _Crash):
        pass
    finally:
        sys.settrace(None)
    again = Trainer(config, folder, splits=splits)
    if (folder / META_FILE).exists():
        again.restore(load_checkpoint(folder))
    elif (folder / ARRAYS_FILE).exists():
        # Crashed between the two files of the first save: refused, saying what to do.
        with pytest.raises(CheckpointError, match="stopped while saving its first checkpoint"):
            load_checkpoint(folder)
        (folder / ARRAYS_FILE).unlink()
    again.fit(progress=False, echo=lambda line: None)


def _saved(folder: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    meta = dict(load_checkpoint(folder).meta)
    meta["history"] = without_timing(meta["history"])
    return meta, without_timing(read_metrics(folder))


def _assert_same(found: Any, expected: Any, where: str) -> None:
    if isinstance(expected, dict):
        assert isinstance(found, dict)
        assert set(found) == set(expected), where
        for key in expected:
            _assert_same(found[key], expected[key], f"{where}/{key}")
    elif isinstance(expected, list):
        assert isinstance(found, list)
        assert len(found) == len(expected), where
        for index, (item, wanted) in enumerate(zip(found, expected, strict=True)):
            _assert_same(item, wanted, f"{where}/{index}")
    elif isinstance(expected, (np.ndarray, np.generic)):
        assert np.asarray(found).dtype == expected.dtype, where
        np.testing.assert_array_equal(found, expected, err_msg=where, strict=True)
    else:
        assert found == expected, where


STOPPED_RUNS = {
    "autograd-adam-cosine-dropout": replace(CONFIG, optimizer="adam", dropout=0.2),
    "manual-momentum-cosine": replace(CONFIG, engine="manual", optimizer="momentum"),
    "compiled-adamw-constant": replace(
        CONFIG, compile=True, optimizer="adamw", schedule="constant"
    ),
}


@pytest.mark.parametrize("stop", [KeyboardInterrupt, _Crash], ids=["ctrl-c", "crash"])
@pytest.mark.parametrize("name", list(STOPPED_RUNS))
def test_a_run_stopped_anywhere_and_resumed_ends_as_the_uninterrupted_one(
    tmp_path: Path,
    digits64: Splits,
    name: str,
    stop: type[BaseException],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The plots are drawn from the history compared here; drawing them 30 times is slow.
    monkeypatch.setattr(Trainer, "plot", lambda self, history: None)
    config = STOPPED_RUNS[name]
    straight = tmp_path / "straight"
    lines = _lines_run(config, straight, digits64)
    expected_meta, expected_metrics = _saved(straight)
    assert expected_meta["epoch"] == config.epochs
    # Points spread over the whole run: before the first checkpoint, mid-epoch, between
    # the npz and json of a save, between a metrics line and its checkpoint.
    with warnings.catch_warnings():
        # A run stopped on the line event of a `with open(...)` block's exit, before its
        # __exit__, leaves the (already removed) temporary file to the garbage collector,
        # which warns when it closes it.
        warnings.simplefilter("ignore", ResourceWarning)
        for at in range(1, lines, 41):
            folder = tmp_path / f"stopped-{at}"
            _stop_and_finish(config, folder, digits64, at, stop)
            found_meta, found_metrics = _saved(folder)
            _assert_same(found_meta, expected_meta, f"stopped at line {at}: checkpoint")
            assert found_metrics == expected_metrics, f"stopped at line {at}: metrics.jsonl"
        gc.collect()
