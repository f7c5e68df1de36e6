"""The embedding lookup: rows of a weight matrix gathered by integer indices.

A primitive of its own (not weight[indices]) so that the row at `padding_idx` gets no
gradient, as in PyTorch, while the forward still returns that row's values. The forward
computes in the weight's array namespace (chainrule.backends); the backward is a scatter-add.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.backends import creation_device, namespace
from chainrule.primitives.base import Grads, Primitive, Saved
from chainrule.primitives.call import call
from chainrule.primitives.reading import Rule, linear_map
from chainrule.primitives.scatter import owned_index
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
        xp = namespace(weight)
        count, width = weight.shape
        if type(indices) is np.ndarray and indices.size:
            # functional.embedding checks the indices before making this node; this is for
            # chainrule.compile's replays, which rerun it on new indices without that (a -1
            # read and trained the last row).
            low = int(np.minimum.reduce(indices, axis=None))
            high = int(np.maximum.reduce(indices, axis=None))
            if low < 0 or high >= count:
                raise ValueError(
                    f"embedding (or one_hot): index {low if low < 0 else high} is outside "
                    f"[0, {count - 1}], the {count} rows of the weight (num_classes={count} "
                    "for one_hot)"
                )
        keep = None
        if padding_idx is not None:
            others = xp.arange(count, device=creation_device(weight)) != padding_idx
            keep = xp.reshape(xp.astype(others, weight.dtype), (count, 1))
        # take wants one axis of indices (the standard's integer indexing, every axis): flat.
        rows = xp.take(weight, xp.reshape(indices, (-1,)), axis=0)
        return xp.reshape(rows, (*indices.shape, width)), (weight.shape, owned_index(indices), keep)

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        shape, indices, keep = saved
        grad = call(ScatterAdd, grad_out, shape=shape, index=indices)
        return (grad if keep is None else grad * keep,)
