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
    with pytest.raises(
        TypeError,
        match=r"grad: the function must return a scalar, got shape "
        r"\(3, 2\)",
    ):
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
    with pytest.raises(
        ValueError,
        match=r"vjp: the cotangent has shape \(2,\) but the output "
        r"has shape \(3, 2\)",
    ):
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
        lambda t: torch_f(torch, t, torch.from_numpy(Y)),
        torch.from_numpy(X),
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


# ----------------------------------------------------------------- nested transforms
# Transforms compose as JAX's do: an inner transform records its backward whenever what it
# differentiates depends on a value an outer transform (or a tensor requiring grad) varies.
X0, Y0 = np.array(1.5), np.array(-0.7)


def test_grad_of_grad_across_argnums_gives_the_mixed_partial() -> None:
    # f = x^3 y^2;  d/dy df/dx = 6 x^2 y.
    mixed = cr.grad(cr.grad(lambda x, y: x**3 * y**2, argnums=0), argnums=1)
    assert relative_error(np.asarray(mixed(X0, Y0)), 6 * X0**2 * Y0) <= 1e-15


def test_grad_through_a_closure_over_the_outer_argument() -> None:
    # f(x) = x * d/dy (x y) = x^2, so df/dx = 2x (not x).
    derivative = cr.grad(lambda x: x * cr.grad(lambda y: x * y)(2.0))
    assert relative_error(np.asarray(derivative(np.array(3.0))), 6.0) <= 1e-15


def test_inner_grad_at_the_outer_argument_does_not_confuse_perturbations() -> None:
    # d/dy (x y) at y = x is x, so f(x) = x^2 and df/dx = 2x; differentiating the inner
    # function with respect to the outer x itself would give d/dx (x x) = 2x and f' = 4x.
    derivative = cr.grad(lambda x: x * cr.grad(lambda y: x * y)(x))
    assert relative_error(np.asarray(derivative(X0)), 2 * X0) <= 1e-15


def test_grad_with_one_tensor_passed_as_two_arguments_gives_each_partial() -> None:
    x = cr.tensor(X0, requires_grad=True)
    grad_a, grad_b = cr.grad(lambda a, b: a**2 * b, argnums=(0, 1))(x, x)
    # d/da (a^2 b) = 2ab,  d/db = a^2, both at a = b = x.
    assert relative_error(grad_a.detach().numpy(), 2 * X0**2) <= 1e-15
    assert relative_error(grad_b.detach().numpy(), X0**2) <= 1e-15


def test_third_derivative_with_respect_to_a_second_argument() -> None:
    # f = x exp(x y) + x^2 y^4;  d^3f/dy^3 = x^4 exp(x y) + 24 x^2 y.
    def f(x, y):
        return x * cr.exp(x * y) + x**2 * y**4

    third = cr.grad(cr.grad(cr.grad(f, argnums=1), argnums=1), argnums=1)
    expected = X0**4 * np.exp(X0 * Y0) + 24 * X0**2 * Y0
    assert relative_error(np.asarray(third(X0, Y0)), expected) <= 1e-14


def test_mixed_third_derivative_matches_torch(torch: ModuleType) -> None:
    # d/dx d^2/dy^2 of a tanh/exp/polynomial mix, against three torch.autograd.grad calls.
    def f(x, y):
        return cr.tanh(x * y) * cr.exp(y) + x**3 * y**2

    ours = cr.grad(cr.grad(cr.grad(f, argnums=1), argnums=1), argnums=0)(X0, Y0)
    x_t, y_t = torch.tensor(X0, requires_grad=True), torch.tensor(Y0, requires_grad=True)
    value = torch.tanh(x_t * y_t) * torch.exp(y_t) + x_t**3 * y_t**2
    (first,) = torch.autograd.grad(value, y_t, create_graph=True)
    (second,) = torch.autograd.grad(first, y_t, create_graph=True)
    (expected,) = torch.autograd.grad(second, x_t)
    assert relative_error(np.asarray(ours), expected.numpy()) <= 1e-14


def test_hessian_nested_inside_grad() -> None:
    # H_x of sum(exp(y x)) is diag(y^2 exp(y x)); d/dy of its trace is
    # sum(2 y exp(y x) + y^2 x exp(y x)).
    x = np.array([0.3, -1.2, 0.8])
    eye = np.eye(3)

    def trace_of_hessian(y):
        return (cr.hessian(lambda v, w: cr.exp(w * v).sum())(x, y) * eye).sum()

    ours = cr.grad(trace_of_hessian)(Y0)
    expected = np.sum(2 * Y0 * np.exp(Y0 * x) + Y0**2 * x * np.exp(Y0 * x))
    assert relative_error(np.asarray(ours), expected) <= 1e-14


def test_hessian_with_respect_to_a_second_argument_nested_inside_grad() -> None:
    # f = x^2 y^3 with y a vector: H_y = diag(6 x^2 y), so d/dx sum(H_y) = 12 x sum(y).
    y = np.array([0.5, -2.0])

    def hessian_sum(x):
        return cr.hessian(lambda a, b: (a**2 * b**3).sum(), argnums=1)(x, y).sum()

    assert relative_error(np.asarray(cr.grad(hessian_sum)(X0)), 12 * X0 * y.sum()) <= 1e-15


def test_jacobian_nested_inside_grad() -> None:
    # J_x of tanh(y x) is diag(y sech^2(y x)); d/dy of its sum is
    # sum(sech^2(y x) - 2 y x tanh(y x) sech^2(y x)).
    x = np.array([0.3, -1.2, 0.8])

    def jacobian_sum(y):
        return cr.jacobian(lambda v: cr.tanh(y * v))(x).sum()

    sech2 = 1 - np.tanh(Y0 * x) ** 2
    expected = np.sum(sech2 - 2 * Y0 * x * np.tanh(Y0 * x) * sech2)
    assert relative_error(np.asarray(cr.grad(jacobian_sum)(Y0)), expected) <= 1e-14


def test_grad_inside_a_python_loop_is_differentiable() -> None:
    # Unrolled gradient descent on (x - y)^2 / 2: x_{t+1} = (1 - lr) x_t + lr y, so after
    # T steps from a constant x_0, d x_T / dy = 1 - (1 - lr)^T.
    lr, steps = 0.3, 4

    def descend(y):
        x = np.array(2.0)
        for _ in range(steps):
            x = x - lr * cr.grad(lambda v, w: (v - w) ** 2 / 2)(x, y)
        return x

    expected = 1 - (1 - lr) ** steps
    assert relative_error(np.asarray(cr.grad(descend)(Y0)), expected) <= 1e-14


def test_value_and_grad_nested_inside_grad() -> None:
    # value + gradient of x^3 is x^3 + 3 x^2, whose derivative is 3 x^2 + 6 x.
    def value_plus_slope(x):
        value, slope = cr.value_and_grad(lambda v: v**3)(x)
        return value + slope

    ours = cr.grad(value_plus_slope)(X0)
    assert relative_error(np.asarray(ours), 3 * X0**2 + 6 * X0) <= 1e-15


def test_value_and_grad_of_a_gradient() -> None:
    value, slope = cr.value_and_grad(cr.grad(lambda v: v**3))(X0)
    assert relative_error(np.asarray(value), 3 * X0**2) <= 1e-15
    assert relative_error(np.asarray(slope), 6 * X0) <= 1e-15


def test_grad_of_a_function_closing_over_a_parameter_is_differentiable_in_it() -> None:
    # d/dx (w x^2) = 2 w x, whose derivative in w is 2 x.
    w = cr.tensor(np.array(0.4), requires_grad=True)
    slope = cr.grad(lambda x: w * x**2)(X0)
    slope.backward()
    assert w.grad is not None
    assert relative_error(w.grad.numpy(), 2 * X0) <= 1e-15


def test_inner_result_independent_of_the_outer_argument_is_a_constant() -> None:
    inner_calls = []

    def f(x):
        slope = cr.grad(lambda y: y**2)(np.array(3.0))
        inner_calls.append(slope)
        return slope * x

    assert relative_error(np.asarray(cr.grad(f)(X0)), 6.0) <= 1e-15
    assert not inner_calls[0].requires_grad


def test_outer_grad_of_a_constant_inner_result_is_zero() -> None:
    x = np.array([1.0, 2.0])
    ours = cr.grad(lambda v: cr.grad(lambda y: (y * y).sum())(np.array([3.0])).sum())(x)
    assert np.asarray(ours).shape == (2,)
    assert np.all(np.asarray(ours) == 0)


def test_top_level_results_are_not_recorded() -> None:
    value, slope = cr.value_and_grad(lambda v: (v**3).sum())(X)
    assert not value.requires_grad
    assert not slope.requires_grad


# ----------------------------------------------------------------- through vjp
V0 = RNG.normal(size=X.shape)
U0 = RNG.normal(size=X.shape)


def _torch_vector_jacobian(torch):
    jacobian = torch.autograd.functional.jacobian(
        lambda t: torch_vector_f(torch, t), torch.from_numpy(X)
    ).numpy()
    return jacobian.reshape(X.size, X.size)


def test_vjp_is_differentiable_in_the_cotangent(torch: ModuleType) -> None:
    # sum(J^T v) is linear in v with gradient J 1.
    ours = cr.grad(lambda v: cr.vjp(ours_vector_f, X)[1](v)[0].sum())(V0)
    expected = (_torch_vector_jacobian(torch) @ np.ones(X.size)).reshape(X.shape)
    assert relative_error(np.asarray(ours), expected) <= 1e-12


def test_jvp_by_double_vjp_matches_torch(torch: ModuleType) -> None:
    # <J^T v, u> is linear in v with gradient J u: the jvp from two vjps.
    def pairing(v):
        return (cr.vjp(ours_vector_f, X)[1](v)[0] * U0).sum()

    ours = cr.grad(pairing)(np.zeros(X.shape))
    _, expected = torch.autograd.functional.jvp(
        lambda t: torch_vector_f(torch, t), torch.from_numpy(X), torch.from_numpy(U0)
    )
    assert relative_error(np.asarray(ours), expected.numpy()) <= 1e-12


def test_vjp_with_a_recorded_cotangent_is_differentiable_in_the_point(torch: ModuleType) -> None:
    # d/dx <J(x)^T v(x), u> with v = x * x depending on the point too, against torch.
    def ours_pairing(x):
        _, vjp_fn = cr.vjp(ours_vector_f, x)
        return (vjp_fn(x * x)[0] * U0).sum()

    x_t = torch.tensor(X, requires_grad=True)
    (pulled,) = torch.autograd.grad(torch_vector_f(torch, x_t), x_t, x_t * x_t, create_graph=True)
    (expected,) = torch.autograd.grad((pulled * torch.from_numpy(U0)).sum(), x_t)
    assert relative_error(np.asarray(cr.grad(ours_pairing)(X)), expected.numpy()) <= 1e-12


def test_hvp_is_differentiable_in_the_direction(torch: ModuleType) -> None:
    # sum(H v) is linear in v with gradient H^T 1 = H 1.
    def scalar(x):
        return ours_f(x, Y)

    ours = cr.grad(lambda v: cr.hvp(scalar, X, v).sum())(V0)
    hessian = (
        torch.autograd.functional.hessian(
            lambda t: torch_f(torch, t, torch.from_numpy(Y)), torch.from_numpy(X)
        )
        .numpy()
        .reshape(X.size, X.size)
    )
    expected = (hessian.T @ np.ones(X.size)).reshape(X.shape)
    assert relative_error(ours.detach().numpy(), expected) <= 1e-12


def test_grad_at_a_value_whose_history_was_freed_by_backward() -> None:
    # The inner backward stops at its argument: it needs nothing recorded before it.
    w = cr.tensor(X, requires_grad=True)
    hidden = w * 2.0
    hidden.sum().backward()
    slope = cr.grad(lambda v: (v**3).sum())(hidden)
    assert relative_error(slope.detach().numpy(), 3 * (2.0 * X) ** 2) <= 1e-15


def test_repeated_argnums_are_refused() -> None:
    with pytest.raises(ValueError, match=r"grad: argnums=\(0, 0\) names argument 0 twice"):
        cr.grad(ours_f, argnums=(0, 0))(X, Y)


def test_jacobian_with_a_tuple_of_argnums_gives_one_jacobian_per_argument() -> None:
    # jacobian is jacrev: d(a * b)/da = diag(b), d(a * b)/db = diag(a).
    a, b = X[:, 0], X[:, 1]
    jacobian_a, jacobian_b = cr.jacobian(lambda u, v: u * v, argnums=(0, 1))(a, b)
    assert relative_error(np.asarray(jacobian_a), np.diag(b)) <= 1e-15
    assert relative_error(np.asarray(jacobian_b), np.diag(a)) <= 1e-15


def test_nested_results_keep_no_graph_once_every_transform_has_returned() -> None:
    # d/dy (x y^2) at y = 2 is 4x, so f = 4 x^2 and f' = 8x: a constant at top level.
    slope = cr.grad(lambda x: x * cr.grad(lambda y: x * y**2)(np.array(2.0)))(X0)
    assert relative_error(np.asarray(slope), 8 * X0) <= 1e-15
    assert not slope.requires_grad


def test_grad_through_vjp_keeps_no_graph_at_top_level() -> None:
    slope = cr.grad(lambda v: cr.vjp(ours_vector_f, X)[1](v)[0].sum())(V0)
    assert not slope.requires_grad
