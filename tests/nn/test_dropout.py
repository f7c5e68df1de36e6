"""Dropout: inverted scaling in training, identity in eval, rng-driven masks."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule
from chainrule import nn


def test_training_zeroes_some_entries_and_scales_the_rest() -> None:
    layer = nn.Dropout(0.25, rng=np.random.default_rng(0))
    out = layer(np.ones((200, 50), dtype=np.float32)).numpy()
    kept = out != 0
    assert out.shape == (200, 50)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[kept], 1 / 0.75, rtol=1e-6)
    assert abs(kept.mean() - 0.75) < 0.02


def test_eval_is_the_identity() -> None:
    layer = nn.Dropout(0.5).eval()
    x = chainrule.tensor(np.arange(6.0).reshape(2, 3))
    assert layer(x) is x


def test_gradient_is_the_same_mask_and_scale() -> None:
    layer = nn.Dropout(0.5, rng=np.random.default_rng(1))
    x = chainrule.tensor(np.ones((4, 5)), requires_grad=True)
    out = layer(x)
    out.sum().backward()
    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.numpy(), out.numpy())


def test_same_seed_gives_the_same_mask() -> None:
    x = np.ones((3, 7), dtype=np.float32)
    first = nn.Dropout(0.5, rng=np.random.default_rng(2))(x).numpy()
    second = nn.Dropout(0.5, rng=np.random.default_rng(2))(x).numpy()
    np.testing.assert_array_equal(first, second)


def test_p_one_drops_everything() -> None:
    out = nn.Dropout(1.0)(np.ones((2, 2), dtype=np.float32)).numpy()
    np.testing.assert_array_equal(out, np.zeros((2, 2), dtype=np.float32))


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_p_outside_zero_one_is_rejected(p: float) -> None:
    with pytest.raises(ValueError, match=r"p is a probability in \[0, 1\]"):
        nn.Dropout(p)
