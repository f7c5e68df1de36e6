"""A compiled step that calls backward twice over one graph (retain_graph=True) replays both."""

import numpy as np

import chainrule as cr


def test_two_backwards_through_a_retained_graph_replay_as_eagerly() -> None:
    w = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)

    @cr.compile
    def step(x: np.ndarray) -> cr.Tensor:
        loss = (w * x).tanh().sum()
        loss.backward(retain_graph=True)
        loss.backward()
        return loss

    x = np.array([0.3, -0.4])
    step(x)  # traced eagerly
    assert w.grad is not None
    eager_grad = w.grad.data.copy()
    w.grad = None
    step(x)  # replayed
    assert w.grad is not None
    assert w.grad.data.shape == eager_grad.shape
    np.testing.assert_array_equal(w.grad.data, eager_grad)
