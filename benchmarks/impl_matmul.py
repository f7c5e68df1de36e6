"""Matmul-only: just the matrix products one training step needs, into preallocated buffers.

Forward h @ W per layer, backward h.T @ dz per layer and dz @ W.T for every layer but the
first; no bias, activation, loss or update. A lower bound no full step can beat by much.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from impl_numpy import product_into
from workloads import Problem


def make_step(problem: Problem) -> Callable[[], None]:
    """The products of one step; returns None (there is no loss to check)."""
    weights, _ = problem.fresh_params()
    x = problem.x
    batch = x.shape[0]
    rng = np.random.default_rng(1)
    acts = [np.empty((batch, w.shape[1]), dtype=np.float32) for w in weights]
    grad_acts = [rng.standard_normal(a.shape, dtype=np.float32) for a in acts]
    grad_weights = [np.empty_like(w) for w in weights]

    def step() -> None:
        h = x
        for w, out in zip(weights, acts, strict=True):
            np.matmul(h, w, out=out)
            h = out
        for i in range(len(weights) - 1, -1, -1):
            h_in = x if i == 0 else acts[i - 1]
            np.matmul(h_in.T, grad_acts[i], out=grad_weights[i])
            if i > 0:
                product_into(grad_acts[i], weights[i].T, grad_acts[i - 1])

    return step
