"""The networks `chainrule train` builds: the tutorial's `seed` network and deeper MLPs.

Both are Linear/ReLU stacks ending in a Linear layer of one logit per class; the loss is
softmax cross-entropy. Parameters are named by layer position ("0.weight", "2.bias", ...),
identically in `chainrule.nn` and `chainrule.manual`, so either engine loads the other's.
"""

from __future__ import annotations

import itertools

import numpy as np

from chainrule import manual, nn
from chainrule.train.config import TrainConfig


def layer_sizes(config: TrainConfig, num_features: int, num_classes: int) -> tuple[int, ...]:
    """(inputs, hidden..., classes): e.g. (64, 50, 10) for the seed network on digits."""
    return (num_features, *config.hidden_sizes, num_classes)


def build_module(
    config: TrainConfig,
    num_features: int,
    num_classes: int,
    *,
    init_rng: np.random.Generator,
    dropout_rng: np.random.Generator,
) -> nn.Sequential:
    """Linear, ReLU[, Dropout] per hidden layer, then a Linear head; PyTorch's default
    uniform initialisation drawn from `init_rng`, dropout masks from `dropout_rng`."""
    sizes = layer_sizes(config, num_features, num_classes)
    layers: list[nn.Module] = []
    for fan_in, fan_out in itertools.pairwise(sizes[:-1]):
        layers += [nn.Linear(fan_in, fan_out, rng=init_rng, dtype=config.dtype), nn.ReLU()]
        if config.dropout > 0:
            layers.append(nn.Dropout(config.dropout, rng=dropout_rng))
    layers.append(nn.Linear(sizes[-2], sizes[-1], rng=init_rng, dtype=config.dtype))
    return nn.Sequential(*layers)


def build_manual(config: TrainConfig, num_features: int, num_classes: int) -> manual.Sequential:
    """The same Linear/ReLU stack as hand-differentiated layers (weights to be loaded)."""
    sizes = layer_sizes(config, num_features, num_classes)
    placeholder_rng = np.random.default_rng(0)
    layers: list[manual.Layer] = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        if layers:
            layers.append(manual.ReLU())
        layers.append(manual.Linear(fan_in, fan_out, rng=placeholder_rng, dtype=config.dtype))
    return manual.Sequential(*layers)
