"""Training diagnostics: per-layer gradient norms and dead-ReLU fractions of a `Sequential`
model, as JSON-ready numbers for each epoch and as a two-panel plot (`gradients.png`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.modes import no_grad
from chainrule.nn import Module, ReLU, Sequential
from chainrule.tensor import as_tensor

EpochDiagnostics = dict[str, dict[str, float]]
"""{"grad_norm": {layer: norm}, "dead_relu": {relu: fraction}} for one epoch."""


def gradient_norms(model: Module) -> dict[str, float]:
    """The gradient norm of each layer: sqrt(sum over its parameters p of ||dloss/dp||^2).

    Layers are the model's direct children ("0", "2", ... for a `Sequential`), or the model
    itself ("") when it has none; parameters whose `.grad` is None (no backward yet) count 0,
    and layers without parameters are left out.
    """
    layers = list(model.named_children()) or [("", model)]
    norms: dict[str, float] = {}
    for name, layer in layers:
        params = list(layer.parameters())
        if not params:
            continue
        squares = sum(float(np.sum(np.square(p.grad.data, dtype=np.float64)))
                      for p in params if p.grad is not None)
        norms[name] = float(np.sqrt(squares))
    return norms


def dead_relu_fractions(model: Sequential, x: Any) -> dict[str, float]:
    """For each `ReLU` in `model` (by its name), the fraction of its units dead on batch `x`:
    a unit is dead when its input is <= 0 for every example, so no gradient reaches the
    layers before it through that unit.

    The layers are run one by one on `x` under `no_grad`; units are the entries of one
    example (everything but axis 0).
    """
    if not isinstance(model, Sequential):
        raise TypeError(f"dead_relu_fractions: model must be a chainrule.nn.Sequential, got "
                        f"{type(model).__name__}; wrap the layers in Sequential(...)")
    fractions: dict[str, float] = {}
    activations = as_tensor(x)
    if activations.ndim < 1 or activations.shape[0] == 0:
        raise ValueError(f"dead_relu_fractions: x must be a non-empty batch (N, ...), got "
                         f"shape {activations.shape}")
    with no_grad():
        for name, layer in model.named_children():
            if isinstance(layer, ReLU):
                alive = np.any(activations.data > 0, axis=0)
                fractions[name] = float(1.0 - np.mean(alive))
            activations = layer(activations)
    return fractions


def epoch_diagnostics(model: Sequential, x: Any) -> EpochDiagnostics:
    """Both statistics for one epoch: gradient norms from the model's current `.grad`s
    (call after the last backward of the epoch) and dead-ReLU fractions on the batch `x`."""
    return {"grad_norm": gradient_norms(model), "dead_relu": dead_relu_fractions(model, x)}


def plot_diagnostics(history: Sequence[Mapping[str, Mapping[str, float]]],
                     path: str | Path) -> Path:
    """Plot `history` (one `epoch_diagnostics` per epoch) to `path` (e.g. gradients.png),
    creating its folder: gradient norm per layer (log scale) and dead-ReLU fraction per ReLU
    against the epoch. Returns the path written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not history:
        raise ValueError("plot_diagnostics: history is empty; record epoch_diagnostics(...) "
                         "for at least one epoch")
    epochs = np.arange(1, len(history) + 1)
    figure, (norm_axes, dead_axes) = plt.subplots(1, 2, figsize=(10, 4))
    for panel, key, title, label in (
            (norm_axes, "grad_norm", "gradient norm per layer", "layer"),
            (dead_axes, "dead_relu", "dead ReLU units (fraction)", "ReLU")):
        names = list(dict.fromkeys(name for epoch in history for name in epoch.get(key, {})))
        for name in names:
            values = [epoch.get(key, {}).get(name, np.nan) for epoch in history]
            panel.plot(epochs, values, marker="o", label=f"{label} {name}")
        panel.set_title(title)
        panel.set_xlabel("epoch")
        if names:
            panel.legend()
    if any(value > 0 for epoch in history for value in epoch.get("grad_norm", {}).values()):
        norm_axes.set_yscale("log")
    dead_axes.set_ylim(-0.02, 1.02)
    figure.tight_layout()
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, dpi=100)
    plt.close(figure)
    return target
