"""x ** 0 is the constant 1: its gradient is 0 everywhere, also at x = 0 (as in PyTorch)."""

import numpy as np

import chainrule as cr


def test_gradient_of_x_to_the_power_zero_is_zero_at_zero() -> None:
    x = cr.tensor(np.array([0.0, 2.0], dtype=np.float32), requires_grad=True)
    (x**0).sum().backward()
    assert x.grad is not None
    assert x.grad.data.shape == (2,)
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.data, np.zeros(2, dtype=np.float32))
