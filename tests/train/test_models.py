"""The networks `chainrule train` builds: every setting of the config takes effect."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule import nn
from chainrule.modes import no_grad
from chainrule.tensor import Tensor
from chainrule.train import TrainConfig
from chainrule.train.models import build_module


def _build(config: TrainConfig) -> nn.Sequential:
    return build_module(
        config, 64, 10, init_rng=np.random.default_rng(0), dropout_rng=np.random.default_rng(1)
    )


@pytest.mark.parametrize("model", ["seed", "mlp", "cnn"])
def test_dropout_is_in_every_model_that_is_given_it(model: str) -> None:
    # --model cnn --dropout 0.5 used to train without any dropout, saving dropout 0.5 in the
    # run's config as if it had been used.
    network = _build(TrainConfig(model=model, dropout=0.5))
    dropouts = [layer for layer in network.modules() if isinstance(layer, nn.Dropout)]
    assert dropouts
    assert all(layer.p == 0.5 for layer in dropouts)
    x = Tensor(np.random.default_rng(2).random((4, 64)).astype(np.float32))
    network.train()
    with no_grad():
        first, second = network(x).numpy(), network(x).numpy()
    assert not np.array_equal(first, second)
    network.eval()
    with no_grad():
        np.testing.assert_array_equal(network(x).numpy(), network(x).numpy())


@pytest.mark.parametrize("model", ["seed", "mlp", "cnn"])
def test_without_dropout_no_model_has_a_dropout_layer(model: str) -> None:
    network = _build(TrainConfig(model=model))
    assert not any(isinstance(layer, nn.Dropout) for layer in network.modules())
