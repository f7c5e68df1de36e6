"""How backward stores into `.grad`: an existing `.grad` that a graph uses is never changed
under that graph."""

import numpy as np
import pytest

import chainrule as cr


def test_backward_leaves_a_recorded_grad_unchanged() -> None:
    w = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    (w**3).sum().backward(create_graph=True)
    first_grad = w.grad
    assert first_grad is not None
    penalty = (first_grad * first_grad).sum()
    penalty.backward()
    # w.grad is the new sum 3w^2 + 36 w^3 ... ; the recorded 3w^2 keeps its values.
    np.testing.assert_array_equal(first_grad.data, np.array([3.0, 12.0]))
    assert w.grad is not None
    np.testing.assert_allclose(w.grad.data, np.array([3.0 + 36.0, 12.0 + 288.0]), rtol=1e-12)


def test_accumulating_into_a_grad_that_a_graph_saved_is_detected() -> None:
    a = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    (a * 2).sum().backward()
    assert a.grad is not None
    b = cr.tensor(np.array([1.0, 1.0]), requires_grad=True)
    uses_grad = (b * a.grad).sum()
    (a * 3).sum().backward()
    with pytest.raises(RuntimeError, match="modified in place"):
        uses_grad.backward()


@pytest.mark.parametrize("op", ["exp", "tanh", "sigmoid", "sqrt"])
def test_changing_an_output_its_op_saved_is_detected(op: str) -> None:
    x = cr.tensor(np.array([0.5, 1.0]), requires_grad=True)
    out = getattr(x, op)()
    with cr.no_grad():
        out.mul_(2)
    with pytest.raises(RuntimeError, match=rf"output of {op} .* modified in place"):
        out.sum().backward()


def test_changing_an_intermediate_output_its_op_saved_is_detected() -> None:
    x = cr.tensor(np.array([0.5, 1.0]), requires_grad=True)
    hidden = x.tanh()
    hidden.data += 1  # before its consumers are built, so only tanh's own record can tell
    loss = (hidden * 3).sum()
    with pytest.raises(RuntimeError, match=r"output of tanh .* modified in place"):
        loss.backward()


def test_changing_an_output_its_op_did_not_save_is_allowed() -> None:
    x = cr.tensor(np.array([0.5, 1.0]), requires_grad=True)
    out = x * 2
    with cr.no_grad():
        out.add_(1)
    out.sum().backward()
    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.data, np.array([2.0, 2.0]))
