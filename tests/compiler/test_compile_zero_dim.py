"""A compiled step through 0-d values (one entry indexed out, a dot product) replays with
eager's results: NumPy's scalars for 0-d results never reach a rule as if they were Tensors."""

from __future__ import annotations

import numpy as np

import chainrule as cr
from chainrule.compiler import compile


def test_compiled_step_through_zero_dim_values_equals_eager() -> None:
    w = cr.tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
    x = np.array([1.0, 2.0, 3.0])

    def step(inputs: np.ndarray) -> cr.Tensor:
        loss = (w[0] * inputs[1]).exp() + (w @ inputs).relu().sigmoid() + w[2] ** 2
        loss.backward()
        return loss

    eager_loss = step(x).numpy().copy()
    assert w.grad is not None
    eager_grad = w.grad.numpy().copy()
    compiled = compile(step)
    for _ in range(2):
        w.grad = None
        loss = compiled(x)
        assert loss.shape == ()
        assert w.grad is not None
        np.testing.assert_array_equal(loss.numpy(), eager_loss)
        np.testing.assert_array_equal(w.grad.numpy(), eager_grad)
