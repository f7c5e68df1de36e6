"""The buffer-writing kernels of the hot primitives, for compiled replays, as the primitives
declare them (`Primitive.forward_into`, `Primitive.vjp_into`).

Each kernel computes exactly what its primitive computes, with the same NumPy calls given
`out=`, so replays stay bit-identical to eager execution; the output lands in an array the
program allocated once and reuses on every replay, instead of a fresh one that the allocator
(for arrays past 128 KiB, the kernel's page faults) must provide.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import primitives as P
from chainrule.primitives.base import ForwardKernel, Saved, VjpKernel
from chainrule.primitives.linalg import product_into

__all__ = [
    "FORWARD",
    "VJP",
    "CrossEntropyKernels",
    "ForwardKernel",
    "VjpKernel",
    "product_into",
]

FORWARD: dict[type[P.Primitive], ForwardKernel] = {
    primitive: primitive.forward_into
    for primitive in P.PRIMITIVES
    if primitive.forward_into is not None
}
"""Forward kernels; MatMul and Linear only for 2-D operands (checked by the program)."""

VJP: dict[type[P.Primitive], VjpKernel] = {
    primitive: primitive.vjp_into for primitive in P.PRIMITIVES if primitive.vjp_into is not None
}
"""Backward kernels writing the gradient of the first input (an activation) into a buffer;
the parameters' gradients stay fresh arrays, since they are handed out as `.grad`."""


class CrossEntropyKernels:
    """`SoftmaxCrossEntropy`'s forward on NumPy (N, C) logits into arrays allocated
    once: the same NumPy calls as the rule's array path, in its order (so the same bits),
    with the row maxima, the exponentials (then the probabilities), their row sums and
    logarithms and the row indices reused instead of made afresh at every replay; the
    targets are checked with the ufuncs' own reductions (`ndarray.min`/`max` are Python
    wrappers around them). A target outside the classes goes to the rule itself, which
    raises its error."""

    def __init__(self, shape: tuple[int, int], dtype: np.dtype[Any]) -> None:
        count, self.classes = shape
        self.count = count
        self.rows = np.arange(count)
        self.row_max = np.empty((count, 1), dtype)
        self.probs = np.empty(shape, dtype)
        self.sum_exp = np.empty((count, 1), dtype)
        self.log_sum = np.empty((count, 1), dtype)

    def forward(self, logits: np.ndarray, targets: np.ndarray) -> tuple[Any, Saved]:
        """loss = (sum log sum_j exp(z_ij - max_i) - sum (z - max)[i, t_i]) / N; saves the
        probabilities exp(z - max) / sum_j exp(z - max) and the targets."""
        if targets.size and (
            np.minimum.reduce(targets) < 0 or np.maximum.reduce(targets) >= self.classes
        ):
            return P.SoftmaxCrossEntropy.forward(logits, targets=targets)  # raises
        probs, sum_exp = self.probs, self.sum_exp
        np.maximum.reduce(logits, axis=1, keepdims=True, out=self.row_max)
        np.subtract(logits, self.row_max, out=probs)  # the shifted logits, for now
        picked = probs[self.rows, targets]
        np.exp(probs, out=probs)
        np.add.reduce(probs, axis=1, keepdims=True, out=sum_exp)
        np.log(sum_exp, out=self.log_sum)
        loss = (np.add.reduce(self.log_sum, axis=None) - np.add.reduce(picked)) / self.count
        return loss, (np.divide(probs, sum_exp, out=probs), targets)
