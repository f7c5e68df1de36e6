"""StepLR and CosineAnnealingLR: the lr sequence PyTorch gives, state dicts, errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from chainrule import nn, optim


def _lr_sequence(module: Any, schedule: Callable[[Any], Any], epochs: int) -> list[float]:
    """The lr of the first group at construction and after each of `epochs` steps."""
    if module is optim:
        optimizer = optim.SGD([nn.Parameter(np.zeros(1))], lr=0.5, momentum=0.9)
    else:
        optimizer = module.optim.SGD([module.nn.Parameter(module.zeros(1))], lr=0.5, momentum=0.9)
    scheduler = schedule(optimizer)
    lrs = [optimizer.param_groups[0]["lr"]]
    for _ in range(epochs):
        optimizer.step()
        scheduler.step()
        lrs.append(optimizer.param_groups[0]["lr"])
        assert scheduler.get_last_lr() == [lrs[-1]]
    return lrs


def test_step_lr_matches_torch_exactly(torch: ModuleType) -> None:
    ours = _lr_sequence(optim, lambda o: optim.StepLR(o, 3, gamma=0.3), 20)
    theirs = _lr_sequence(torch, lambda o: torch.optim.lr_scheduler.StepLR(o, 3, gamma=0.3), 20)
    assert ours == theirs


@pytest.mark.parametrize("eta_min", [0.0, 0.01])
def test_cosine_matches_torch_over_three_cycles(torch: ModuleType, eta_min: float) -> None:
    ours = _lr_sequence(optim, lambda o: optim.CosineAnnealingLR(o, 7, eta_min=eta_min), 42)
    theirs = _lr_sequence(
        torch, lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 7, eta_min=eta_min), 42
    )
    np.testing.assert_allclose(np.array(ours), np.array(theirs), rtol=1e-12, atol=1e-15)


def test_cosine_reaches_eta_min_at_t_max() -> None:
    lrs = _lr_sequence(optim, lambda o: optim.CosineAnnealingLR(o, 4, eta_min=0.1), 4)
    assert lrs[0] == 0.5
    assert lrs[4] == pytest.approx(0.1, rel=1e-15)


@pytest.mark.parametrize(
    "make",
    [lambda o: optim.StepLR(o, 2, gamma=0.5), lambda o: optim.CosineAnnealingLR(o, 5)],
    ids=["step", "cosine"],
)
def test_state_dict_through_json_continues_identically(make: Callable[[Any], Any]) -> None:
    first = optim.SGD([nn.Parameter(np.zeros(1))], lr=0.5)
    scheduler = make(first)
    for _ in range(3):
        scheduler.step()
    second = optim.SGD([nn.Parameter(np.zeros(1))], lr=0.5)
    resumed = make(second)
    second.load_state_dict(first.state_dict())
    resumed.load_state_dict(json.loads(json.dumps(scheduler.state_dict())))
    for _ in range(4):
        scheduler.step()
        resumed.step()
        assert resumed.get_last_lr() == scheduler.get_last_lr()
        assert second.param_groups[0]["lr"] == first.param_groups[0]["lr"]


def test_load_state_dict_rejects_another_schedule() -> None:
    optimizer = optim.SGD([nn.Parameter(np.zeros(1))], lr=0.5)
    saved = optim.CosineAnnealingLR(optimizer, 5).state_dict()
    with pytest.raises(ValueError, match=r"unexpected keys \['T_max', 'eta_min'\]"):
        optim.StepLR(optimizer, 2).load_state_dict(saved)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda o: optim.StepLR(o, 0), "step_size must be a positive integer"),
        (lambda o: optim.CosineAnnealingLR(o, 2.5), "T_max must be a positive integer"),
        (lambda o: optim.StepLR(object(), 2), "expected a chainrule.optim optimizer"),
    ],
    ids=["step_size", "T_max", "optimizer"],
)
def test_invalid_arguments_are_named(make: Callable[[Any], Any], message: str) -> None:
    optimizer = optim.SGD([nn.Parameter(np.zeros(1))], lr=0.5)
    with pytest.raises((ValueError, TypeError), match=message):
        make(optimizer)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("gamma", -0.5, "gamma must be"),
        ("step_size", 0, "step_size must be a positive integer"),
        ("last_epoch", "3", "last_epoch must be an integer"),
        ("last_epoch", -2, "last_epoch must be 0 or more"),
        # A bare "'float' object is not iterable"; a string became get_last_lr()'s ['x'].
        ("base_lrs", 0.9, "base_lrs must be a list of lrs"),
        ("_last_lr", "x", "_last_lr must be a list of lrs"),
        ("_last_lr", [float("nan")], "_last_lr entry must be a finite number"),
    ],
)
def test_a_refused_schedule_state_leaves_the_schedule_untouched(
    key: str, value: Any, message: str
) -> None:
    # Every saved entry was set before the settings were checked, so a refused state left
    # the schedule half loaded (a new last_epoch and base_lrs beside the old step_size).
    optimizer = optim.SGD([nn.Parameter(np.zeros(1))], lr=0.5)
    scheduler = optim.StepLR(optimizer, 2, gamma=0.5)
    scheduler.step()
    before = scheduler.state_dict()
    other = optim.StepLR(optim.SGD([nn.Parameter(np.zeros(1))], lr=0.9), 3, gamma=0.1)
    for _ in range(4):
        other.step()
    state = other.state_dict()
    state[key] = value
    with pytest.raises((TypeError, ValueError), match=message):
        scheduler.load_state_dict(state)
    assert scheduler.state_dict() == before
