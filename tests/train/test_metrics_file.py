"""metrics.jsonl: rewritten in one step, so that a stopped rewrite leaves the former file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from chainrule.train.metrics import METRICS_FILE, append_metrics, read_metrics, rewrite_metrics

RECORDS = [{"epoch": 1, "train_loss": 0.5}, {"epoch": 2, "train_loss": 0.25}]


def test_a_rewrite_stopped_before_its_rename_leaves_the_former_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for record in RECORDS:
        append_metrics(tmp_path, record)
    before = (tmp_path / METRICS_FILE).read_bytes()

    def stopped(source: object, target: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patched:
        patched.setattr(os, "replace", stopped)
        with pytest.raises(KeyboardInterrupt):
            rewrite_metrics(tmp_path, RECORDS[:1])
    # A `.metrics.jsonl.tmp` was left behind beside the run's files.
    assert sorted(path.name for path in tmp_path.iterdir()) == [METRICS_FILE]
    assert (tmp_path / METRICS_FILE).read_bytes() == before
    rewrite_metrics(tmp_path, RECORDS[:1])
    assert read_metrics(tmp_path) == RECORDS[:1]
