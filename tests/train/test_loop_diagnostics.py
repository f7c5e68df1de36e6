"""`TrainConfig(diagnostics=True)` in the loop: it leaves the training unchanged, both engines
report the same diagnostics, and they survive resume."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from training_helpers import fit, without_timing

from chainrule.train import TrainConfig, Trainer, load_checkpoint
from chainrule.train.datasets import Splits
from chainrule.train.loop import resumed_config
from chainrule.train.metrics import DIAGNOSTIC_KEYS, TIMING_KEYS, read_metrics
from chainrule.train.run_folder import GRADIENTS_PLOT

SMALL = TrainConfig(
    model="mlp",
    hidden=(16, 8),
    epochs=2,
    batch_size=64,
    seed=3,
    dtype="float64",
    optimizer="momentum",
    schedule="constant",
    diagnostics=True,
)


def training_only(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {key: value for key, value in record.items() if key not in TIMING_KEYS + DIAGNOSTIC_KEYS}
        for record in history
    ]


@pytest.mark.parametrize(
    "changes", [{"dropout": 0.2}, {"engine": "manual"}], ids=["autograd-dropout", "manual"]
)
def test_diagnostics_leave_the_training_unchanged(
    tmp_path: Path, digits64: Splits, changes: dict[str, Any]
) -> None:
    config = dataclasses.replace(SMALL, **changes)
    plain = fit(dataclasses.replace(config, diagnostics=False), tmp_path / "plain", digits64)
    diagnosed = fit(config, tmp_path / "diagnosed", digits64)
    assert training_only(diagnosed.history) == training_only(plain.history)
    for name, weight in plain.engine.state_dict().items():
        np.testing.assert_array_equal(diagnosed.engine.state_dict()[name], weight)
    assert all(set(DIAGNOSTIC_KEYS) <= set(record) for record in diagnosed.history)
    assert not any(set(DIAGNOSTIC_KEYS) & set(record) for record in plain.history)


def test_both_engines_report_the_same_diagnostics(tmp_path: Path, digits64: Splits) -> None:
    autograd = fit(SMALL, tmp_path / "autograd", digits64)
    manual = fit(dataclasses.replace(SMALL, engine="manual"), tmp_path / "manual", digits64)
    for got, expected in zip(manual.history, autograd.history, strict=True):
        assert list(got["grad_norm"]) == list(expected["grad_norm"]) == ["0", "2", "4"]
        np.testing.assert_allclose(
            np.array(list(got["grad_norm"].values())),
            np.array(list(expected["grad_norm"].values())),
            rtol=1e-10,
        )
        assert got["dead_relu"] == expected["dead_relu"]
        assert list(got["dead_relu"]) == ["1", "3"]


def test_compiled_steps_give_the_eager_gradient_norms(tmp_path: Path, digits64: Splits) -> None:
    eager = fit(SMALL, tmp_path / "eager", digits64)
    compiled = fit(dataclasses.replace(SMALL, compile=True), tmp_path / "compiled", digits64)
    assert without_timing(compiled.history) == without_timing(eager.history)


def test_diagnostics_survive_resume(tmp_path: Path, digits64: Splits) -> None:
    straight = fit(SMALL, tmp_path / "straight", digits64)
    fit(dataclasses.replace(SMALL, epochs=1), tmp_path / "split", digits64)
    checkpoint = load_checkpoint(tmp_path / "split")
    resumed = Trainer(resumed_config(checkpoint, 2), tmp_path / "split", splits=digits64)
    resumed.restore(checkpoint)
    resumed.fit(progress=False, echo=lambda line: None)
    assert without_timing(resumed.history) == without_timing(straight.history)
    assert without_timing(read_metrics(tmp_path / "split")) == without_timing(straight.history)
    assert (tmp_path / "split" / GRADIENTS_PLOT).stat().st_size > 0


def test_a_run_without_diagnostics_draws_no_gradients_plot(
    tmp_path: Path, digits64: Splits
) -> None:
    fit(dataclasses.replace(SMALL, epochs=1, diagnostics=False), tmp_path, digits64)
    assert (tmp_path / "loss.png").exists()
    assert not (tmp_path / GRADIENTS_PLOT).exists()
