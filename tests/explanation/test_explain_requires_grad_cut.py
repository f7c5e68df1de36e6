"""explain on a graph where a computed tensor was cut in place by detach_() before or after
its consumers were recorded, and the refusal of `requires_grad = False` on a computed tensor
(torch refuses that assignment; detach() or detach_() is the fix its message names)."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule
from chainrule.tensor import Tensor


def _cut_graph() -> tuple[Tensor, Tensor]:
    w = Tensor(np.array([1.0, 2.0]), requires_grad=True, name="w")
    y = w * 2
    y.detach_()  # a constant for the ops recorded from now on
    return (y * w).sum(), w


def test_backward_takes_the_cut_tensor_for_a_constant() -> None:
    out, w = _cut_graph()
    out.backward()
    assert w.grad is not None
    np.testing.assert_allclose(w.grad.numpy(), [2.0, 4.0])  # y, not y + 2 w


def test_explain_takes_a_tensor_cut_before_use_for_a_constant() -> None:
    out, w = _cut_graph()
    explanation = chainrule.explain(out, w)
    assert explanation.passed


def test_requires_grad_false_on_a_computed_tensor_is_refused_naming_the_op_and_detach() -> None:
    w = Tensor(np.array([1.0, 2.0]), requires_grad=True, name="w")
    y = w * 2
    with pytest.raises(RuntimeError, match=r"requires_grad =.*leaf.*mul.*detach\(\)"):
        y.requires_grad = False


def test_explain_refuses_a_tensor_cut_after_its_consumers_were_recorded() -> None:
    # The op recorded before the cut still sends its gradient through y (as backward does:
    # d(out)/d(w) = 2 + 1), which a walk that takes y for a constant would miss.
    w = Tensor(np.array([1.0, 2.0]), requires_grad=True, name="w")
    y = w * 2
    out = (y + w).sum()
    y.detach_()
    with pytest.raises(ValueError, match=r"detached in place.*after add used it"):
        chainrule.explain(out, w)
    out.backward()
    assert w.grad is not None
    np.testing.assert_allclose(w.grad.numpy(), [3.0, 3.0])
