"""grad, value_and_grad, vjp, jacobian, hessian and hvp against torch.autograd.functional,
with arrays and Tensors as inputs and outputs read back with np.asarray."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest
from engine_cases import relative_error

import chainrule as cr

pytestmark = pytest.mark.torch

RNG = np.random.default_rng(6)
X = RNG.normal(size=(3, 2))
Y = RNG.normal(size=(2,))


def ours_f(x, y):
    return (cr.tanh(x @ y) * cr.exp(x[:, 0])).sum()


def torch_f(torch, x, y):
    return (torch.tanh(x @ y) * torch.exp(x[:, 0])).sum()


def ours_vector_f(x):
    return cr.softmax(x * x, axis=-1)


def torch_vector_f(torch, x):
    return torch.softmax(x * x, dim=-1)


def _torch_grads(torch, x, y):
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.tensor(y, requires_grad=True)
    value = torch_f(torch, xt, yt)
    return value.item(), [g.numpy() for g in torch.autograd.grad(value, (xt, yt))]


@pytest.mark.parametrize("as_tensor", [False, True], ids=["arrays", "tensors"])
def test_grad_with_integer_argnums(torch: ModuleType, as_tensor: bool) -> None:
    x, y = (cr.tensor(X), cr.tensor(Y)) if as_tensor else (X, Y)
    ours = cr.grad(ours_f)(x, y)
    _, expected = _torch_grads(torch, X, Y)
    assert relative_error(np.asarray(ours), expected[0]) <= 1e-12


def test_grad_with_tuple_argnums(torch: ModuleType) -> None:
    grad_x, grad_y = cr.grad(ours_f, argnums=(0, 1))(X, Y)
    _, expected = _torch_grads(torch, X, Y)
    assert relative_error(np.asarray(grad_x), expected[0]) <= 1e-12
    assert relative_error(np.asarray(grad_y), expected[1]) <= 1e-12


def test_grad_with_second_argnum(torch: ModuleType) -> None:
    grad_y = cr.grad(ours_f, argnums=1)(X, Y)
    _, expected = _torch_grads(torch, X, Y)
    assert relative_error(np.asarray(grad_y), expected[1]) <= 1e-12


def test_value_and_grad(torch: ModuleType) -> None:
    value, grad_x = cr.value_and_grad(ours_f)(X, Y)
    expected_value, expected = _torch_grads(torch, X, Y)
    assert relative_error(np.asarray(value), np.asarray(expected_value)) <= 1e-14
    assert relative_error(np.asarray(grad_x), expected[0]) <= 1e-12


def test_grad_leaves_the_input_tensor_untouched() -> None:
    x = cr.tensor(X, requires_grad=False)
    cr.grad(ours_f)(x, Y)
    assert x.grad is None
    assert not x.requires_grad


def test_grad_refuses_a_non_scalar_function() -> None:
    with pytest.raises(TypeError, match=r"grad: the function must return a scalar, got shape "
                                        r"\(3, 2\)"):
        cr.grad(ours_vector_f)(X)


def test_vjp(torch: ModuleType) -> None:
    cotangent = RNG.normal(size=X.shape)
    value, vjp_fn = cr.vjp(ours_vector_f, X)
    (ours,) = vjp_fn(cotangent)
    expected_value, expected = torch.autograd.functional.vjp(
        lambda t: torch_vector_f(torch, t), torch.from_numpy(X), torch.from_numpy(cotangent)
    )
    assert relative_error(np.asarray(value), expected_value.numpy()) <= 1e-14
    assert relative_error(np.asarray(ours), expected.numpy()) <= 1e-12


def test_vjp_refuses_a_cotangent_of_the_wrong_shape() -> None:
    _, vjp_fn = cr.vjp(ours_vector_f, X)
    with pytest.raises(ValueError, match=r"vjp: the cotangent has shape \(2,\) but the output "
                                         r"has shape \(3, 2\)"):
        vjp_fn(np.ones(2))


@pytest.mark.parametrize("as_tensor", [False, True], ids=["arrays", "tensors"])
def test_jacobian(torch: ModuleType, as_tensor: bool) -> None:
    ours = cr.jacobian(ours_vector_f)(cr.tensor(X) if as_tensor else X)
    expected = torch.autograd.functional.jacobian(
        lambda t: torch_vector_f(torch, t), torch.from_numpy(X)
    )
    assert relative_error(np.asarray(ours), expected.numpy()) <= 1e-12


def test_hessian(torch: ModuleType) -> None:
    ours = cr.hessian(ours_f)(X, Y)
    expected = torch.autograd.functional.hessian(
        lambda t: torch_f(torch, t, torch.from_numpy(Y)), torch.from_numpy(X)
    )
    assert relative_error(np.asarray(ours), expected.numpy()) <= 1e-12


def test_hessian_with_second_argnum(torch: ModuleType) -> None:
    ours = cr.hessian(ours_f, argnums=1)(X, Y)
    expected = torch.autograd.functional.hessian(
        lambda t: torch_f(torch, torch.from_numpy(X), t), torch.from_numpy(Y)
    )
    assert relative_error(np.asarray(ours), expected.numpy()) <= 1e-12


@pytest.mark.parametrize("as_tensor", [False, True], ids=["arrays", "tensors"])
def test_hvp(torch: ModuleType, as_tensor: bool) -> None:
    direction = RNG.normal(size=X.shape)

    def ours_scalar(x):
        return ours_f(x, Y)

    point = cr.tensor(X) if as_tensor else X
    ours = cr.hvp(ours_scalar, point, cr.tensor(direction) if as_tensor else direction)
    _, expected = torch.autograd.functional.hvp(
        lambda t: torch_f(torch, t, torch.from_numpy(Y)), torch.from_numpy(X),
        torch.from_numpy(direction),
    )
    assert relative_error(np.asarray(ours), expected.numpy()) <= 1e-12


def test_hvp_refuses_a_direction_of_the_wrong_shape() -> None:
    with pytest.raises(ValueError, match=r"hvp: v has shape \(2,\) but x has shape \(3, 2\)"):
        cr.hvp(lambda x: ours_f(x, Y), X, np.ones(2))


def test_nested_grad_gives_the_second_derivative() -> None:
    second = cr.grad(cr.grad(lambda x: (x**3).sum()))
    np.testing.assert_allclose(np.asarray(second(np.array(2.0))), 12.0, rtol=1e-15)


def test_argnums_out_of_range() -> None:
    with pytest.raises(ValueError, match=r"grad: argnums=2 but the function was called with 2"):
        cr.grad(ours_f, argnums=2)(X, Y)
