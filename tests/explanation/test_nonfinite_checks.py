"""explain's numeric check of each local gradient never calls a comparison with NaN "ok"
(every comparison with NaN is false, so a miss test alone would pass it), and does not
fail a -inf mask, whose entries a step cannot move."""

from __future__ import annotations

import numpy as np
import torch

import chainrule


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if " = d" in line and "·" not in line]


def test_a_nan_weight_fails_every_link_it_reaches() -> None:
    w = chainrule.tensor(np.array([[1.0, np.nan], [0.5, 2.0]]), requires_grad=True, name="w")
    x = chainrule.tensor(np.ones((3, 2)), name="x")
    loss = ((x @ w).relu() ** 2).mean()
    explanation = chainrule.explain(loss, wrt=w)
    assert not explanation.passed
    text = str(explanation)
    assert "Numeric check: SOME CHECKS FAILED" in text
    for line in _lines(text):
        assert "FAILED: its value is NaN" in line, line
        assert "ok:" not in line
    assert "first nan at (0, 1)" in text


def test_an_inf_gradient_fails_its_link() -> None:
    x = chainrule.tensor(np.array([0.0, 1.0]), requires_grad=True, name="x")
    loss = x.sqrt().sum()  # d sqrt(x)/dx = inf at 0
    with np.errstate(divide="ignore"):  # NumPy's warning, as backward itself gives
        explanation = chainrule.explain(loss, wrt=x)
    assert not explanation.passed
    assert "its gradient is NaN or inf at 1 entry (first inf at (0,))" in str(explanation)


def test_a_minus_inf_mask_before_a_softmax_is_checked_on_the_entries_that_move() -> None:
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(3, 4))
    mask = np.array([[True, False, False, True]] * 3)
    weights = np.arange(12.0).reshape(3, 4)
    a = chainrule.tensor(scores, requires_grad=True, name="a")
    masked = a.masked_fill(chainrule.tensor(mask, dtype=bool), -np.inf)
    loss = (masked.softmax(axis=1) * chainrule.tensor(weights)).sum()
    explanation = chainrule.explain(loss, wrt=a)
    assert explanation.passed, str(explanation)
    assert "FAILED" not in str(explanation)
    loss.backward()
    reference = torch.tensor(scores, requires_grad=True)
    expected = reference.masked_fill(torch.tensor(mask), float("-inf")).softmax(dim=1)
    (expected * torch.tensor(weights)).sum().backward()
    assert a.grad is not None
    assert reference.grad is not None
    assert a.grad.shape == tuple(reference.grad.shape)
    np.testing.assert_allclose(a.grad.numpy(), reference.grad.numpy(), rtol=1e-12, atol=0)
