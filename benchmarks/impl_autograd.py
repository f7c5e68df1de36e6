"""chainrule autograd: the step written with Tensor ops and `backward()`, and plain SGD on
the leaves (w.data -= lr * w.grad.data), the way a user of the engine writes it by hand.
"""

from __future__ import annotations

from collections.abc import Callable

import chainrule as cr
from chainrule import functional as F
from workloads import Problem


def make_step(problem: Problem) -> Callable[[], cr.Tensor]:
    """One SGD step through the eager engine, returning the loss tensor (before the update)."""
    weights, biases = problem.fresh_params()
    params = [
        cr.tensor(p, requires_grad=True) for pair in zip(weights, biases, strict=True) for p in pair
    ]
    x = cr.tensor(problem.x)
    targets = cr.tensor(problem.targets) if problem.workload.loss == "mse" else problem.targets
    loss_fn = F.mse_loss if problem.workload.loss == "mse" else F.cross_entropy
    lr = problem.lr
    layers = len(weights)

    def step() -> cr.Tensor:
        h = x
        for i in range(layers):
            h = h @ params[2 * i] + params[2 * i + 1]
            if i < layers - 1:
                h = h.relu()
        loss = loss_fn(h, targets)
        loss.backward()
        for p in params:
            grad = p.grad
            if grad is not None:
                p.data -= lr * grad.data
                p.grad = None
        return loss

    return step
