"""Lockstep with PyTorch: the same MLP, initial weights and batches in float64 give the same
loss after each of 100 optimizer steps, to 1e-9 relative, for every optimizer."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from chainrule import nn, optim

SIZES = (64, 32, 16, 10)
STEPS = 100
BATCH_SIZE = 16

OPTIMIZERS: dict[str, Callable[[Any, Any], Any]] = {
    "sgd-momentum": lambda module, params: module.SGD(params, lr=0.05, momentum=0.9),
    "sgd-nesterov-weight-decay": lambda module, params: module.SGD(
        params, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3
    ),
    "sgd-dampening": lambda module, params: module.SGD(params, lr=0.2, momentum=0.5, dampening=0.3),
    "adam": lambda module, params: module.Adam(params, lr=3e-3),
    "adam-l2": lambda module, params: module.Adam(params, lr=3e-3, weight_decay=1e-2),
    "adamw": lambda module, params: module.AdamW(params, lr=3e-3, weight_decay=0.1),
}


def _mlp() -> nn.Sequential:
    rng = np.random.default_rng(11)
    layers: list[nn.Module] = []
    for in_features, out_features in itertools.pairwise(SIZES):
        layers += [nn.Linear(in_features, out_features, rng=rng, dtype=np.float64), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def _torch_copy(torch: ModuleType, model: nn.Sequential) -> Any:
    """The same network in PyTorch, whose Linear stores the weight transposed (out, in)."""
    layers: list[Any] = []
    for layer in model:
        if isinstance(layer, nn.Linear):
            linear = torch.nn.Linear(layer.in_features, layer.out_features, dtype=torch.float64)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(layer.weight.data.T.copy()))
                linear.bias.copy_(torch.from_numpy(layer.bias.data.copy()))
            layers.append(linear)
        else:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def _batches() -> tuple[np.ndarray, np.ndarray]:
    """Random inputs labelled by a fixed linear teacher, so there is something to learn."""
    rng = np.random.default_rng(5)
    inputs = rng.standard_normal((STEPS, BATCH_SIZE, SIZES[0]))
    teacher = rng.standard_normal((SIZES[0], SIZES[-1]))
    return inputs, np.argmax(inputs @ teacher, axis=-1)


def lockstep_losses(
    torch: ModuleType,
    name: str,
    table: dict[str, Callable[[Any, Any], Any]] = OPTIMIZERS,
    steps: int = STEPS,
    model: nn.Sequential | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(chainrule losses, PyTorch losses) over the first `steps` training steps with
    optimizer `name` of `table`, training `model` (by default a fresh `_mlp()`)."""
    model = _mlp() if model is None else model
    reference = _torch_copy(torch, model)
    optimizer = table[name](optim, model.parameters())
    torch_optimizer = table[name](torch.optim, reference.parameters())
    loss_fn, torch_loss_fn = nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()
    ours, theirs = np.empty(steps), np.empty(steps)
    inputs, labels = _batches()
    for step, (x, y) in enumerate(zip(inputs[:steps], labels[:steps], strict=True)):
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        ours[step] = loss.item()

        torch_optimizer.zero_grad()
        torch_loss = torch_loss_fn(reference(torch.from_numpy(x)), torch.from_numpy(y))
        torch_loss.backward()
        torch_optimizer.step()
        theirs[step] = torch_loss.item()
    return ours, theirs


@pytest.fixture(scope="module", params=list(OPTIMIZERS))
def losses(request: pytest.FixtureRequest, torch: ModuleType) -> tuple[np.ndarray, np.ndarray]:
    return lockstep_losses(torch, request.param)


def test_loss_matches_pytorch_at_every_step(losses: tuple[np.ndarray, np.ndarray]) -> None:
    ours, theirs = losses
    relative = np.abs(ours - theirs) / np.abs(theirs)
    assert ours.shape == theirs.shape == (STEPS,)
    assert relative.max() < 1e-9, f"largest relative difference {relative.max():.3g}"


def test_training_lowers_the_loss(losses: tuple[np.ndarray, np.ndarray]) -> None:
    ours, _ = losses
    assert ours[-10:].mean() < 0.9 * ours[:10].mean()


OPTIONS: dict[str, Callable[[Any, Any], Any]] = {
    "sgd-maximize": lambda module, params: module.SGD(params, lr=0.05, maximize=True),
    "sgd-maximize-momentum-decay": lambda module, params: module.SGD(
        params, lr=0.05, momentum=0.9, weight_decay=1e-3, maximize=True
    ),
    "sgd-maximize-nesterov-decay": lambda module, params: module.SGD(
        params, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3, maximize=True
    ),
    "adam-amsgrad-l2": lambda module, params: module.Adam(
        params, lr=3e-2, weight_decay=1e-2, amsgrad=True
    ),
    "adam-maximize-l2": lambda module, params: module.Adam(
        params, lr=3e-3, weight_decay=1e-2, maximize=True
    ),
    "adamw-amsgrad-maximize": lambda module, params: module.AdamW(
        params, lr=3e-3, weight_decay=0.1, amsgrad=True, maximize=True
    ),
}
"""PyTorch's `maximize` and `amsgrad` options, each with weight decay."""


@pytest.mark.parametrize("flat", [False, True], ids=["per-parameter", "flat"])
@pytest.mark.parametrize("name", list(OPTIONS))
def test_maximize_and_amsgrad_match_pytorch_for_twenty_steps(
    torch: ModuleType, name: str, flat: bool
) -> None:
    model = _mlp()
    if flat:
        model.flatten_parameters()
    ours, theirs = lockstep_losses(torch, name, OPTIONS, steps=20, model=model)
    relative = np.abs(ours - theirs) / np.abs(theirs)
    assert ours.shape == theirs.shape == (20,)
    assert relative.max() < 1e-9, f"largest relative difference {relative.max():.3g}"
    if "maximize" in name:  # ascending the loss, as asked
        assert ours[-5:].mean() > ours[:5].mean()
