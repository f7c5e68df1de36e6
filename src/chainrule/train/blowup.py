"""Explaining a training run whose loss turned non-finite: what went non-finite first (the
loss on a batch, the gradient of a named parameter, or a parameter after the step) and the
likely cause given the run's settings.

The loop only watches the loss, so a blow-up costs nothing until it happens; then the epoch
is replayed from its starting state (the run's checkpoint, or the initial state for the
first epoch) with every step watched, which the run's bit-for-bit determinism makes exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from chainrule.optim import Optimizer
from chainrule.train.checkpoint import META_FILE, load_checkpoint
from chainrule.train.config import TrainConfig

if TYPE_CHECKING:
    from chainrule.train.loop import Trainer

GROWN = 1e4
"""Weights larger than this in magnitude count as grown by the updates (initial weights are
of order 1)."""


@dataclass(frozen=True)
class Finding:
    """The first non-finite value in a replayed epoch: `what` ("loss", "gradient" or
    "parameter"), on `batch`, of parameter `name` (for a gradient or parameter), with the
    largest finite weight magnitude before that step (`largest`, of `largest_name`)."""

    what: str
    batch: int
    name: str
    value: float
    largest: float
    largest_name: str
    bad_inputs: bool


def _named_parameters(trainer: Trainer) -> list[tuple[str, np.ndarray]]:
    names = list(trainer.engine.state_dict())
    params = trainer.engine.parameters()
    if len(names) != len(params):
        names = [f"parameter {position}" for position in range(len(params))]
    return [(name, param.data) for name, param in zip(names, params, strict=True)]


def _first_non_finite(named: list[tuple[str, np.ndarray]]) -> tuple[str, float] | None:
    for name, array in named:
        bad = ~np.isfinite(array)
        if bad.any():
            return name, float(array[bad].flat[0])
    return None


def _largest(named: list[tuple[str, np.ndarray]]) -> tuple[float, str]:
    sizes = [(float(np.abs(array).max()) if array.size else 0.0, name) for name, array in named]
    return max(sizes, default=(0.0, ""))


def replay_epoch(trainer: Trainer, epoch: int, last_batch: int) -> Finding | None:
    """Replay `epoch` of `trainer`'s run eagerly up to `last_batch`, watching each step; the
    first non-finite loss, gradient or parameter, or None when the replay stays finite."""
    config = replace(trainer.config, compile=False)
    fresh = type(trainer)(config, trainer.folder, splits=trainer.splits)
    if epoch > 1:
        if not (trainer.folder / META_FILE).exists():
            return None
        fresh.restore(load_checkpoint(trainer.folder))
        if fresh.epoch != epoch - 1:
            return None
    optimizer: Optimizer = fresh.optimizer
    seen: dict[str, tuple[str, float]] = {}

    def before_step(_: Optimizer) -> None:
        grads = [
            (name, param.grad.data)
            for (name, _), param in zip(
                _named_parameters(fresh), fresh.engine.parameters(), strict=True
            )
            if param.grad is not None
        ]
        bad = _first_non_finite(grads)
        if bad is not None and "gradient" not in seen:
            seen["gradient"] = bad

    def after_step(_: Optimizer) -> None:
        bad = _first_non_finite(_named_parameters(fresh))
        if bad is not None and "parameter" not in seen:
            seen["parameter"] = bad

    optimizer.register_step_pre_hook(before_step)
    optimizer.register_step_post_hook(after_step)
    for batch, (x, y) in enumerate(fresh.loader, 1):
        largest, largest_name = _largest(_named_parameters(fresh))
        bad_inputs = not bool(np.isfinite(x).all())
        loss = fresh.engine.train_step(x, y, optimizer)
        if not math.isfinite(loss):
            return Finding("loss", batch, "", loss, largest, largest_name, bad_inputs)
        for what in ("gradient", "parameter"):
            if what in seen:
                name, value = seen[what]
                return Finding(what, batch, name, value, largest, largest_name, bad_inputs)
        if batch >= last_batch:
            break
    return None


def likely_cause(config: TrainConfig, finding: Finding | None) -> str:
    """The setting most likely to blame, and what to change."""
    lr = config.learning_rate
    decay = config.weight_decay or 0.0
    if finding is not None and finding.bad_inputs:
        return "the batch's inputs hold inf or NaN: the data itself is bad"
    if config.optimizer == "momentum" and config.momentum >= 1:
        return (
            f"--momentum {config.momentum:g} is >= 1, so the momentum buffer grows without "
            "bound: use a momentum below 1, such as 0.9"
        )
    if decay and abs(1 - lr * decay) > 1 and config.optimizer != "adam":
        return (
            f"--weight-decay {decay:g} with --lr {lr:g} scales the weights by "
            f"1 - lr * weight_decay = {1 - lr * decay:.3g} each step, which grows them: "
            "lower --weight-decay (lr * weight_decay well below 1)"
        )
    if finding is None or finding.what == "parameter" or finding.largest > GROWN:
        grown = (
            ""
            if finding is None
            else f" (the weights had grown to |{finding.largest_name}| = {finding.largest:.3g})"
        )
        return f"the learning rate {lr:g} is too large for this model{grown}: lower --lr"
    return (
        f"the weights are moderate (largest |{finding.largest_name}| = "
        f"{finding.largest:.3g}), so the {config.dtype} arithmetic overflowed in the "
        "model or the loss: check the data's scale, or use --dtype float64"
    )


def explain_blowup(
    trainer: Trainer, epoch: int, batch: int, loss: float, *, validation: bool = False
) -> str:
    """The message for a loss that became non-finite on `batch` of `epoch`, or with
    `validation`, for validation logits that did after `epoch`, whose last batch is `batch`
    (every training loss finite)."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        # The replay looks for the non-finite values itself; NumPy's warnings would repeat
        # the run's.
        finding = replay_epoch(trainer, epoch, batch)
    if finding is None and validation:
        first = (
            f"the validation logits became non-finite after epoch {epoch}, its training "
            f"losses finite (a watched replay of the epoch found no non-finite weight, so "
            f"the {trainer.config.dtype} forward pass overflowed)"
        )
    elif finding is None:
        first = (
            f"the loss became {loss} on batch {batch} of epoch {epoch} (a watched replay "
            "of the epoch did not reproduce it, so what failed first is unknown)"
        )
    elif finding.what == "loss":
        first = (
            f"the loss became {finding.value} on batch {finding.batch} of epoch {epoch}, "
            "the first non-finite value (the weights were finite)"
        )
    elif finding.what == "gradient":
        first = (
            f"the gradient of {finding.name} became {finding.value} on batch "
            f"{finding.batch} of epoch {epoch} while the loss was finite"
        )
    else:
        first = (
            f"{finding.name} became {finding.value} after the optimizer step on batch "
            f"{finding.batch} of epoch {epoch}, with a finite loss and gradients"
        )
    return f"train: {first}; likely cause: {likely_cause(trainer.config, finding)}"
