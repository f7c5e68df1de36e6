"""chainrule.compile(backend="xla"): the nn + optim step of impl_nn_optim, traced on its first
call and run afterwards as one jitted JAX function of chainrule's own rules (forward, the
recorded backward sweep, the SGD update), the parameters written back after each call. The
data are passed as JAX arrays, made once, as impl_jax holds them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax.numpy as jnp

import chainrule as cr
from impl_nn_optim import build
from workloads import Problem


def make_step(problem: Problem) -> Callable[[], cr.Tensor]:
    """One compiled SGD step, returning the loss tensor (before the update)."""
    model, loss_fn, optimizer, _, _ = build(problem)
    x, targets = jnp.asarray(problem.x), jnp.asarray(problem.targets)

    def train_step(inputs: Any, labels: Any) -> cr.Tensor:
        optimizer.zero_grad()
        loss: cr.Tensor = loss_fn(model(cr.tensor(inputs)), labels)
        loss.backward()
        optimizer.step()
        return loss

    compiled = cr.compile(train_step, backend="xla")

    def step() -> cr.Tensor:
        return compiled(x, targets)

    return step
