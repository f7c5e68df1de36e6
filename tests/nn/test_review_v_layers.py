"""Review v: layer configurations checked against torch.nn (float64, values and gradients)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import chainrule
from chainrule import nn


def test_flatten_keeps_an_empty_batch_as_torch() -> None:
    out = nn.Flatten()(np.zeros((0, 3, 4)))
    assert out.shape == tuple(torch.nn.Flatten()(torch.zeros((0, 3, 4))).shape) == (0, 12)
    assert nn.Flatten(0, 1)(np.zeros((2, 0, 4))).shape == (0, 4)


@pytest.mark.parametrize("sizes", [(2, -1), (-1, 2), (-1, 1, 4), (4, -1)])
def test_unflatten_infers_one_minus_one_size_as_torch(sizes: tuple[int, ...]) -> None:
    rng = np.random.default_rng(0)
    values = rng.standard_normal((3, 4, 2))
    x = chainrule.tensor(values, requires_grad=True)
    expected = torch.nn.Unflatten(1, sizes)(torch.tensor(values))
    out = nn.Unflatten(1, sizes)(x)
    assert out.shape == tuple(expected.shape)
    np.testing.assert_array_equal(out.data, expected.numpy())
    (out * chainrule.tensor(np.arange(out.size).reshape(out.shape))).sum().backward()
    np.testing.assert_array_equal(x.grad.data, np.arange(x.size).reshape(x.shape))


@pytest.mark.parametrize("sizes", [(-1, -1), (-2, -2), (3, -1), (-1, 0)])
def test_unflatten_names_sizes_it_cannot_use(sizes: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=r"Unflatten: .*\(3, 4\)"):
        nn.Unflatten(1, sizes)(np.zeros((3, 4)))
