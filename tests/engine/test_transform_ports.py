"""Composition cases for the transformations, ported in our own words from peer libraries'
suites (HIPS autograd's higher-order tests, functorch's test_eager_transforms): each checked
against torch.func or an exact value, in float64."""

from __future__ import annotations

import warnings
from types import ModuleType

import numpy as np
import pytest

import chainrule as cr

pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def func(torch: ModuleType) -> ModuleType:
    # torch.func's first forward-mode call loads decompositions that warn of a deprecation
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.func.jvp(torch.sin, (torch.ones(1),), (torch.ones(1),))
    return torch.func


def _f(x):
    # reuses x three times and broadcasts a column against a row
    column = x.reshape(3, 1)
    return (column * x).tanh() * x.sin()


def test_grad_of_grad_of_the_identity_is_zero() -> None:
    # autograd's test_grad_identity: d/dx [d/dy y at y = x] = d/dx 1 = 0, not None or 1
    second = cr.grad(lambda x: cr.grad(lambda y: y)(x))(np.float64(2.5))
    np.testing.assert_array_equal(np.asarray(second), 0.0)
    assert np.asarray(second).dtype == np.float64


def test_third_derivative_of_sine_by_three_nested_grads() -> None:
    # autograd's test_third_derivative: d3/dx3 sin x = -cos x
    third = cr.grad(cr.grad(cr.grad(lambda x: x.sin())))
    for point in (-1.3, 0.0, 0.7):
        assert float(np.asarray(third(np.float64(point)))) == pytest.approx(-np.cos(point))


def test_jacobian_of_a_jacobian_has_both_input_shapes(torch: ModuleType, func: ModuleType) -> None:
    # autograd's test_jacobian_higher_order: shape output + input + input
    x = np.array([0.3, -1.2, 0.8])
    ours = np.asarray(cr.jacrev(cr.jacrev(lambda a: _f(a)))(x))
    theirs = func.jacrev(func.jacrev(lambda a: _f(a)))(torch.tensor(x)).numpy()
    assert ours.shape == theirs.shape == (3, 3, 3, 3)
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-13)


def test_vjp_of_a_vjp_gives_the_jvp(torch: ModuleType, func: ModuleType) -> None:
    # functorch's vjp-of-vjp composition: the vjp of u -> J^T u, pulled back along t, is J t
    x = np.array([0.3, -1.2, 0.8])
    tangent = np.array([1.0, 0.5, -2.0])
    _, vjp_fn = cr.vjp(lambda a: _f(a), x)
    _, vjp_of_vjp = cr.vjp(lambda u: vjp_fn(u)[0], np.zeros((3, 3)))
    (ours,) = vjp_of_vjp(tangent)
    _, theirs = func.jvp(lambda a: _f(a), (torch.tensor(x),), (torch.tensor(tangent),))
    np.testing.assert_allclose(np.asarray(ours), theirs.numpy(), rtol=1e-12, atol=1e-14)


def test_nested_jvp_does_not_confuse_perturbations() -> None:
    # Siskind and Pearlmutter's example in forward mode: d/dx [x * d/dy (x + y)] = 1
    def inner(x):
        return cr.jvp(lambda y: x + y, (np.float64(1.0),), (np.float64(1.0),))[1]

    _, outer = cr.jvp(lambda x: x * inner(x), (np.float64(1.0),), (np.float64(1.0),))
    np.testing.assert_array_equal(np.asarray(outer), 1.0)


def test_grad_through_a_function_that_takes_a_vjp(torch: ModuleType, func: ModuleType) -> None:
    # functorch's grad-of-vjp composition: d/dx <J(x)^T u, u>
    x = np.array([0.3, -1.2, 0.8])
    u = np.linspace(-1.0, 1.0, 9).reshape(3, 3)

    def ours(a):
        _, vjp_fn = cr.vjp(lambda b: _f(b), a)
        return (vjp_fn(u)[0] ** 2).sum()

    def theirs(a):
        _, vjp_fn = func.vjp(lambda b: _f(b), a)
        return (vjp_fn(torch.tensor(u))[0] ** 2).sum()

    np.testing.assert_allclose(
        np.asarray(cr.grad(ours)(x)),
        func.grad(theirs)(torch.tensor(x)).numpy(),
        rtol=1e-11,
        atol=1e-14,
    )
