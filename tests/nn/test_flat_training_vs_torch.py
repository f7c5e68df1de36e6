"""Training a model with a shared sub-module and a tied weight, its parameters in flat
buffers or not, against the same model in torch: five optimizer steps with an event at the
third (a state loaded, a layer frozen, `.data` replaced, an init, a re-flatten, a deep copy
or a pickle trained on its own) must leave both libraries' parameters equal in float64.
Every event is one where a stale copy of a flat buffer would show."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from chainrule import nn, optim

STEPS, EVENT_STEP = 5, 2


class Net(nn.Module):
    """a -> b -> b again (shared) -> tied (b's weight) -> c, plus a free bias."""

    def __init__(self, rng: np.random.Generator) -> None:
        super().__init__()
        self.a = nn.Linear(4, 5, rng=rng, dtype=np.float64)
        self.b = nn.Linear(5, 5, rng=rng, dtype=np.float64)
        self.c = nn.Linear(5, 3, rng=rng, dtype=np.float64)
        self.b_again = self.b
        self.tied = nn.Linear(5, 5, bias=False, rng=rng, dtype=np.float64)
        self.tied.weight = self.b.weight
        self.out_bias = nn.Parameter(rng.standard_normal(3))

    def forward(self, x: Any) -> Any:
        hidden = self.b_again(self.b(self.a(x).tanh()).tanh()).tanh()
        return self.c(self.tied(hidden).tanh()) + self.out_bias


class TorchNet(torch.nn.Module):
    """`Net` in torch, starting from `ours`'s values (Linear weights transposed)."""

    def __init__(self, ours: Net) -> None:
        super().__init__()
        self.a = torch.nn.Linear(4, 5, dtype=torch.float64)
        self.b = torch.nn.Linear(5, 5, dtype=torch.float64)
        self.c = torch.nn.Linear(5, 3, dtype=torch.float64)
        self.b_again = self.b
        self.tied = torch.nn.Linear(5, 5, bias=False, dtype=torch.float64)
        self.tied.weight = self.b.weight
        self.out_bias = torch.nn.Parameter(torch.tensor(ours.out_bias.data))
        with torch.no_grad():
            for name in "abc":
                layer = getattr(ours, name)
                getattr(self, name).weight.copy_(torch.tensor(layer.weight.data.T))
                getattr(self, name).bias.copy_(torch.tensor(layer.bias.data))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.b_again(self.b(self.a(x).tanh()).tanh()).tanh()
        return self.c(self.tied(hidden).tanh()) + self.out_bias


OPTIMIZERS: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
    "sgd": (
        lambda params: optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=0.01),
        lambda params: torch.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=0.01),
    ),
    "adamw": (
        lambda params: optim.AdamW(params, lr=0.05, weight_decay=0.1),
        lambda params: torch.optim.AdamW(params, lr=0.05, weight_decay=0.1),
    ),
}


def _load_other(ours: Net, theirs: TorchNet) -> None:
    other = Net(np.random.default_rng(7))
    ours.load_state_dict(other.state_dict())
    theirs.load_state_dict(TorchNet(other).state_dict())


def _freeze_first(ours: Net, theirs: TorchNet) -> None:
    ours.a.requires_grad_(False)
    theirs.a.requires_grad_(False)


def _replace_data(ours: Net, theirs: TorchNet) -> None:
    values = np.random.default_rng(3).standard_normal((4, 5))
    ours.a.weight.data = values.copy()
    theirs.a.weight.data = torch.tensor(values.T.copy())


def _init_constant(ours: Net, theirs: TorchNet) -> None:
    nn.init.constant_(ours.a.weight, 0.1)
    torch.nn.init.constant_(theirs.a.weight, 0.1)


def _load_float32(ours: Net, theirs: TorchNet) -> None:
    state = ours.state_dict()
    state["a.weight"] = state["a.weight"].astype(np.float32)  # cast back on loading
    ours.load_state_dict(state)
    torch_state = {key: value.clone() for key, value in theirs.state_dict().items()}
    torch_state["a.weight"] = torch_state["a.weight"].float()
    theirs.load_state_dict(torch_state)


EVENTS: dict[str, Callable[[Net, TorchNet], None] | None] = {
    "none": None,
    "load_state_dict": _load_other,
    "load_float32_state": _load_float32,
    "freeze": _freeze_first,
    "replace_data": _replace_data,
    "init_constant": _init_constant,
    "flatten_again": lambda ours, _: ours.flatten_parameters() and None,
}


def _assert_same(ours: Net, theirs: TorchNet) -> None:
    for name in "abc":
        mine, reference = getattr(ours, name), getattr(theirs, name)
        np.testing.assert_allclose(
            mine.weight.data, reference.weight.detach().numpy().T, rtol=1e-12, atol=1e-13
        )
        np.testing.assert_allclose(
            mine.bias.data, reference.bias.detach().numpy(), rtol=1e-12, atol=1e-13
        )
    np.testing.assert_allclose(
        ours.out_bias.data, theirs.out_bias.detach().numpy(), rtol=1e-12, atol=1e-13
    )


@pytest.mark.parametrize("event", list(EVENTS))
@pytest.mark.parametrize("flat", ["not_flat", "flat_before_optimizer", "flat_after_optimizer"])
@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
@pytest.mark.parametrize("set_to_none", [True, False], ids=["grad_none", "grad_zeroed"])
def test_training_with_an_event_matches_torch(
    optimizer: str, flat: str, event: str, set_to_none: bool
) -> None:
    rng = np.random.default_rng(1)
    ours = Net(rng)
    theirs = TorchNet(ours)
    x = rng.standard_normal((6, 4))
    if flat == "flat_before_optimizer":
        ours.flatten_parameters()
    make_ours, make_theirs = OPTIMIZERS[optimizer]
    our_optimizer, their_optimizer = make_ours(ours.parameters()), make_theirs(theirs.parameters())
    if flat == "flat_after_optimizer":
        ours.flatten_parameters()
    change = EVENTS[event]
    for step in range(STEPS):
        if step == EVENT_STEP and change is not None:
            change(ours, theirs)
        our_optimizer.zero_grad(set_to_none=set_to_none)
        their_optimizer.zero_grad(set_to_none=set_to_none)
        (ours(x) ** 2).mean().backward()
        (theirs(torch.tensor(x)) ** 2).mean().backward()
        our_optimizer.step()
        their_optimizer.step()
    _assert_same(ours, theirs)


@pytest.mark.parametrize("duplicate", ["deepcopy", "pickle"])
def test_a_copy_of_a_flat_model_trains_apart_from_the_original(duplicate: str) -> None:
    rng = np.random.default_rng(1)
    ours = Net(rng)
    theirs = TorchNet(ours)
    ours.flatten_parameters()
    x = rng.standard_normal((6, 4))
    pairs = [(ours, theirs)]
    optimizers = [(optim.SGD(ours.parameters(), lr=0.1), torch.optim.SGD(theirs.parameters(), 0.1))]
    for step in range(STEPS):
        if step == EVENT_STEP:
            copied = (
                copy.deepcopy(ours) if duplicate == "deepcopy" else pickle.loads(pickle.dumps(ours))
            )
            their_copy = copy.deepcopy(theirs)
            pairs.append((copied, their_copy))
            optimizers.append(
                (
                    optim.SGD(copied.parameters(), lr=0.1),
                    torch.optim.SGD(their_copy.parameters(), 0.1),
                )
            )
        for (mine, reference), (my_optimizer, their_optimizer) in zip(
            pairs, optimizers, strict=True
        ):
            my_optimizer.zero_grad()
            their_optimizer.zero_grad()
            (mine(x) ** 2).mean().backward()
            (reference(torch.tensor(x)) ** 2).mean().backward()
            my_optimizer.step()
            their_optimizer.step()
    for mine, reference in pairs:
        _assert_same(mine, reference)


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
def test_flattening_between_backward_and_step_keeps_the_gradients(optimizer: str) -> None:
    rng = np.random.default_rng(1)
    ours = Net(rng)
    theirs = TorchNet(ours)
    x = rng.standard_normal((6, 4))
    make_ours, make_theirs = OPTIMIZERS[optimizer]
    our_optimizer, their_optimizer = make_ours(ours.parameters()), make_theirs(theirs.parameters())
    for step in range(STEPS):
        our_optimizer.zero_grad()
        their_optimizer.zero_grad()
        (ours(x) ** 2).mean().backward()
        (theirs(torch.tensor(x)) ** 2).mean().backward()
        if step in (0, EVENT_STEP):  # the gradients move into the flat buffer's slots
            ours.flatten_parameters()
        our_optimizer.step()
        their_optimizer.step()
    _assert_same(ours, theirs)
