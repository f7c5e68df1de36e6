"""The one reverse sweep (`chainrule.sweep`) and eager backward's two entry points over it."""

from __future__ import annotations

import numpy as np

import chainrule as cr
from chainrule.graph import backward_into_grads, gradients
from chainrule.sweep import fit, schedule, sweep


def test_schedule_puts_each_node_after_all_its_consumers() -> None:
    # Nodes named by their place in the recording order: x (0), a (1), b (2), loss (3); a
    # node recorded in between (an unrelated 4) is not reachable from the loss.
    parents = {3: [1, 2], 1: [0], 2: [1, 0], 0: [], 4: [0]}
    order = schedule(3, lambda node: parents[node])
    assert order == [3, 2, 1, 0]
    for node in order:
        for parent in parents[node]:
            assert order.index(parent) > order.index(node)


def test_schedule_orders_by_the_recording_position_it_is_given() -> None:
    recorded = {"loss": 3, "b": 2, "a": 1, "x": 0}
    parents = {"loss": ["a", "b"], "a": ["x"], "b": ["a", "x"], "x": []}
    order = schedule("loss", lambda node: parents[node], recorded.__getitem__)
    assert order == ["loss", "b", "a", "x"]


def test_schedule_of_a_deep_chain_needs_no_recursion() -> None:
    depth = 20_000
    order = schedule(depth, lambda node: [node - 1] if node > 0 else [])
    assert order == list(range(depth, -1, -1))


def test_fit_sums_a_broadcast_gradient_and_casts_it() -> None:
    grad = np.ones((3, 2), dtype=np.float64)
    fitted = fit(grad, (1, 2), np.dtype(np.float32))
    assert fitted.shape == (1, 2)
    assert fitted.dtype == np.float32
    np.testing.assert_array_equal(fitted, [[3.0, 3.0]])


def test_sweep_accumulates_into_an_input_used_twice_and_keeps_only_leaves() -> None:
    # y = x * x: the vjp sends grad_out * x to both inputs, which are the same key.
    x = np.array([2.0, -3.0])
    grads = sweep(
        ["y"],
        {"y": np.ones(2)},
        output=lambda node: node,
        targets=lambda node: [("x", (2,), np.dtype(np.float64))] * 2,
        vjp=lambda node, grad_out: [grad_out * x, grad_out * x],
    )
    assert set(grads) == {"x"}
    np.testing.assert_array_equal(grads["x"], 2 * x)


def test_backward_into_grads_fills_dot_grad_of_the_leaves() -> None:
    x = cr.tensor([1.0, 2.0], dtype=np.float64, requires_grad=True)
    loss = (x * x).sum()
    backward_into_grads(loss, np.ones((), np.float64), retain_graph=False, create_graph=False)
    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])


def test_gradients_returns_them_and_leaves_dot_grad_untouched() -> None:
    x = cr.tensor([1.0, 2.0], dtype=np.float64, requires_grad=True)
    hidden = x * 3.0
    loss = (hidden * hidden).sum()
    grad_x, grad_hidden = gradients(
        loss, np.ones((), np.float64), [x, hidden], retain_graph=False, create_graph=False
    )
    assert x.grad is None
    np.testing.assert_array_equal(grad_hidden, [6.0, 12.0])
    np.testing.assert_array_equal(grad_x, [18.0, 36.0])
