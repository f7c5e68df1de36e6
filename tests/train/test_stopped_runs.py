"""Runs stopped anywhere (Ctrl-C, or a crash that skips every handler) and started again:
the folder is resumed, or trained into afresh when nothing was saved, and the finished run
is bit for bit the uninterrupted one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from training_helpers import fit, without_timing

from chainrule.train import TrainConfig, load_checkpoint
from chainrule.train import loop as training_loop
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
