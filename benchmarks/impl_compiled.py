"""chainrule.compile: the nn + optim step of impl_nn_optim, traced on its first call and
replayed afterwards as a flat list of NumPy calls (forward, backward and the SGD update).
The data arrive as arguments, so every replay reads the same inputs the trace saw.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import chainrule as cr
from impl_nn_optim import build
from workloads import Problem


def compiled_step(problem: Problem) -> tuple[Any, Callable[[], cr.Tensor], list[Any]]:
    """The compiled SGD step, a call of it on the problem's data, and that data."""
    model, loss_fn, optimizer, x, targets = build(problem)

    @cr.compile
    def train_step(inputs: Any, labels: Any) -> cr.Tensor:
        optimizer.zero_grad()
        loss: cr.Tensor = loss_fn(model(inputs), labels)
        loss.backward()
        optimizer.step()
        return loss

    return train_step, lambda: train_step(x, targets), [x, targets]


def make_step(problem: Problem) -> Callable[[], cr.Tensor]:
    """One compiled SGD step, returning the loss tensor (before the update)."""
    return compiled_step(problem)[1]
