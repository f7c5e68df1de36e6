"""Training diagnostics: per-layer gradient norms, dead-ReLU fractions, and their plot."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from chainrule.functional import mse_loss
from chainrule.nn import Linear, ReLU, Sequential
from chainrule.train.diagnostics import (
    dead_relu_fractions,
    epoch_diagnostics,
    gradient_norms,
    plot_diagnostics,
)


@pytest.fixture
def model(rng: np.random.Generator) -> Sequential:
    return Sequential(Linear(3, 4, rng=rng, dtype=np.float64), ReLU(),
                      Linear(4, 2, rng=rng, dtype=np.float64))


@pytest.fixture
def batch(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    return rng.random((10, 3)), rng.standard_normal((10, 2))


def test_gradient_norm_of_a_layer_covers_weight_and_bias(model: Sequential, batch) -> None:
    x, y = batch
    mse_loss(model(x), y).backward()
    first = model[0]
    expected = np.sqrt(np.sum(first.weight.grad.data ** 2) + np.sum(first.bias.grad.data ** 2))
    norms = gradient_norms(model)
    assert list(norms) == ["0", "2"]
    assert norms["0"] == pytest.approx(expected, rel=1e-12)


def test_gradient_norms_are_zero_before_any_backward(model: Sequential) -> None:
    assert gradient_norms(model) == {"0": 0.0, "2": 0.0}


def test_a_unit_negative_on_every_example_is_dead(model: Sequential, batch) -> None:
    x, _ = batch
    model[0].weight.data = np.abs(model[0].weight.data)
    model[0].bias.data = np.array([0.1, -100.0, 0.1, -100.0])
    assert dead_relu_fractions(model, x) == {"1": 0.5}


def test_a_unit_active_on_one_example_is_alive(model: Sequential) -> None:
    model[0].weight.data = np.eye(3, 4)
    model[0].bias.data = np.zeros(4)
    x = np.array([[1.0, 1.0, 1.0], [-1.0, -1.0, -1.0]])
    assert dead_relu_fractions(model, x) == {"1": 0.25}


def test_dead_relu_fractions_need_a_sequential(rng: np.random.Generator) -> None:
    with pytest.raises(TypeError, match=r"must be a chainrule\.nn\.Sequential, got Linear"):
        dead_relu_fractions(Linear(3, 4, rng=rng), np.zeros((2, 3)))


def test_epoch_diagnostics_are_json_ready(model: Sequential, batch) -> None:
    x, y = batch
    mse_loss(model(x), y).backward()
    record = epoch_diagnostics(model, x)
    assert set(record) == {"grad_norm", "dead_relu"}
    assert json.loads(json.dumps(record)) == record


def test_plot_writes_a_png_creating_its_folder(model: Sequential, batch,
                                               tmp_path: Path) -> None:
    x, y = batch
    history = []
    for _ in range(3):
        model.zero_grad()
        mse_loss(model(x), y).backward()
        history.append(epoch_diagnostics(model, x))
    path = plot_diagnostics(history, tmp_path / "run" / "gradients.png")
    assert path == tmp_path / "run" / "gradients.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_of_no_epochs_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="history is empty"):
        plot_diagnostics([], tmp_path / "gradients.png")
