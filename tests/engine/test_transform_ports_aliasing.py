"""Outputs that alias each other or the arguments, ported in our own words from functorch's
test_eager_transforms (unrelated and repeated outputs of vjp, jacobians of the identity) and
HIPS autograd's Gauss-Newton product: each against torch.func, in float64."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest

import chainrule as cr

pytestmark = pytest.mark.torch

RNG = np.random.default_rng(99)
X, Y, V, W = (RNG.normal(size=(3,)) for _ in range(4))


def close(got, expected) -> None:
    assert got.shape == tuple(expected.shape)
    assert got.dtype == expected.numpy().dtype
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-13, atol=1e-15)


def test_vjp_of_an_output_repeated_and_an_unrelated_argument(torch: ModuleType) -> None:
    # f(x, y) = (y, y): x gets zeros, y the sum of both cotangents.
    _, pull = cr.vjp(lambda a, b: (b, b), X, Y)
    _, expected_pull = torch.func.vjp(lambda a, b: (b, b), torch.tensor(X), torch.tensor(Y))
    for got, expected in zip(
        pull((V, W)), expected_pull((torch.tensor(V), torch.tensor(W))), strict=True
    ):
        close(got, expected)


def test_vjp_of_the_argument_returned_itself_and_scaled(torch: ModuleType) -> None:
    def f(a):
        return a, a * 1.0, a

    output, pull = cr.vjp(f, X)
    expected_output, expected_pull = torch.func.vjp(f, torch.tensor(X))
    for got, expected in zip(output, expected_output, strict=True):
        close(got, expected)
    (got,) = pull((V, W, V))
    (expected,) = expected_pull((torch.tensor(V), torch.tensor(W), torch.tensor(V)))
    close(got, expected)


@pytest.mark.parametrize("transform", ["jacrev", "jacfwd"])
def test_jacobian_of_swapped_arguments_is_two_identity_blocks(
    torch: ModuleType, transform: str
) -> None:
    def f(a, b):
        return b, a

    got = getattr(cr, transform)(f, argnums=(0, 1))(X, Y)
    expected = torch.func.jacrev(f, argnums=(0, 1))(torch.tensor(X), torch.tensor(Y))
    for got_row, expected_row in zip(got, expected, strict=True):
        for block, expected_block in zip(got_row, expected_row, strict=True):
            close(block, expected_block)


def test_gauss_newton_vector_product_by_jvp_then_vjp(torch: ModuleType) -> None:
    # G v = J^T H_loss J v for a model output z(x) and a loss of z: forward, then the
    # loss's Hessian, then reverse (HIPS autograd's make_ggnvp, as a composition).
    def model(a):
        return (a.reshape(3, 1) * a).tanh().sum(axis=0)

    def loss_hessian_product(z, u):  # loss = sum(z ** 4) / 4, so H u = 3 z^2 u
        return 3.0 * z * z * u

    output, pushed = cr.jvp(model, (X,), (V,))
    _, pull = cr.vjp(model, X)
    (got,) = pull(loss_hessian_product(output, pushed))

    def torch_model(a):
        return (a.reshape(3, 1) * a).tanh().sum(dim=0)

    x = torch.tensor(X)
    jacobian = torch.func.jacrev(torch_model)(x)
    z = torch_model(x)
    expected = jacobian.T @ torch.diag(3.0 * z * z) @ jacobian @ torch.tensor(V)
    close(got, expected)
