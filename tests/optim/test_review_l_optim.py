"""Adversarial review (review-l) of chainrule.optim against torch 2.13: each case here was
a silent wrong result, or its sibling, compared side by side in float64."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from chainrule import nn, optim

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
