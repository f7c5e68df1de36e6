"""The tutorial network by hand (`forward`/`backward`, the layers, the closed form) at odd
shapes: one example, one input feature, one hidden unit, several outputs, in float32 and
float64, with pre-activations exactly 0 (where ReLU's derivative is taken as 0, as
PyTorch's). `backward` and the layers make the same floating-point operations as chainrule's
Tensor engine, so their gradients (of the intermediates u1 .. u4 too) and the loss equal the
engine's bit for bit; all of them, and the closed form, match PyTorch autograd to rounding."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest

import chainrule as cr
from chainrule import manual
from chainrule.graph import run_backward

pytestmark = pytest.mark.torch

NAMES = ("x", "w1", "b1", "w2", "b2")
SHAPES = [(1, 1, 1, 1), (1, 4, 3, 1), (2, 1, 1, 3), (5, 3, 1, 2), (3, 5, 2, 4), (1, 1, 5, 5)]


def network(shape: tuple[int, int, int, int], dtype: type, zero_pre_activation: bool):
    n_examples, n_in, n_hidden, n_out = shape
    rng = np.random.default_rng(sum(shape) + 10 * zero_pre_activation)
    x = rng.normal(size=(n_examples, n_in)).astype(dtype)
    y = rng.normal(size=(n_examples, n_out)).astype(dtype)
    params = manual.init_params(n_in, n_hidden, n_out, rng=rng, dtype=dtype)
    params["b1"] = (0.1 * rng.normal(size=n_hidden)).astype(dtype)
    params["b2"] = (0.1 * rng.normal(size=n_out)).astype(dtype)
    if zero_pre_activation:  # u1 = 0 exactly in the first row: a zero example, zero bias
        x[0] = 0
        params["b1"][:] = 0
    return x, y, params


def engine_gradients(x, y, params) -> dict[str, np.ndarray]:
    """The engine's dloss/d(name) for x, the parameters and the intermediates u1 .. u4, and
    its loss under "loss"."""
    leaves = {
        name: cr.tensor(value.copy(), requires_grad=True)
        for name, value in {"x": x, **params}.items()
    }
    u1 = leaves["x"] @ leaves["w1"] + leaves["b1"]
    u2 = cr.relu(u1)
    u3 = u2 @ leaves["w2"] + leaves["b2"]
    u4 = cr.tensor(y) - u3
    loss = (u4**2).mean()
    intermediates = {"u1": u1, "u2": u2, "u3": u3, "u4": u4}
    grads = run_backward(
        loss,
        np.ones((), dtype=loss.dtype),
        retain_graph=True,
        create_graph=False,
        inputs=list(intermediates.values()),
    )
    loss.backward()
    return {
        **{name: leaf.grad.numpy() for name, leaf in leaves.items()},
        **{name: np.asarray(grad) for name, grad in zip(intermediates, grads, strict=True)},
        "loss": loss.numpy(),
    }


def torch_gradients(torch: ModuleType, x, y, params) -> dict[str, np.ndarray]:
    leaves = {
        name: torch.tensor(value, requires_grad=True) for name, value in {"x": x, **params}.items()
    }
    hidden = torch.relu(leaves["x"] @ leaves["w1"] + leaves["b1"])
    ((torch.tensor(y) - (hidden @ leaves["w2"] + leaves["b2"])) ** 2).mean().backward()
    return {name: leaf.grad.numpy() for name, leaf in leaves.items()}


def layer_gradients(x, y, params) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    first = manual.Linear(x.shape[1], params["w1"].shape[1], rng=rng, dtype=x.dtype)
    second = manual.Linear(params["w2"].shape[0], y.shape[1], rng=rng, dtype=x.dtype)
    first.weight, first.bias = params["w1"], params["b1"]
    second.weight, second.bias = params["w2"], params["b2"]
    model, criterion = manual.Sequential(first, manual.ReLU(), second), manual.MSE()
    criterion.forward(model.forward(x), y)
    grad_x = model.backward(criterion.backward())
    return {
        "x": grad_x,
        "w1": first.grad_weight,
        "b1": first.grad_bias,
        "w2": second.grad_weight,
        "b2": second.grad_bias,
    }


@pytest.mark.parametrize("zero_pre_activation", [False, True], ids=["generic", "u1=0"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_hand_gradients_equal_the_engine_bit_for_bit_and_match_torch(
    torch: ModuleType, shape, dtype, zero_pre_activation: bool
) -> None:
    x, y, params = network(shape, dtype, zero_pre_activation)
    engine = engine_gradients(x, y, params)
    reference = torch_gradients(torch, x, y, params)
    loss, cache = manual.forward(x, y, params)
    chain = manual.backward(cache)
    assert loss == float(engine["loss"])
    for name in ("u1", "u2", "u3", "u4"):
        assert chain[name].dtype == engine[name].dtype
        np.testing.assert_array_equal(chain[name], engine[name], err_msg=name)
    layers = layer_gradients(x, y, params)
    closed = manual.closed_form_grads(x, y, params)
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    for name in NAMES:
        expected_shape = (x if name == "x" else params[name]).shape
        for source, grads in (("backward", chain), ("layers", layers)):
            assert grads[name].dtype == np.dtype(dtype), (source, name)
            assert grads[name].shape == expected_shape, (source, name)
            np.testing.assert_array_equal(grads[name], engine[name], err_msg=f"{source} {name}")
        assert closed[name].dtype == np.dtype(dtype)
        scale = float(np.abs(reference[name]).max())
        for source, grads in (("backward", chain), ("closed form", closed)):
            np.testing.assert_allclose(
                grads[name], reference[name], rtol=rtol, atol=rtol * scale, err_msg=source
            )
    if zero_pre_activation:  # the zero example's row of dL/dx has only ReLU-blocked paths
        assert not chain["x"][0].any()
