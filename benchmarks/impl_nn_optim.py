"""chainrule nn + optim: `nn.Sequential` of `nn.Linear`/`nn.ReLU`, `nn.MSELoss` (W1) or
`nn.CrossEntropyLoss`, and `optim.SGD` with zero_grad(), backward(), step(), as a PyTorch user
writes the loop, with the parameters in one flat buffer (`model.flatten_parameters()`), so that
the optimizer steps them all at once. `nn.Linear` stores its weight (in, out), the workloads'
layout, so the initial parameters are the workload's arrays as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import chainrule as cr
from chainrule import nn, optim
from workloads import Problem


def build(problem: Problem) -> tuple[nn.Module, nn.Module, optim.SGD, Any, Any]:
    """The model, loss module, optimizer, inputs and targets, starting from the workload's
    parameters (shared with nothing else: fresh copies)."""
    weights, biases = problem.fresh_params()
    rng = np.random.default_rng(0)
    linears = []
    for w, b in zip(weights, biases, strict=True):
        linear = nn.Linear(w.shape[0], w.shape[1], rng=rng)
        linear.weight.data = w
        assert linear.bias is not None
        linear.bias.data = b
        linears.append(linear)
    hidden = [m for linear in linears[:-1] for m in (linear, nn.ReLU())]
    model = nn.Sequential(*hidden, linears[-1])
    model.flatten_parameters()
    loss_fn: nn.Module = nn.MSELoss() if problem.workload.loss == "mse" else nn.CrossEntropyLoss()
    optimizer = optim.SGD(model.parameters(), lr=problem.lr)
    x = cr.tensor(problem.x)
    targets = cr.tensor(problem.targets) if problem.workload.loss == "mse" else problem.targets
    return model, loss_fn, optimizer, x, targets


def make_step(problem: Problem) -> Callable[[], cr.Tensor]:
    """One SGD step through nn + optim, returning the loss tensor (before the update)."""
    model, loss_fn, optimizer, x, targets = build(problem)

    def step() -> cr.Tensor:
        optimizer.zero_grad()
        loss: cr.Tensor = loss_fn(model(x), targets)
        loss.backward()
        optimizer.step()
        return loss

    return step
