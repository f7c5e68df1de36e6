"""The fused losses (one node each) against the same loss built from primitives."""

from __future__ import annotations

import numpy as np
from engine_cases import relative_error

import chainrule as cr
from chainrule import functional


def _value_and_grad(loss_fn, values):
    leaf = cr.tensor(values, requires_grad=True)
    loss = loss_fn(leaf)
    loss.backward()
    return loss.numpy(), leaf.grad.numpy()


def test_fused_mse_matches_the_composite() -> None:
    rng = np.random.default_rng(8)
    prediction, target = rng.normal(size=(6, 2)), rng.normal(size=(6, 2))
    fused = _value_and_grad(lambda p: functional.mse_loss(p, target), prediction)
    composite = _value_and_grad(lambda p: ((target - p) ** 2).mean(), prediction)
    for ours, reference in zip(fused, composite, strict=True):
        assert relative_error(ours, reference) <= 1e-15


def test_fused_cross_entropy_matches_the_composite() -> None:
    rng = np.random.default_rng(9)
    logits, targets = rng.normal(size=(5, 4)) * 3, np.array([0, 3, 1, 1, 2])
    fused = _value_and_grad(lambda z: functional.cross_entropy(z, targets), logits)
    composite = _value_and_grad(
        lambda z: -cr.log_softmax(z, axis=1)[np.arange(5), targets].mean(), logits
    )
    for ours, reference in zip(fused, composite, strict=True):
        assert relative_error(ours, reference) <= 1e-14
