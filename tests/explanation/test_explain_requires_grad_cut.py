"""explain, draw and explore on a graph where a computed tensor's `requires_grad` was set
False by assignment (torch refuses that assignment; chainrule accepts it, and the ops that
use the tensor afterwards take it for a constant, as backward does)."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule
from chainrule.tensor import Tensor


def _cut_graph() -> tuple[Tensor, Tensor]:
    w = Tensor(np.array([1.0, 2.0]), requires_grad=True, name="w")
    y = w * 2
    y.requires_grad = False  # a constant for the ops recorded from now on
    return (y * w).sum(), w


def test_backward_takes_the_cut_tensor_for_a_constant() -> None:
    out, w = _cut_graph()
    out.backward()
    assert w.grad is not None
    np.testing.assert_allclose(w.grad.numpy(), [2.0, 4.0])  # y, not y + 2 w


def test_explain_refuses_a_computed_input_an_op_took_for_a_constant() -> None:
    # Before: a KeyError from inside explain (the walk followed y's grad_fn, which the
    # gradient never reaches).
    out, w = _cut_graph()
    with pytest.raises(ValueError, match=r"requires_grad = False.*mul.*detach\(\)"):
        chainrule.explain(out, w)


def test_explain_follows_a_tensor_cut_after_its_consumers_were_recorded() -> None:
    # The op recorded before the assignment still sends its gradient through y (as
    # backward does), so the walk may follow it: d(out)/d(w) = y + 2 w = 4 w.
    w = Tensor(np.array([1.0, 2.0]), requires_grad=True, name="w")
    y = w * 2
    out = (y * w).sum()
    y.requires_grad = False
    explanation = chainrule.explain(out, w)
    assert explanation.passed
    out.backward()
    assert w.grad is not None
    np.testing.assert_allclose(w.grad.numpy(), [4.0, 8.0])
