"""The embedding lookup: rows of a weight matrix gathered by integer indices.

A primitive of its own (not weight[indices]) so that the row at `padding_idx` gets no
gradient, as in PyTorch, while the forward still returns that row's values.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.primitives.base import Grads, Primitive, Saved, plain_values
from chainrule.primitives.call import call
from chainrule.primitives.reading import Rule, linear_map
from chainrule.primitives.shape import ScatterAdd


class Embedding(Primitive):
    """z[..., :] = weight[indices[...], :];  dL/dweight[r] = sum of grad_out over the
    positions where indices == r (repeated indices accumulate), 0 for r = padding_idx."""

    name = "embedding"
    reading = Rule(
        "embedding($a, indices)",
        r"\operatorname{embedding}($a)",
        (linear_map("rows of . added at indices", r"\operatorname{scatter}(\cdot)"),),
    )

    @staticmethod
    def forward(weight: Any, *, indices: np.ndarray, padding_idx: int | None) -> tuple[Any, Saved]:
        keep = None
        if padding_idx is not None:
            keep = np.ones((weight.shape[0], 1), dtype=plain_values(weight).dtype)
            keep[padding_idx] = 0
        return weight[indices], (weight.shape, indices, keep)

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        shape, indices, keep = saved
        grad = call(ScatterAdd, grad_out, shape=shape, index=indices)
        return (grad if keep is None else grad * keep,)
