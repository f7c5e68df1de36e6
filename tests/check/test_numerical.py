"""Central differences, always in float64."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.check import directional_derivative, numerical_grad


def test_numerical_grad_of_a_cubic_matches_its_derivative() -> None:
    x = np.array([[0.5, -1.0], [2.0, 3.0]])
    grad = numerical_grad(lambda v: float((v**3).sum()), x)
    np.testing.assert_allclose(grad, 3 * x**2, rtol=1e-8)


def test_numerical_grad_evaluates_in_float64_and_returns_x_shape() -> None:
    seen: list[np.dtype] = []

    def f(v: np.ndarray) -> float:
        seen.append(v.dtype)
        return float((v**2).sum())

    grad = numerical_grad(f, np.ones((2, 3), dtype=np.float32))
    assert set(seen) == {np.dtype(np.float64)}
    assert grad.shape == (2, 3)
    assert grad.dtype == np.float64


def test_numerical_grad_leaves_its_input_unchanged() -> None:
    x = np.array([0.1, 0.2, 0.3])
    before = x.copy()
    numerical_grad(lambda v: float(np.sin(v).sum()), x)
    assert np.array_equal(x, before)


def test_directional_derivative_is_the_gradient_along_the_direction() -> None:
    x = np.array([1.0, 2.0, -1.0])
    v = np.array([0.6, 0.0, 0.8])
    *_, along = directional_derivative(lambda a: float((a**2).sum()), x, v)
    assert along == pytest.approx(float(v @ (2 * x)), rel=1e-9)


def _sum_of_squares(v: np.ndarray) -> float:
    return float((v**2).sum())


def test_numerical_grad_refuses_a_step_lost_to_rounding() -> None:
    with pytest.raises(
        ValueError,
        match=r"numerical_grad: eps=1e-300 is lost to rounding: "
        r"x \+ eps == x .* entry of size 2",
    ):
        numerical_grad(_sum_of_squares, np.array([1.0, -2.0]), eps=1e-300)


def test_numerical_grad_accepts_a_tiny_step_at_zero() -> None:
    grad = numerical_grad(_sum_of_squares, np.zeros(2), eps=1e-300)
    np.testing.assert_array_equal(grad, np.zeros(2))


@pytest.mark.parametrize("eps", [0.0, 1e-300])
def test_directional_derivative_refuses_an_unusable_step(eps: float) -> None:
    with pytest.raises(ValueError, match=r"directional_derivative: eps"):
        directional_derivative(
            _sum_of_squares, np.array([1.0, -2.0]), np.array([1.0, 0.0]), eps=eps
        )


@pytest.mark.parametrize(
    "eps",
    [0.0, -1e-6, float("nan"), float("inf"), True],
    ids=["zero", "negative", "nan", "inf", "bool"],
)
def test_a_step_that_is_not_a_positive_finite_number_is_refused(eps: float) -> None:
    with pytest.raises(
        ValueError,
        match=r"numerical_grad: eps, the finite-difference step, "
        r"must be a finite number > 0",
    ):
        numerical_grad(lambda v: float((v**2).sum()), np.array([1.0, 2.0]), eps=eps)


def test_directional_derivative_refuses_a_zero_step() -> None:
    with pytest.raises(ValueError, match="directional_derivative: eps"):
        directional_derivative(lambda v: float(v.sum()), np.ones(2), np.ones(2), eps=0.0)


def test_numerical_grad_refuses_a_function_that_writes_into_its_argument() -> None:
    # Each evaluation reuses the point: an in-place update would move it for the next one.
    def halving(v) -> float:
        v /= 2
        return float((v**2).sum())

    with pytest.raises(ValueError, match=r"numerical_grad: f wrote into its argument"):
        numerical_grad(halving, np.array([1.0, -2.0]))
