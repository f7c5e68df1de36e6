"""He-initialised parameters of the tutorial network."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule import manual


def test_init_params_shapes_follow_the_tutorial(rng: np.random.Generator) -> None:
    params = manual.init_params(784, 50, 1, rng=rng)
    assert {name: value.shape for name, value in params.items()} == {
        "w1": (784, 50),
        "b1": (50,),
        "w2": (50, 1),
        "b2": (1,),
    }


def test_weights_have_he_standard_deviation_and_biases_are_zero(
    rng: np.random.Generator,
) -> None:
    params = manual.init_params(500, 400, 300, rng=rng)
    assert params["w1"].std() == pytest.approx(np.sqrt(2 / 500), rel=0.02)
    assert params["w2"].std() == pytest.approx(np.sqrt(2 / 400), rel=0.02)
    assert not params["b1"].any()
    assert not params["b2"].any()


def test_init_params_uses_the_requested_dtype(rng: np.random.Generator) -> None:
    params = manual.init_params(4, 3, 2, rng=rng, dtype=np.float32)
    assert {value.dtype for value in params.values()} == {np.dtype(np.float32)}


def test_he_scaling_keeps_the_initial_loss_near_the_targets_variance(
    rng: np.random.Generator,
) -> None:
    x = rng.random((2000, 784))
    y = np.zeros((2000, 1))
    he_loss = manual.forward(x, y, manual.init_params(784, 50, 1, rng=rng))[0]
    unscaled = {
        "w1": rng.standard_normal((784, 50)),
        "b1": np.zeros(50),
        "w2": rng.standard_normal((50, 1)),
        "b2": np.zeros(1),
    }
    assert he_loss < 100
    assert manual.forward(x, y, unscaled)[0] > 100 * he_loss


def test_zero_width_layers_are_rejected(rng: np.random.Generator) -> None:
    with pytest.raises(ValueError, match=r"fan_in >= 1 and fan_out >= 1, got \(4, 0\)"):
        manual.init_params(4, 0, 1, rng=rng)
