"""`chainrule train --diagnostics` end to end on the digits: gradients.png and the diagnostic
keys in metrics.jsonl, and the same loss curve as without the flag."""

from __future__ import annotations

from pathlib import Path

import pytest

from chainrule.cli import main
from chainrule.train.metrics import DIAGNOSTIC_KEYS, KEYS, read_metrics

SMALL = ["--model", "mlp", "--hidden", "16", "--batch-size", "64", "--epochs", "2", "--no-progress"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
LOSS_KEYS = ("train_loss", "val_loss", "val_accuracy")


def train(folder: Path, *args: str) -> int:
    return main(["train", *SMALL, "--out", str(folder), *args])


@pytest.mark.parametrize("engine", ["autograd", "manual"])
def test_diagnostics_write_gradients_png_and_metrics_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], engine: str
) -> None:
    assert train(tmp_path, "--diagnostics", "--engine", engine) == 0
    capsys.readouterr()
    assert (tmp_path / "gradients.png").read_bytes()[:8] == PNG_SIGNATURE
    records = read_metrics(tmp_path)
    assert [record["epoch"] for record in records] == [1, 2]
    for record in records:
        assert tuple(record) == KEYS + DIAGNOSTIC_KEYS
        assert list(record["grad_norm"]) == ["0", "2"]
        assert all(norm > 0 for norm in record["grad_norm"].values())
        assert list(record["dead_relu"]) == ["1"]
        assert 0.0 <= record["dead_relu"]["1"] <= 1.0


def test_the_loss_curve_is_the_same_with_and_without_diagnostics(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert train(tmp_path / "plain") == 0
    assert train(tmp_path / "diagnosed", "--diagnostics") == 0
    capsys.readouterr()
    plain = [[record[key] for key in LOSS_KEYS] for record in read_metrics(tmp_path / "plain")]
    diagnosed = [
        [record[key] for key in LOSS_KEYS] for record in read_metrics(tmp_path / "diagnosed")
    ]
    assert len(plain) == 2
    assert diagnosed == plain
    assert not (tmp_path / "plain" / "gradients.png").exists()


def test_resume_keeps_the_diagnostics_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert train(tmp_path, "--diagnostics", "--epochs", "1", "--schedule", "constant") == 0
    assert main(["train", "--resume", str(tmp_path), "--epochs", "2", "--no-progress"]) == 0
    capsys.readouterr()
    assert [tuple(record) for record in read_metrics(tmp_path)] == [KEYS + DIAGNOSTIC_KEYS] * 2
    assert (tmp_path / "gradients.png").read_bytes()[:8] == PNG_SIGNATURE
