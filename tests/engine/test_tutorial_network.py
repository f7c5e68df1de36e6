"""The tutorial network (affine + ReLU, affine, mean squared error) written with Tensors gives
the gradients of the hand-written chain rule, to relative error 1e-10 in float64."""

from __future__ import annotations

import numpy as np
from engine_cases import relative_error

import chainrule as cr
from chainrule import functional
from chainrule.graph import run_backward


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
    leaves = {
        name: cr.tensor(value, requires_grad=True) for name, value in {"x": x, **params}.items()
    }
    hidden = cr.relu(leaves["x"] @ leaves["w1"] + leaves["b1"])
    loss = functional.mse_loss(hidden @ leaves["w2"] + leaves["b2"], y)
    loss.backward()

    expected = _hand_written_gradients(x, y, params)
    for name, grad in expected.items():
        leaf_grad = leaves[name].grad
        assert leaf_grad is not None
        assert leaf_grad.dtype == np.float64
        assert relative_error(leaf_grad.numpy(), grad) <= 1e-10, name


def test_tutorial_network_gradients_equal_chainrule_manual() -> None:
    """The engine, applied to the tutorial's own u1 .. u5, agrees with `chainrule.manual`'s
    hand derivation for x, w1, b1, w2, b2 and every intermediate u1 .. u4."""
    rng = np.random.default_rng(11)
    n, n_in, n_hidden, n_out = 40, 7, 9, 2
    x, y = rng.normal(size=(n, n_in)), rng.normal(size=(n, n_out))
    params = cr.manual.init_params(n_in, n_hidden, n_out, rng=rng)
    params["b1"] = rng.normal(size=n_hidden) * 0.1
    loss_value, cache = cr.manual.forward(x, y, params)
    expected = cr.manual.backward(cache)

    leaves = {
        name: cr.tensor(value, requires_grad=True) for name, value in {"x": x, **params}.items()
    }
    u1 = leaves["x"] @ leaves["w1"] + leaves["b1"]
    u2 = u1.relu()
    u3 = u2 @ leaves["w2"] + leaves["b2"]
    u4 = y - u3
    u5 = u4**2
    loss = u5.mean()
    intermediates = {"u1": u1, "u2": u2, "u3": u3, "u4": u4}
    grads = run_backward(
        loss,
        np.ones((), dtype=np.float64),
        retain_graph=True,
        create_graph=False,
        inputs=list(intermediates.values()),
    )
    assert grads is not None
    loss.backward()

    assert abs(loss.item() - loss_value) <= 1e-12 * abs(loss_value)
    for name, leaf in leaves.items():
        assert leaf.grad is not None
        assert leaf.grad.shape == expected[name].shape
        assert relative_error(leaf.grad.numpy(), expected[name]) <= 1e-10, name
    for (name, _), grad in zip(intermediates.items(), grads, strict=True):
        assert grad.shape == expected[name].shape
        assert relative_error(np.asarray(grad), expected[name]) <= 1e-10, name
