"""The networks `chainrule train` builds: the tutorial's `seed` network, deeper MLPs and a
small CNN.

The first two are Linear/ReLU stacks ending in a Linear layer of one logit per class; the
CNN puts two conv/ReLU/max-pool stages in front of such a stack. The loss is softmax
cross-entropy. Parameters are named by layer position ("0.weight", "2.bias", ...),
identically in `chainrule.nn` and `chainrule.manual`, so either engine loads the other's.
"""

from __future__ import annotations

import itertools
import math

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
    image_shape: tuple[int, int] | None = None,
) -> nn.Sequential:
    """Linear, ReLU[, Dropout] per hidden layer, then a Linear head; PyTorch's default
    uniform initialisation drawn from `init_rng`, dropout masks from `dropout_rng`. The CNN
    checks the data's `image_shape` (rows, columns) when given."""
    if config.model == "cnn":
        return build_cnn(
            config,
            num_features,
            num_classes,
            init_rng=init_rng,
            dropout_rng=dropout_rng,
            image_shape=image_shape,
        )
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


CNN_CHANNELS = (16, 32)
"""Channels of the CNN's two 3x3 convolutions."""
CNN_HIDDEN = 128
"""Units of the CNN's dense hidden layer."""


def image_side(num_features: int, image_shape: tuple[int, int] | None = None) -> int:
    """The side of the square one-channel images of `num_features` pixels that the CNN
    takes (28 for MNIST, 8 for the digits); a DatasetError for any other size, or for images
    of (rows, columns) `image_shape` that are not square (32x8 would pass for 16x16)."""
    from chainrule.data.errors import DatasetError

    side = math.isqrt(num_features)
    square = image_shape is None or image_shape[0] == image_shape[1]
    if side * side != num_features or side % 4 or not square:
        found = (
            f"the data have {num_features} pixels per image"
            if image_shape is None
            else f"the data's images are {image_shape[0]}x{image_shape[1]}"
        )
        raise DatasetError(
            f"train: --model cnn takes square one-channel images whose side is a multiple of "
            f"4 (28x28, 8x8, ...), but {found}; use --model mlp for other data"
        )
    return side


def build_cnn(
    config: TrainConfig,
    num_features: int,
    num_classes: int,
    *,
    init_rng: np.random.Generator,
    dropout_rng: np.random.Generator | None = None,
    image_shape: tuple[int, int] | None = None,
) -> nn.Sequential:
    """Flat images (N, side * side) -> (N, 1, side, side) -> conv 3x3x16 (padding 1) -> ReLU
    -> max-pool 2 -> conv 3x3x32 (padding 1) -> ReLU -> max-pool 2 -> flatten -> Linear 128
    -> ReLU [-> Dropout] -> Linear to one logit per class; PyTorch's default initialisation
    from `init_rng`, layer by layer. With `config.dropout`, the dense hidden layer's output
    is dropped out, masks drawn from `dropout_rng`."""
    side = image_side(num_features, image_shape)
    first, second = CNN_CHANNELS
    dtype = config.dtype
    head: list[nn.Module] = [nn.ReLU()]
    if config.dropout > 0:
        if dropout_rng is None:
            raise ValueError(
                f"build_cnn: dropout {config.dropout} needs a dropout_rng to draw its masks"
            )
        head.append(nn.Dropout(config.dropout, rng=dropout_rng))
    return nn.Sequential(
        nn.Unflatten(1, (1, side, side)),
        nn.Conv2d(1, first, 3, padding=1, rng=init_rng, dtype=dtype),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(first, second, 3, padding=1, rng=init_rng, dtype=dtype),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(second * (side // 4) ** 2, CNN_HIDDEN, rng=init_rng, dtype=dtype),
        *head,
        nn.Linear(CNN_HIDDEN, num_classes, rng=init_rng, dtype=dtype),
    )
