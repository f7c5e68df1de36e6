"""chainrule.manual: the hand-derived layers (Linear, ReLU, Sequential) with their own
backward, MSE (W1) or SoftmaxCrossEntropy at the end, and plain SGD on the layers' arrays
(w -= lr * grad_w, in place), as a user of the manual engine writes the loop.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from chainrule import manual
from workloads import Problem


def make_step(problem: Problem) -> Callable[[], float]:
    """One SGD step through the manual layers, returning the loss (before the update)."""
    weights, biases = problem.fresh_params()
    rng = np.random.default_rng(0)
    linears = []
    for w, b in zip(weights, biases, strict=True):
        layer = manual.Linear(w.shape[0], w.shape[1], rng=rng, dtype=np.float32)
        layer.weight, layer.bias = w, b
        linears.append(layer)
    hidden = [m for layer in linears[:-1] for m in (layer, manual.ReLU())]
    model = manual.Sequential(*hidden, linears[-1])
    criterion: manual.MSE | manual.SoftmaxCrossEntropy = (
        manual.MSE() if problem.workload.loss == "mse" else manual.SoftmaxCrossEntropy()
    )
    x, targets, lr = problem.x, problem.targets, np.float32(problem.lr)

    def step() -> float:
        loss = criterion.forward(model.forward(x), targets)
        model.backward(criterion.backward())
        for layer in linears:
            grad_weight, grad_bias = layer.grad_weight, layer.grad_bias
            assert grad_weight is not None  # set by backward, a fresh array each step
            assert grad_bias is not None
            grad_weight *= lr
            layer.weight -= grad_weight
            grad_bias *= lr
            layer.bias -= grad_bias
        return loss

    return step
