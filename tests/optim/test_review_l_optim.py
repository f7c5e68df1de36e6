"""Adversarial review (review-l) of chainrule.optim against torch 2.13: each case here was
a silent wrong result, or its sibling, compared side by side in float64."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from chainrule import nn, optim
from chainrule.nn.flat import flatten_parameters

pytestmark = pytest.mark.torch

Chain = Sequence[Callable[[Any, Any], Any]]

CHAINS: dict[str, Chain] = {
    "step-then-cosine": [
        lambda m, o: m.StepLR(o, 4, gamma=0.5),
        lambda m, o: m.CosineAnnealingLR(o, 10, eta_min=0.001),
    ],
    "cosine-then-step": [
        lambda m, o: m.CosineAnnealingLR(o, 7, eta_min=0.01),
        lambda m, o: m.StepLR(o, 3, gamma=0.8),
    ],
}


def _chained_lrs(torch: ModuleType | None, chain: Chain, epochs: int) -> np.ndarray:
    """Both groups' lrs after each of `epochs` steps of every schedule in `chain`."""
    if torch is None:
        params = [nn.Parameter(np.zeros(2)), nn.Parameter(np.zeros(3))]
        module: Any = optim
        make_optimizer: Any = optim.SGD
    else:
        params = [torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(3))]
        module = torch.optim.lr_scheduler
        make_optimizer = torch.optim.SGD
    optimizer = make_optimizer(
        [{"params": [params[0]]}, {"params": [params[1]], "lr": 0.5}], lr=0.1, momentum=0.9
    )
    schedules = [make(module, optimizer) for make in chain]
    lrs = []
    for _ in range(epochs):
        optimizer.step()
        for schedule in schedules:
            schedule.step()
        lrs.append([group["lr"] for group in optimizer.param_groups])
        assert schedules[-1].get_last_lr() == lrs[-1]
    return np.array(lrs)


@pytest.mark.parametrize("name", list(CHAINS))
def test_cosine_chained_with_step_lr_follows_torch(torch: ModuleType, name: str) -> None:
    # The cosine schedule was a closed form of the epoch alone, so a StepLR chained with it
    # was silently undone at every step; torch's is recursive in the group's current lr.
    ours = _chained_lrs(None, CHAINS[name], 30)
    theirs = _chained_lrs(torch, CHAINS[name], 30)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=0)


def test_cosine_follows_an_lr_changed_by_hand_as_torch(torch: ModuleType) -> None:
    ours_param, their_param = nn.Parameter(np.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    ours = optim.SGD([ours_param], lr=0.4)
    theirs = torch.optim.SGD([their_param], lr=0.4)
    our_schedule = optim.CosineAnnealingLR(ours, 6, eta_min=0.05)
    their_schedule = torch.optim.lr_scheduler.CosineAnnealingLR(theirs, 6, eta_min=0.05)
    got, want = [], []
    for epoch in range(20):
        if epoch == 3:
            ours.param_groups[0]["lr"] = theirs.param_groups[0]["lr"] = 0.2
        ours.step()
        theirs.step()
        our_schedule.step()
        their_schedule.step()
        got.append(ours.param_groups[0]["lr"])
        want.append(theirs.param_groups[0]["lr"])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)


def _chain_resumed(chain: Chain, epochs: int, resume_at: int) -> np.ndarray:
    """_chained_lrs(None, ...) with the optimizer and every schedule rebuilt after
    `resume_at` epochs from their state dicts."""
    params = [nn.Parameter(np.zeros(2)), nn.Parameter(np.zeros(3))]

    def build() -> tuple[optim.SGD, list[Any]]:
        optimizer = optim.SGD(
            [{"params": [params[0]]}, {"params": [params[1]], "lr": 0.5}], lr=0.1, momentum=0.9
        )
        return optimizer, [make(optim, optimizer) for make in chain]

    optimizer, schedules = build()
    lrs = []
    for epoch in range(epochs):
        if epoch == resume_at:
            saved = optimizer.state_dict(), [schedule.state_dict() for schedule in schedules]
            optimizer, schedules = build()
            optimizer.load_state_dict(saved[0])
            for schedule, state in zip(schedules, saved[1], strict=True):
                schedule.load_state_dict(state)
        optimizer.step()
        for schedule in schedules:
            schedule.step()
        lrs.append([group["lr"] for group in optimizer.param_groups])
    return np.array(lrs)


@pytest.mark.parametrize("resume_at", [5, 11])
def test_a_chained_schedule_resumed_from_its_state_follows_torchs_uninterrupted_one(
    torch: ModuleType, resume_at: int
) -> None:
    chain = CHAINS["step-then-cosine"]
    np.testing.assert_allclose(
        _chain_resumed(chain, 30, resume_at), _chained_lrs(torch, chain, 30), rtol=1e-12, atol=0
    )


# ------------------------------------------------- optimizers (ported from torch's test_optim)
SETTINGS: dict[str, tuple[str, dict[str, Any]]] = {
    "sgd-nesterov": ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    "sgd-dampened-maximize": (
        "SGD",
        {"lr": 0.1, "momentum": 0.5, "dampening": 0.3, "maximize": True},
    ),
    "adam-amsgrad": ("Adam", {"lr": 0.01, "amsgrad": True, "eps": 1e-3}),
    "adamw-maximize": ("AdamW", {"lr": 0.01, "maximize": True, "betas": (0.5, 0.9)}),
}
SHAPES = [(3, 4), (4,), (2, 2), (5,)]
NO_GRAD = {(1, 0), (2, 3), (3, 3), (5, 1)}  # (step, parameter) pairs left without a gradient


def _gradients(steps: int) -> list[list[np.ndarray | None]]:
    rng = np.random.default_rng(3)
    return [
        [None if (step, i) in NO_GRAD else rng.standard_normal(s) for i, s in enumerate(SHAPES)]
        for step in range(steps)
    ]


def _groups(params: list[Any]) -> list[dict[str, Any]]:
    """Two groups with their own lr and weight decay."""
    return [
        {"params": params[:2]},
        {"params": params[2:], "lr": 0.03, "weight_decay": 0.1},
    ]


def _our_run(name: str, flat: bool, steps: int, resume_at: int | None = None) -> Any:
    kind, options = SETTINGS[name]
    rng = np.random.default_rng(4)
    params = [nn.Parameter(rng.standard_normal(shape)) for shape in SHAPES]
    if flat:
        flatten_parameters(params)
    optimizer = getattr(optim, kind)(_groups(params), **options)
    for step, grads in enumerate(_gradients(steps)):
        if step == resume_at:
            saved = optimizer.state_dict()
            optimizer = getattr(optim, kind)(_groups(params), **options)
            optimizer.load_state_dict(saved)
        for param in params:
            param.grad = None
        # Through backward, so that on flat buffers the gradients land in their slots.
        terms = [(p * g).sum() for p, g in zip(params, grads, strict=True) if g is not None]
        sum(terms[1:], terms[0]).backward()
        optimizer.step()
    return params, optimizer


@pytest.mark.parametrize("flat", [False, True], ids=["per-parameter", "flat"])
@pytest.mark.parametrize("name", list(SETTINGS))
def test_parameters_without_a_gradient_are_skipped_as_torch(
    torch: ModuleType, name: str, flat: bool
) -> None:
    # No state made and no step counted for a parameter while its grad is None; each group
    # with its own hyperparameters; compared after every one of 8 steps' worth of updates.
    kind, options = SETTINGS[name]
    params, optimizer = _our_run(name, flat, 8)
    rng = np.random.default_rng(4)
    theirs = [torch.nn.Parameter(torch.tensor(rng.standard_normal(s))) for s in SHAPES]
    reference = getattr(torch.optim, kind)(_groups(theirs), **options)
    for grads in _gradients(8):
        for param, grad in zip(theirs, grads, strict=True):
            param.grad = None if grad is None else torch.tensor(grad)
        reference.step()
    for mine, their in zip(params, theirs, strict=True):
        np.testing.assert_allclose(mine.numpy(), their.detach().numpy(), rtol=1e-13, atol=1e-15)
        state, their_state = optimizer.state.get(mine, {}), reference.state.get(their, {})
        if "step" in their_state:
            assert state["step"] == int(their_state["step"])
        for key in ("momentum_buffer", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
            if key in their_state:
                np.testing.assert_allclose(
                    state[key], their_state[key].numpy(), rtol=1e-12, atol=1e-15
                )
    steps = [optimizer.state[p]["step"] for p in params] if kind != "SGD" else None
    assert steps in (None, [7, 7, 8, 6])


@pytest.mark.parametrize("resume_at", [2, 4])
@pytest.mark.parametrize("flat", [False, True], ids=["per-parameter", "flat"])
@pytest.mark.parametrize("name", list(SETTINGS))
def test_state_saved_mid_training_continues_bit_for_bit(
    name: str, flat: bool, resume_at: int
) -> None:
    # Saved when the parameters' step counts differ (skipped gradients), the state reloads
    # into a fresh optimizer whose updates are exactly the uninterrupted one's.
    uninterrupted, _ = _our_run(name, flat, 8)
    resumed, _ = _our_run(name, flat, 8, resume_at=resume_at)
    for first, second in zip(uninterrupted, resumed, strict=True):
        np.testing.assert_array_equal(first.numpy(), second.numpy())
