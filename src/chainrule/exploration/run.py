"""A trained run's network explored: the model rebuilt as an `nn.Module` at its checkpoint's
weights, its cross-entropy loss on the first examples of the run's test split."""

from __future__ import annotations

import os

import numpy as np

from chainrule import nn
from chainrule.exploration import Exploration, explore
from chainrule.tensor import Tensor


def run_loss(folder: str | os.PathLike[str], *, examples: int) -> tuple[nn.Module, Tensor]:
    """The run's model (eval mode, checkpoint weights) and its loss on `examples` test rows.

    Raises `chainrule.train.CheckpointError` for a folder without a readable checkpoint and
    ValueError when its data set cannot be loaded.
    """
    from chainrule.train import CheckpointError, load_checkpoint
    from chainrule.train.datasets import load_splits
    from chainrule.train.loop import resumed_config
    from chainrule.train.models import build_module

    checkpoint = load_checkpoint(folder)
    config = resumed_config(checkpoint, None)
    splits = load_splits(config.data, val_fraction=config.val_fraction, dtype=config.dtype)
    # The same Linear/ReLU stack for either engine; the weights come from the checkpoint.
    model = build_module(
        config,
        splits.num_features,
        splits.num_classes,
        init_rng=np.random.default_rng(0),
        dropout_rng=np.random.default_rng(0),
        image_shape=splits.image_shape,
    )
    try:
        model.load_state_dict(checkpoint.meta["model"])
    except (KeyError, ValueError) as error:
        raise CheckpointError(
            f"{checkpoint.folder}: the checkpoint's weights do not fit the "
            f"model its config describes ({error})"
        ) from None
    model.eval()
    count = min(examples, len(splits.y_test))
    inputs = Tensor(splits.x_test[:count], name="x")
    loss = nn.CrossEntropyLoss()(model(inputs), splits.y_test[:count])
    return model, loss


def run_exploration(folder: str | os.PathLike[str], *, examples: int) -> Exploration:
    """The explore page for a trained run, every parameter by its path (0.weight, ...)."""
    model, loss = run_loss(folder, examples=examples)
    return explore(
        loss,
        wrt=list(model.parameters()),
        title=f"chainrule explore: the run in {os.fspath(folder)}",
    )
