"""Training diagnostics: per-layer gradient norms, dead-ReLU fractions, and their plot."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from chainrule import manual
from chainrule.functional import mse_loss
from chainrule.nn import Dropout, Linear, ReLU, Sequential
from chainrule.train.diagnostics import (
    GradientNormMean,
    dead_relu_fractions,
    epoch_diagnostics,
    gradient_norms,
    layer_labels,
    plot_diagnostics,
)


@pytest.fixture
def model(rng: np.random.Generator) -> Sequential:
    return Sequential(
        Linear(3, 4, rng=rng, dtype=np.float64), ReLU(), Linear(4, 2, rng=rng, dtype=np.float64)
    )


def manual_copy(model: Sequential) -> manual.Sequential:
    """The same Linear/ReLU/Linear stack as hand-derived layers sharing `model`'s weights."""
    first = manual.Linear(3, 4, rng=np.random.default_rng(0))
    second = manual.Linear(4, 2, rng=np.random.default_rng(0))
    for layer, module in ((first, model[0]), (second, model[2])):
        layer.weight, layer.bias = module.weight.data.copy(), module.bias.data.copy()
    return manual.Sequential(first, manual.ReLU(), second)


@pytest.fixture
def batch(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    return rng.random((10, 3)), rng.standard_normal((10, 2))


def test_gradient_norm_of_a_layer_covers_weight_and_bias(model: Sequential, batch) -> None:
    x, y = batch
    mse_loss(model(x), y).backward()
    first = model[0]
    expected = np.sqrt(np.sum(first.weight.grad.data**2) + np.sum(first.bias.grad.data**2))
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
    with pytest.raises(
        TypeError,
        match=r"Sequential or a chainrule\.manual\.Sequential, "
        r"got Linear",
    ):
        dead_relu_fractions(Linear(3, 4, rng=rng), np.zeros((2, 3)))


def test_epoch_diagnostics_are_json_ready(model: Sequential, batch) -> None:
    x, y = batch
    mse_loss(model(x), y).backward()
    record = epoch_diagnostics(model, x)
    assert set(record) == {"grad_norm", "dead_relu"}
    assert json.loads(json.dumps(record)) == record


def test_plot_writes_a_png_creating_its_folder(model: Sequential, batch, tmp_path: Path) -> None:
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


def test_manual_layers_give_the_autograd_gradient_norms(model: Sequential, batch) -> None:
    x, y = batch
    mse_loss(model(x), y).backward()
    hand = manual_copy(model)
    criterion = manual.MSE()
    criterion.forward(hand.forward(x), y)
    hand.backward(criterion.backward())
    expected = gradient_norms(model)
    got = gradient_norms(hand)
    assert list(got) == list(expected) == ["0", "2"]
    np.testing.assert_allclose(
        np.array(list(got.values())), np.array(list(expected.values())), rtol=1e-12
    )


def test_manual_layers_before_backward_have_zero_gradient_norms(model: Sequential) -> None:
    assert gradient_norms(manual_copy(model)) == {"0": 0.0, "2": 0.0}


def test_manual_layers_give_the_autograd_dead_relu_fractions(model: Sequential, batch) -> None:
    x, _ = batch
    model[0].bias.data = np.array([0.1, -100.0, 0.1, 0.1])
    assert dead_relu_fractions(manual_copy(model), x) == dead_relu_fractions(model, x)
    assert dead_relu_fractions(model, x) == {"1": 0.25}


def test_dead_relu_fractions_draw_no_dropout_masks_and_keep_the_mode(
    rng: np.random.Generator, batch
) -> None:
    dropout_rng = np.random.default_rng(5)
    model = Sequential(
        Linear(3, 4, rng=rng, dtype=np.float64),
        ReLU(),
        Dropout(0.5, rng=dropout_rng),
        Linear(4, 2, rng=rng, dtype=np.float64),
    )
    state = dropout_rng.bit_generator.state
    dead_relu_fractions(model, batch[0])
    assert dropout_rng.bit_generator.state == state
    assert model.training


def test_gradient_norm_mean_averages_each_layer_over_the_steps(model: Sequential, batch) -> None:
    x, y = batch
    meter, per_step = GradientNormMean(), []
    for rows in (slice(0, 5), slice(5, 10)):
        model.zero_grad()
        mse_loss(model(x[rows]), y[rows]).backward()
        meter.add(model)
        per_step.append(gradient_norms(model))
    mean = meter.mean()
    assert mean["0"] == pytest.approx((per_step[0]["0"] + per_step[1]["0"]) / 2, rel=1e-12)
    assert mean["2"] == pytest.approx((per_step[0]["2"] + per_step[1]["2"]) / 2, rel=1e-12)


def test_gradient_norm_mean_of_no_steps_is_refused() -> None:
    with pytest.raises(ValueError, match="no step was added"):
        GradientNormMean().mean()


def test_layer_labels_name_the_kind_and_sizes(model: Sequential) -> None:
    expected = {"0": "0: Linear 3→4", "1": "1: ReLU (4 units)", "2": "2: Linear 4→2"}
    assert layer_labels(model) == expected
    assert layer_labels(manual_copy(model)) == expected
