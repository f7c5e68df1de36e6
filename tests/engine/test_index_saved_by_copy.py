"""An index array saved by a node is the node's own copy: changing the caller's array after
the forward (i[0] = 2 after y = x[i]) must not move y's gradient to other entries of x.
PyTorch copies a NumPy index into a tensor, so its gradient follows the index as it was at
the forward; chainrule's GetItem, ScatterAdd and Embedding saved the caller's array itself,
Where (where, masked_fill) the caller's mask, and CrossEntropy the caller's class targets.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

import chainrule as cr
from chainrule import nn

X = np.arange(12.0).reshape(3, 4)
W = np.arange(1.0, 9.0).reshape(2, 4)

BUILDS: dict[str, Callable[[cr.Tensor, np.ndarray], cr.Tensor]] = {
    "getitem": lambda x, i: x[i] * cr.tensor(W),
    "getitem, int tensor index": lambda x, i: x[cr.tensor(i, dtype=np.int64)] * cr.tensor(W),
    "getitem, array beside a slice": lambda x, i: x[:, i] * cr.tensor(W[:, :3].T),
    "take": lambda x, i: cr.take(x, i, axis=0) * cr.tensor(W),
    "take_along_axis": lambda x, i: cr.take_along_axis(x[:2], i.reshape(2, 1), axis=1),
    "gather": lambda x, i: cr.gather(x, 1, i.reshape(2, 1)),
    "scatter_add": lambda x, i: (
        cr.scatter_add(cr.tensor(np.zeros((3, 4))), 0, i.reshape(2, 1), x[:2, :1]) * cr.tensor(X)
    ),
    "embedding": lambda x, i: cr.functional.embedding(i, x) * cr.tensor(W),
}


@pytest.mark.parametrize("op", list(BUILDS))
def test_changing_the_index_after_the_forward_leaves_the_gradient(op: str) -> None:
    build = BUILDS[op]
    x = cr.tensor(X, requires_grad=True)
    index = np.array([0, 1])
    y = build(x, index)
    index[0] = 2  # the caller reuses its array
    y.sum().backward()

    fresh = cr.tensor(X, requires_grad=True)
    build(fresh, np.array([0, 1])).sum().backward()
    assert x.grad is not None
    assert fresh.grad is not None
    np.testing.assert_array_equal(x.grad.numpy(), fresh.grad.numpy())


def test_changing_the_index_after_an_embedding_layer_leaves_the_gradient() -> None:
    layer = nn.Embedding(3, 4)
    index = np.array([0, 1])
    out = layer(index)
    index[0] = 2
    (out * cr.tensor(W)).sum().backward()
    grad = layer.weight.grad
    assert grad is not None
    np.testing.assert_array_equal(grad.numpy(), np.concatenate([W, np.zeros((1, 4))]))


MASK_BUILDS: dict[str, Callable[[cr.Tensor, np.ndarray], cr.Tensor]] = {
    "where": lambda x, mask: cr.where(mask, x, 0.0),
    "masked_fill": lambda x, mask: cr.masked_fill(x, mask, 0.0),
}


@pytest.mark.parametrize("op", list(MASK_BUILDS))
def test_changing_the_mask_after_the_forward_leaves_the_gradient(op: str) -> None:
    mask = X > 5
    x = cr.tensor(X, requires_grad=True)
    y = MASK_BUILDS[op](x, mask)
    mask[...] = ~mask
    y.sum().backward()
    assert x.grad is not None
    expected = (X > 5) if op == "where" else (X <= 5)
    np.testing.assert_array_equal(x.grad.numpy(), expected.astype(np.float64))


def test_changing_the_class_targets_after_cross_entropy_leaves_the_gradient() -> None:
    logits = cr.tensor(X, requires_grad=True)
    targets = np.array([0, 1, 2])
    loss = cr.functional.cross_entropy(logits, targets)
    targets[0] = 3
    loss.backward()
    leaf = torch.tensor(X, requires_grad=True)
    torch.nn.functional.cross_entropy(leaf, torch.tensor([0, 1, 2])).backward()
    assert logits.grad is not None
    assert leaf.grad is not None
    np.testing.assert_allclose(logits.grad.numpy(), leaf.grad.numpy(), rtol=1e-12, atol=1e-15)
