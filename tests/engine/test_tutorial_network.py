"""The tutorial network (affine + ReLU, affine, mean squared error) written with Tensors gives
the gradients of the hand-written chain rule, to relative error 1e-10 in float64."""

from __future__ import annotations

import numpy as np
from engine_cases import relative_error

import chainrule as cr
from chainrule import functional


def _hand_written_gradients(x, y, params):
    """The chain rule step by step: u1 = x w1 + b1, u2 = relu(u1), u3 = u2 w2 + b2,
    u4 = y - u3, loss = mean(u4**2)."""
    u1 = x @ params["w1"] + params["b1"]
    u2 = np.maximum(u1, 0.0)
    u3 = u2 @ params["w2"] + params["b2"]
    u4 = y - u3
    grad_u4 = 2 * u4 / u4.size
    grad_u3 = -grad_u4
    grad_u2 = grad_u3 @ params["w2"].T
    grad_u1 = grad_u2 * (u1 > 0)
    return {
        "x": grad_u1 @ params["w1"].T,
        "w1": x.T @ grad_u1,
        "b1": grad_u1.sum(axis=0),
        "w2": u2.T @ grad_u3,
        "b2": grad_u3.sum(axis=0),
    }


def test_tutorial_network_gradients_equal_the_hand_written_chain_rule() -> None:
    rng = np.random.default_rng(7)
    n, n_in, n_hidden, n_out = 50, 8, 16, 3
    x, y = rng.normal(size=(n, n_in)), rng.normal(size=(n, n_out))
    params = {
        "w1": rng.normal(size=(n_in, n_hidden)) * np.sqrt(2 / n_in),
        "b1": rng.normal(size=n_hidden) * 0.1,
        "w2": rng.normal(size=(n_hidden, n_out)) * np.sqrt(2 / n_hidden),
        "b2": rng.normal(size=n_out) * 0.1,
    }
    leaves = {name: cr.tensor(value, requires_grad=True)
              for name, value in {"x": x, **params}.items()}
    hidden = cr.relu(leaves["x"] @ leaves["w1"] + leaves["b1"])
    loss = functional.mse_loss(hidden @ leaves["w2"] + leaves["b2"], y)
    loss.backward()

    expected = _hand_written_gradients(x, y, params)
    for name, grad in expected.items():
        leaf_grad = leaves[name].grad
        assert leaf_grad is not None
        assert leaf_grad.dtype == np.float64
        assert relative_error(leaf_grad.numpy(), grad) <= 1e-10, name

