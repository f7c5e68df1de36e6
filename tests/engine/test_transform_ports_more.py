"""More composition cases for the transformations, in our own words after HIPS autograd's
test_wrappers / test_jacobian and functorch's eager-transform tests: perturbation confusion
with a closure over a Tensor that requires grad, the jvp/vjp transposition identity on random
linear maps, Jacobians of several outputs in several inputs, forward-over-forward nesting,
and using gradcheck to check a second derivative."""

from __future__ import annotations

import warnings
from types import ModuleType

import numpy as np
import pytest
from engine_cases import relative_error
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.check import gradcheck

pytestmark = pytest.mark.torch


def _array(value) -> np.ndarray:
    return np.asarray(value.detach().numpy() if isinstance(value, cr.Tensor) else value)


# ------------------------------------------------------------------ perturbation confusion
def test_inner_grad_closing_over_the_outer_argument_is_differentiated_once() -> None:
    # d/dx [d/dy (x y) at y = 1] = d/dx x = 1; confusing the two perturbations gives 2.
    derivative = cr.grad(lambda x: cr.grad(lambda y: x * y)(1.0))(2.0)
    assert float(_array(derivative)) == 1.0


def test_a_closed_over_tensor_that_requires_grad_is_a_constant_of_the_argument() -> None:
    # grad(x -> x w)(w) = w: the argument is a fresh variable even when it is w itself, as
    # in JAX and torch.func; w's own .grad is left alone, and the result is differentiable
    # in w (d/dw w = 1).
    w = cr.tensor(3.0, dtype=np.float64, requires_grad=True)
    derivative = cr.grad(lambda x: x * w * w)(w)
    assert float(_array(derivative)) == 9.0
    assert w.grad is None
    assert derivative.requires_grad
    derivative.backward()
    assert w.grad is not None
    assert float(w.grad.numpy()) == 6.0


def test_hessian_in_the_argument_treats_the_closure_as_constant(
    torch: ModuleType,
) -> None:
    values = np.array([0.4, -1.1, 0.9])
    w = cr.tensor(values, requires_grad=True)
    ours = cr.hessian(lambda x: (x * x * w).sum() * (x * w).sum())(w)
    tw = torch.tensor(values, requires_grad=True)
    theirs = torch.autograd.functional.hessian(
        lambda x: (x * x * tw).sum() * (x * tw).sum(), tw.detach()
    )
    assert relative_error(_array(ours), theirs.detach().numpy()) <= 1e-13
    assert w.grad is None


# ------------------------------------------------------------------ jvp and vjp, transposed
SHAPES = st.sampled_from([((3,), (4,)), ((2, 3), (5,)), ((4,), (2, 2)), ((), (3,)), ((3,), ())])


@settings(max_examples=20, deadline=None)
@given(shapes=SHAPES, seed=st.integers(0, 2**32 - 1))
def test_jvp_and_vjp_of_a_random_linear_map_are_transposes(shapes, seed: int) -> None:
    # <u, J v> = <J^T u, v> for f(x) = M x (M random, x of any shape), and both equal u^T M v.
    in_shape, out_shape = shapes
    rng = np.random.default_rng(seed)
    matrix = rng.normal(size=(int(np.prod(out_shape)), int(np.prod(in_shape))))

    def f(x):
        return (cr.tensor(matrix) @ x.reshape(-1)).reshape(out_shape)

    x, v, u = rng.normal(size=in_shape), rng.normal(size=in_shape), rng.normal(size=out_shape)
    _, pushed = cr.jvp(f, (cr.tensor(x),), (cr.tensor(v),))
    _, vjp_fn = cr.vjp(f, cr.tensor(x))
    (pulled,) = vjp_fn(cr.tensor(u))
    forward = float(np.sum(u * _array(pushed)))
    backward = float(np.sum(_array(pulled) * v))
    exact = float(u.reshape(-1) @ matrix @ v.reshape(-1))
    assert _array(pushed).shape == out_shape
    assert _array(pulled).shape == in_shape
    assert forward == pytest.approx(exact, rel=1e-12, abs=1e-12)
    assert backward == pytest.approx(exact, rel=1e-12, abs=1e-12)


def test_jvp_and_vjp_of_a_nonlinear_map_are_transposes_at_a_point() -> None:
    # The identity holds for the linearisation at x of any differentiable map.
    rng = np.random.default_rng(3)
    a = rng.normal(size=(2, 3))

    def f(x, y):
        return (cr.tanh(cr.tensor(a) @ x) * y.sum(), (x * x).sum() * y)

    x, y = rng.normal(size=3), rng.normal(size=4)
    vx, vy = rng.normal(size=3), rng.normal(size=4)
    u1, u2 = rng.normal(size=2), rng.normal(size=4)
    _, (p1, p2) = cr.jvp(f, (cr.tensor(x), cr.tensor(y)), (cr.tensor(vx), cr.tensor(vy)))
    _, vjp_fn = cr.vjp(f, cr.tensor(x), cr.tensor(y))
    gx, gy = vjp_fn((cr.tensor(u1), cr.tensor(u2)))
    forward = float(u1 @ _array(p1) + u2 @ _array(p2))
    backward = float(_array(gx) @ vx + _array(gy) @ vy)
    assert forward == pytest.approx(backward, rel=1e-12)


# ------------------------------------------------------------------ Jacobians
def _several(x, y):
    # outputs of three shapes from inputs of two, in chainrule or torch; one ignores y
    return ((x.reshape(2, 1) * y).sin(), (x * x).sum() * y, x.prod())


@pytest.mark.parametrize("transform", ["jacrev", "jacfwd"])
def test_jacobian_of_several_outputs_in_several_inputs_matches_torch(
    torch: ModuleType, transform: str
) -> None:
    x, y = np.array([0.7, -1.3]), np.array([0.2, 1.5, -0.4])
    ours = getattr(cr, transform)(_several, argnums=(0, 1))(x, y)
    theirs = torch.autograd.functional.jacobian(_several, (torch.tensor(x), torch.tensor(y)))
    assert len(ours) == 3
    for output, (ours_row, theirs_row) in enumerate(zip(ours, theirs, strict=True)):
        assert len(ours_row) == 2
        for argument, (block, expected) in enumerate(zip(ours_row, theirs_row, strict=True)):
            got = _array(block)
            assert got.shape == tuple(expected.shape), (output, argument)
            assert relative_error(got, expected.numpy()) <= 1e-13, (output, argument)


def test_jacobian_of_an_output_that_ignores_an_input_is_zeros_of_the_block_shape() -> None:
    x, y = np.array([0.7, -1.3]), np.array([0.2, 1.5, -0.4])
    ours = cr.jacrev(lambda a, b: _several(a, b)[2], argnums=1)(x, y)
    np.testing.assert_array_equal(_array(ours), np.zeros(3))


def test_forward_over_forward_third_derivatives_match_torch(torch: ModuleType) -> None:
    def ours(a):
        return cr.tanh(a.reshape(3, 1) * a).sum(axis=0) * a.sin()

    def theirs(a):
        return torch.tanh(a.reshape(3, 1) * a).sum(dim=0) * a.sin()

    x = np.array([0.3, -1.2, 0.8])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        expected = torch.func.jacfwd(torch.func.jacfwd(torch.func.jacfwd(theirs)))(torch.tensor(x))
    for nested in (
        cr.jacfwd(cr.jacfwd(cr.jacfwd(ours))),
        cr.jacfwd(cr.jacrev(cr.jacrev(ours))),
        cr.jacrev(cr.jacfwd(cr.jacrev(ours))),
    ):
        got = _array(nested(x))
        assert got.shape == (3, 3, 3, 3)
        assert relative_error(got, expected.numpy()) <= 1e-12


# ------------------------------------------------------------------ gradcheck, second order
def _tanh_cubed(t):
    return (cr.tanh(t) ** 3).sum() + (t[0] * t[1:]).sum()


@pytest.mark.parametrize(
    ("wrong", "name"),
    [
        (lambda h: h * 1.01, "one percent too large"),
        (lambda h: h - np.array([0.0, 1.0, 1.0, 1.0]) * 0.05, "a cross term dropped"),
        (lambda h: h[::-1].copy(), "entries swapped"),
    ],
)
def test_gradcheck_of_the_gradient_refuses_a_wrong_hessian_vector_product(wrong, name) -> None:
    # A second derivative is checked as the first derivative of x -> <grad f(x), v>.
    rng = np.random.default_rng(9)
    x, v = rng.normal(size=4), rng.normal(size=4)

    def directional(arrays):
        return float(_array(cr.grad(_tanh_cubed)(arrays["x"])) @ v)

    right = _array(cr.hvp(_tanh_cubed, x, v))
    assert gradcheck(directional, {"x": x}, {"x": right}).ok
    assert not gradcheck(directional, {"x": x}, {"x": wrong(right)}).ok, name
