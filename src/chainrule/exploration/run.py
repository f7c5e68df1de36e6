"""A trained run's network explored: the model rebuilt as an `nn.Module` at its checkpoint's
weights, its cross-entropy loss on the first examples of the run's test split."""

from __future__ import annotations

import os

import numpy as np

from chainrule import nn
from chainrule.exploration import Exploration, explore
from chainrule.tensor import Tensor


class RunDataError(ValueError):
    """The data a run is read with (its own, or `data`) cannot be loaded or do not fit it."""


class RunDataChanged(RunDataError):
    """The run's own data now read differently than when it was trained (its checkpoint's
    data fingerprint differs): the loss would be of other examples."""


def run_loss(
    folder: str | os.PathLike[str], *, examples: int, data: str | None = None
) -> tuple[nn.Module, Tensor]:
    """The run's model (eval mode, checkpoint weights) and its loss on `examples` test rows
    of `data` (a named data set or a folder of IDX files; default: the run's own).

    Raises ValueError when `examples` is not from 1 to the number of test rows,
    `chainrule.train.CheckpointError` for a folder without a readable checkpoint,
    RunDataError (a ValueError) when the data cannot be loaded or their images do not fit
    the model, and RunDataChanged (a RunDataError) when the run's own data differ from the
    ones it was trained on (as `chainrule evaluate` and a resume refuse them).
    """
    from chainrule.train import CheckpointError, load_checkpoint
    from chainrule.train.datasets import data_difference, data_record, load_splits
    from chainrule.train.loop import missing_run_data, resumed_config
    from chainrule.train.models import build_module

    checkpoint = load_checkpoint(folder)
    config = resumed_config(checkpoint, None)
    source = config.data if data is None else data
    gone = missing_run_data(checkpoint, config) if data is None else None
    if gone is not None:
        raise RunDataError(gone)
    try:
        splits = load_splits(source, val_fraction=config.val_fraction, dtype=config.dtype)
    except (ValueError, OSError) as error:  # DatasetError, a missing or unreadable file
        whose = "the run's data" if data is None else "the data"
        message = str(error).removeprefix("train: ")
        raise RunDataError(f"{whose} ({source}) cannot be loaded: {message}") from None
    if data is None:
        current = data_record(splits, source)
        difference = data_difference(checkpoint.meta.get("data_fingerprint"), current)
        if difference is not None:
            raise RunDataChanged(
                f"{difference}; restore the run's data, or read these on purpose with "
                f"--data {current['source']} (data= in Python)"
            )
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
        if data is not None and data != config.data:
            raise RunDataError(
                f"the run's weights do not fit a model for the images of {data} ({error}); "
                f"it was trained on {config.data}: choose data of the same image size"
            ) from None
        raise CheckpointError(
            f"{checkpoint.folder}: the checkpoint's weights do not fit the "
            f"model its config describes ({error})"
        ) from None
    model.eval()
    available = len(splits.y_test)
    if not 1 <= examples <= available:
        # Plain ValueError, not RunDataError: the data are fine, the count is not.
        raise ValueError(
            f"{examples} examples asked for, and the test split of {source} holds "
            f"{available}; choose from 1 to {available} (--examples on the command line)"
        )
    inputs = Tensor(splits.x_test[:examples], name="x")
    loss = nn.CrossEntropyLoss()(model(inputs), splits.y_test[:examples])
    _name_reshaped_inputs(loss, inputs)
    return model, loss


def _name_reshaped_inputs(loss: Tensor, inputs: Tensor) -> None:
    """Name x the graph's leaf that is `inputs` reshaped (the CNN's Unflatten to images): x
    needs no gradient, so the reshape is not recorded and its result was a new, unnamed
    leaf, shown as leaf1."""
    from chainrule.explanation.walk import read_graph

    for leaf in read_graph(loss).leaves:
        if leaf.name is None and np.shares_memory(np.asarray(leaf.data), inputs.data):
            leaf.name = inputs.name


def run_exploration(
    folder: str | os.PathLike[str], *, examples: int, data: str | None = None
) -> Exploration:
    """The explore page for a trained run, every parameter by its path (0.weight, ...), on
    `data`'s test split (default: the run's own)."""
    model, loss = run_loss(folder, examples=examples, data=data)
    return explore(
        loss,
        wrt=list(model.parameters()),
        title=f"chainrule explore: the run in {os.fspath(folder)}",
    )
