"""Training diagnostics: per-layer gradient norms and dead-ReLU fractions of a Linear/ReLU
stack (`chainrule.nn.Sequential` or the hand-derived `chainrule.manual.Sequential`), as
JSON-ready numbers for each epoch and as a two-panel plot (`gradients.png`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from chainrule import manual
from chainrule.modes import no_grad
from chainrule.nn import Linear, Module, ReLU, Sequential
from chainrule.tensor import as_tensor

EpochDiagnostics = dict[str, dict[str, float]]
"""{"grad_norm": {layer: norm}, "dead_relu": {relu: fraction}} for one epoch."""

Network = Module | manual.Sequential
"""A model the diagnostics read: an autograd module or a stack of hand-derived layers."""


def _positions(model: Module) -> list[tuple[str, Module]]:
    """Every (name, sub-module) registered on `model`, in order: a module registered under
    two names (one ReLU used twice in a Sequential) at each, as the Sequential runs it
    (`named_children`, as torch's, lists it once)."""
    return [(name, module) for name, module in model._modules.items() if module is not None]


def _squared_norm(array: np.ndarray) -> float:
    """sum(array ** 2), without a temporary the size of `array`."""
    return float(np.vdot(array, array))


def _layer_gradients(network: Network) -> Iterator[tuple[str, list[np.ndarray]]]:
    """(layer name, its parameters' gradient arrays) for each layer that has parameters;
    a gradient not computed yet is left out of the list."""
    if isinstance(network, manual.Sequential):
        for index, layer in enumerate(network.layers):
            if not layer.parameters():
                continue
            try:
                gradients = list(layer.gradients().values())
            except RuntimeError:  # no backward yet: manual layers then have no gradients
                gradients = []
            yield str(index), gradients
        return
    for name, module in list(network.named_children()) or [("", network)]:
        params = list(module.parameters())
        if params:
            yield name, [p.grad.data for p in params if p.grad is not None]


def gradient_norms(model: Network) -> dict[str, float]:
    """The gradient norm of each layer: sqrt(sum over its parameters p of ||dloss/dp||^2).

    Layers are the model's direct children ("0", "2", ... for a `Sequential`, by position
    for a `manual.Sequential`), or the model itself ("") when it has none; parameters
    without a gradient (no backward yet) count 0, and layers without parameters are left out.
    """
    return {
        name: float(np.sqrt(sum(_squared_norm(grad) for grad in gradients)))
        for name, gradients in _layer_gradients(model)
    }


def _relu_inputs(model: Network, x: Any) -> Iterator[tuple[str, np.ndarray]]:
    """(name, input batch) of each ReLU as `model` runs forward on `x`, without recording a
    graph; an autograd module runs in evaluation mode (dropout off, no random draws) and is
    put back in the mode it was in. A manual stack overwrites what its layers saved for
    backward, so call this between training steps, not inside one."""
    if isinstance(model, manual.Sequential):
        return _manual_relu_inputs(model, np.asarray(x))
    if not isinstance(model, Sequential):
        raise TypeError(
            f"dead_relu_fractions: model must be a chainrule.nn.Sequential or a "
            f"chainrule.manual.Sequential, got {type(model).__name__}; wrap the "
            f"layers in Sequential(...)"
        )
    return _module_relu_inputs(model, x)


def _manual_relu_inputs(
    model: manual.Sequential, x: np.ndarray
) -> Iterator[tuple[str, np.ndarray]]:
    for index, layer in enumerate(model.layers):
        if isinstance(layer, manual.ReLU):
            yield str(index), x
        x = layer.forward(x)


def _module_relu_inputs(model: Sequential, x: Any) -> Iterator[tuple[str, np.ndarray]]:
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            activations = as_tensor(x)
            for name, module in _positions(model):
                if isinstance(module, ReLU):
                    yield name, activations.data
                activations = module(activations)
    finally:
        model.train(was_training)


def dead_relu_fractions(model: Network, x: Any) -> dict[str, float]:
    """For each ReLU in `model` (by its name, e.g. "1"), the fraction of its units dead on
    batch `x`: a unit is dead when its input is <= 0 for every example, so no gradient
    reaches the layers before it through that unit.

    Units are the entries of one example (everything but axis 0). Nothing is trained and no
    random numbers are drawn (dropout is off while the batch runs).
    """
    if np.ndim(x) < 1 or np.shape(x)[0] == 0:
        raise ValueError(
            f"dead_relu_fractions: x must be a non-empty batch (N, ...), got shape {np.shape(x)}"
        )
    return {
        name: float(1.0 - np.mean(np.any(inputs > 0, axis=0)))
        for name, inputs in _relu_inputs(model, x)
    }


def epoch_diagnostics(model: Network, x: Any) -> EpochDiagnostics:
    """Both statistics for one epoch: gradient norms from the model's current gradients
    (call after the last backward of the epoch) and dead-ReLU fractions on the batch `x`."""
    return {"grad_norm": gradient_norms(model), "dead_relu": dead_relu_fractions(model, x)}


class GradientNormMean:
    """The mean over an epoch's steps of each layer's gradient norm: `add(model)` after every
    backward, `mean()` at the end of the epoch (then `reset()` for the next one)."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}
        self.steps = 0

    def add(self, model: Network) -> None:
        for name, norm in gradient_norms(model).items():
            self.totals[name] = self.totals.get(name, 0.0) + norm
        self.steps += 1

    def mean(self) -> dict[str, float]:
        if self.steps == 0:
            raise ValueError(
                "GradientNormMean.mean: no step was added; call add(model) after "
                "each backward of the epoch"
            )
        return {name: total / self.steps for name, total in self.totals.items()}

    def reset(self) -> None:
        self.totals, self.steps = {}, 0


def layer_labels(model: Network) -> dict[str, str]:
    """Legend names for the layers of a Linear/ReLU stack: {"0": "0: Linear 64→50",
    "1": "1: ReLU (50 units)", ...}; other layers get their class name."""
    layers: list[tuple[str, Any]] = (
        [(str(index), layer) for index, layer in enumerate(model.layers)]
        if isinstance(model, manual.Sequential)
        else _positions(model)
    )
    labels: dict[str, str] = {}
    width: int | None = None
    for name, layer in layers:
        kind = type(layer).__name__
        if isinstance(layer, (Linear, manual.Linear)):
            width = layer.out_features
            labels[name] = f"{name}: {kind} {layer.in_features}→{layer.out_features}"
        elif isinstance(layer, (ReLU, manual.ReLU)) and width is not None:
            labels[name] = f"{name}: {kind} ({width} units)"
        else:
            labels[name] = f"{name}: {kind}"
    return labels


def plot_diagnostics(
    history: Sequence[Mapping[str, Any]],
    path: str | Path,
    *,
    labels: Mapping[str, str] | None = None,
    norm_title: str = "gradient norm per layer",
    dead_title: str = "dead ReLU units",
) -> Path:
    """Plot `history` (per epoch, a mapping with "grad_norm" and "dead_relu" as
    `epoch_diagnostics` returns, and optionally "epoch") to `path` (e.g. gradients.png),
    creating its folder: gradient norm per layer (log scale) and the fraction of dead units
    per ReLU against the epoch. `labels` names layers in the legends (see `layer_labels`).
    Returns the path written."""
    from chainrule.train.plots import epoch_axis, new_figure, save_figure

    if not history:
        raise ValueError(
            "plot_diagnostics: history is empty; record epoch_diagnostics(...) "
            "for at least one epoch"
        )
    names_of = labels or {}
    epochs = [record.get("epoch", index + 1) for index, record in enumerate(history)]
    figure = new_figure(11.0, 4.2)
    norm_axes, dead_axes = figure.subplots(1, 2)
    for axes, key, title, ylabel in (
        (norm_axes, "grad_norm", norm_title, "‖dloss/d(weight, bias)‖"),
        (dead_axes, "dead_relu", dead_title, "fraction of units dead"),
    ):
        names = list(dict.fromkeys(name for record in history for name in record.get(key, {})))
        for name in names:
            values = [record.get(key, {}).get(name, np.nan) for record in history]
            axes.plot(
                epochs, values, marker="o", markersize=4, label=names_of.get(name, f"layer {name}")
            )
        axes.set_title(title, fontsize=10)
        epoch_axis(axes)
        axes.set_ylabel(ylabel)
        axes.grid(alpha=0.3)
        if names:
            axes.legend(fontsize=8)
    if any(value > 0 for record in history for value in record.get("grad_norm", {}).values()):
        norm_axes.set_yscale("log")
    dead_axes.set_ylim(-0.02, 1.02)
    figure.tight_layout()
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    save_figure(figure, target)
    return target
