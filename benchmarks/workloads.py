"""The four benchmark workloads and the data and initial parameters each implementation starts from.

A `Problem` is one workload made concrete: float32 inputs, targets, and He-initialised weights
in the (in_features, out_features) layout, so a layer is z = h @ W + b for every implementation.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Workload:
    """A multilayer perceptron with ReLU between layers and a loss at the end.

    `widths` lists the layer sizes from input to output; `loss` is "mse" (to a random real
    target of the output's shape) or "ce" (softmax cross-entropy to random class indices).
    """

    key: str
    title: str
    widths: tuple[int, ...]
    batch: int
    loss: str
    lr: float = 0.01


WORKLOADS: dict[str, Workload] = {
    "W1": Workload("W1", "tutorial 50000x784-50-1, MSE, full batch", (784, 50, 1), 50000, "mse"),
    "W2": Workload("W2", "784-256-256-10, CE, batch 128", (784, 256, 256, 10), 128, "ce"),
    "W3": Workload("W3", "784-128-10, CE, batch 32", (784, 128, 10), 32, "ce"),
    "W4": Workload(
        "W4", "20 x (64-64 + ReLU) then 64-10, CE, batch 64", (64,) * 21 + (10,), 64, "ce"
    ),
}

QUICK_BATCH = {"W1": 2000}


@dataclass
class Problem:
    """One workload's data: x (batch, in), targets ((batch, out) float or (batch,) int64),
    and the initial weights (in, out) and biases (out,) that every implementation copies."""

    workload: Workload
    x: np.ndarray
    targets: np.ndarray
    weights: list[np.ndarray]
    biases: list[np.ndarray]

    @property
    def lr(self) -> float:
        return self.workload.lr

    def fresh_params(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Copies of the initial weights and biases, so implementations never share state."""
        return [w.copy() for w in self.weights], [b.copy() for b in self.biases]


def make_problem(workload: Workload, *, quick: bool = False, seed: int = 0) -> Problem:
    """Data and parameters for `workload`, generated directly in float32 (no float64
    temporaries, which would raise the memory baseline)."""
    rng = np.random.default_rng(seed)
    batch = QUICK_BATCH.get(workload.key, workload.batch) if quick else workload.batch
    widths = workload.widths
    x = rng.random((batch, widths[0]), dtype=np.float32)
    if workload.loss == "mse":
        targets = rng.standard_normal((batch, widths[-1]), dtype=np.float32)
    else:
        targets = rng.integers(0, widths[-1], size=batch, dtype=np.int64)
    weights = []
    biases = []
    for fan_in, fan_out in itertools.pairwise(widths):
        scale = np.float32(np.sqrt(2.0 / fan_in))
        weights.append(rng.standard_normal((fan_in, fan_out), dtype=np.float32) * scale)
        biases.append(rng.uniform(-0.1, 0.1, size=fan_out).astype(np.float32))
    return Problem(workload, x, targets, weights, biases)
