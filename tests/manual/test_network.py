"""The functional tutorial network: forward values, the cache, and backward against
finite differences and the closed form."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest

from chainrule import manual
from chainrule.check import compare, numerical_grad

GRAD_NAMES = ("x", "w1", "b1", "w2", "b2")


def test_forward_loss_is_the_mean_squared_error_of_the_two_layer_network(make_network) -> None:
    x, y, params = make_network(5, 3, 4, 2)
    hidden = np.maximum(x @ params["w1"] + params["b1"], 0)
    expected = np.mean((y - (hidden @ params["w2"] + params["b2"])) ** 2)
    loss, _ = manual.forward(x, y, params)
    assert isinstance(loss, float)
    assert loss == pytest.approx(expected, rel=1e-14)


def test_forward_cache_holds_u1_to_u5_with_their_shapes(make_network) -> None:
    x, y, params = make_network(5, 3, 4, 2)
    _, cache = manual.forward(x, y, params)
    shapes = {name: cache[name].shape for name in ("u1", "u2", "u3", "u4", "u5")}
    assert shapes == {"u1": (5, 4), "u2": (5, 4), "u3": (5, 2), "u4": (5, 2), "u5": (5, 2)}


def test_backward_gradients_have_exactly_the_shapes_of_what_they_differentiate(
    make_network,
) -> None:
    x, y, params = make_network(5, 3, 4, 2)
    _, cache = manual.forward(x, y, params)
    grads = manual.backward(cache)
    assert {name: grad.shape for name, grad in grads.items()} == {
        name: cache[name].shape for name in grads
    }
    assert set(grads) == {"x", "w1", "b1", "w2", "b2", "u1", "u2", "u3", "u4"}


@pytest.mark.parametrize(
    ("n_examples", "n_in", "n_hidden", "n_out"),
    [(1, 3, 4, 1), (7, 5, 6, 1), (6, 4, 5, 3), (8, 3, 1, 1), (4, 2, 3, 2)],
    ids=["N=1", "one-output", "n_out=3", "n_hidden=1", "n_out=2"],
)
def test_backward_matches_float64_finite_differences(
    make_network, n_examples: int, n_in: int, n_hidden: int, n_out: int
) -> None:
    x, y, params = make_network(n_examples, n_in, n_hidden, n_out)
    _, cache = manual.forward(x, y, params)
    grads = manual.backward(cache)
    arrays = {"x": x, **params}
    for name in GRAD_NAMES:

        def loss_at(value: np.ndarray, name: str = name) -> float:
            perturbed = {**arrays, name: value}
            return manual.forward(perturbed["x"], y, perturbed)[0]

        expected = numerical_grad(loss_at, arrays[name])
        result = compare(name, grads[name], expected, rtol=1e-6, atol=1e-9)
        assert result.close, str(result)


@pytest.mark.parametrize(("n_out", "n_hidden"), [(1, 6), (3, 6), (2, 1)])
def test_closed_form_agrees_with_the_step_by_step_chain(
    make_network, n_out: int, n_hidden: int
) -> None:
    x, y, params = make_network(40, 5, n_hidden, n_out)
    chain = manual.backward(manual.forward(x, y, params)[1])
    closed = manual.closed_form_grads(x, y, params)
    assert set(closed) == set(GRAD_NAMES)
    for name in GRAD_NAMES:
        scale = float(np.abs(closed[name]).max())
        result = compare(name, chain[name], closed[name], rtol=1e-12, atol=1e-14 * scale)
        assert result.close, str(result)


def test_float32_inputs_give_float32_loss_cache_and_gradients(make_network) -> None:
    x, y, params = make_network(6, 3, 4, 1, dtype=np.float32)
    _, cache = manual.forward(x, y, params)
    grads = manual.backward(cache)
    assert {grad.dtype for grad in grads.values()} == {np.dtype(np.float32)}
    assert cache["u5"].dtype == np.float32


def test_integer_inputs_are_computed_in_float64(make_network) -> None:
    _, _, params = make_network(3, 2, 4, 1)
    x = np.array([[1, 0], [0, 1], [1, 1]])
    y = np.array([[1], [2], [3]])
    _, cache = manual.forward(x, y, params)
    assert cache["x"].dtype == np.float64
    assert cache["y"].dtype == np.float64


def test_one_output_backward_equals_the_general_matmul_path(make_network) -> None:
    x, y, params = make_network(9, 4, 5, 1)
    cache = manual.forward(x, y, params)[1]
    grads = manual.backward(cache)
    assert np.array_equal(grads["u2"], grads["u3"] @ params["w2"].T)


@pytest.mark.torch
def test_integer_targets_keep_a_float32_network_in_float32_as_torch(
    torch: ModuleType, make_network
) -> None:
    # An int64 target made the whole float32 network float64 (NumPy's promotion), gradients
    # included; in PyTorch an integer tensor does not promote float32, so its gradients stay
    # float32.
    x, _, params = make_network(5, 3, 1, 1, dtype=np.float32)
    y = np.array([[1], [0], [2], [1], [3]])
    grads = manual.backward(manual.forward(x, y, params)[1])
    leaves = {name: torch.tensor(value, requires_grad=True) for name, value in params.items()}
    hidden = torch.relu(torch.tensor(x) @ leaves["w1"] + leaves["b1"])
    ((torch.tensor(y) - (hidden @ leaves["w2"] + leaves["b2"])) ** 2).mean().backward()
    for name, leaf in leaves.items():
        assert grads[name].dtype == np.float32
        np.testing.assert_allclose(grads[name], leaf.grad.numpy(), rtol=1e-5, atol=1e-7)
