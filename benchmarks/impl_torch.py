"""PyTorch eager, written as its users write it: nn.Linear layers, nn.functional losses and
torch.optim.SGD, starting from the same parameters (nn.Linear stores W transposed).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from workloads import Problem


def make_step(problem: Problem) -> Callable[[], torch.Tensor]:
    """One SGD step in PyTorch eager, returning the loss tensor (before the update)."""
    weights, biases = problem.fresh_params()
    layers = []
    for w, b in zip(weights, biases, strict=True):
        linear = torch.nn.Linear(w.shape[0], w.shape[1])
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(w.T)))
            linear.bias.copy_(torch.from_numpy(b))
        layers.append(linear)
    hidden = [m for linear in layers[:-1] for m in (linear, torch.nn.ReLU())]
    model = torch.nn.Sequential(*hidden, layers[-1])
    optimizer = torch.optim.SGD(model.parameters(), lr=problem.lr)
    x = torch.from_numpy(problem.x)
    targets = torch.from_numpy(problem.targets)
    loss_fn = (
        torch.nn.functional.mse_loss
        if problem.workload.loss == "mse"
        else torch.nn.functional.cross_entropy
    )

    def step() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), targets)
        loss.backward()
        optimizer.step()
        return loss

    return step
