"""A loss computed in float32 and handed back as a Python float (float(), .item()) hides its
dtype, but not its values: each is exactly a float32. Its rounding over eps passes for slope,
so the checks refuse it with the reason instead of failing a right gradient by 5%."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from chainrule.check import directional_derivative, gradcheck, numerical_grad

POINT = np.array([0.5, -1.2, 2.0])


def _squares_in_float32(arrays: dict[str, np.ndarray]) -> float:
    return float((arrays["x"].astype(np.float32) ** 2).sum())


def _squares_through_torch_float(arrays: dict[str, np.ndarray]) -> float:
    return (torch.from_numpy(np.array(arrays["x"])).float() ** 2).sum().item()


@pytest.mark.parametrize("loss", [_squares_in_float32, _squares_through_torch_float])
def test_gradcheck_refuses_a_float32_loss_returned_as_a_python_float(loss) -> None:
    with pytest.raises(ValueError, match=r"gradcheck: loss_fn's values near the point .* float32"):
        gradcheck(loss, {"x": POINT}, {"x": 2 * POINT})


def test_numerical_grad_and_directional_derivative_refuse_it_too() -> None:
    def in_float32(v: np.ndarray) -> float:
        return float((v.astype(np.float32) ** 2).sum())

    with pytest.raises(ValueError, match=r"numerical_grad: f's values near the point"):
        numerical_grad(in_float32, POINT)
    with pytest.raises(ValueError, match=r"directional_derivative: f's values near the point"):
        directional_derivative(in_float32, POINT, np.array([0.6, 0.8, 0.0]))


@pytest.mark.parametrize("point", [POINT, np.array([1.0, 2.0, 4.0]), np.array([0.0, 0.0, 0.0])])
def test_a_float64_loss_at_points_float32_holds_exactly_is_checked(point: np.ndarray) -> None:
    def squares(arrays: dict[str, np.ndarray]) -> float:
        return float((arrays["x"] ** 2).sum())

    report = gradcheck(squares, {"x": point}, {"x": 2 * point}, atol=1e-6)
    assert report.ok, report
    np.testing.assert_allclose(
        numerical_grad(lambda v: float((v**2).sum()), point), 2 * point, atol=1e-8
    )


def test_a_loss_with_integer_values_is_not_taken_for_float32() -> None:
    # a step function: its values are whole numbers, exact in any float; its gradient is 0
    def count_positive(arrays: dict[str, np.ndarray]) -> float:
        return float((arrays["x"] > 0).sum()) + float((arrays["y"] ** 2).sum())

    x = np.array([3e-7, 1.0])
    report = gradcheck(
        count_positive,
        {"x": x, "y": np.array([0.25])},
        {"x": np.zeros(2), "y": np.array([0.5])},
        atol=1e-6,
    )
    assert report["y"].ok, report


def test_a_float64_loss_of_zero_up_to_rounding_is_not_taken_for_float32() -> None:
    # every entry clipped: the loss is 0 at the point and at x + eps, and -2**-52 (a rounding
    # residue, a float32 number of one significant bit) at x - eps; this was refused as float32
    def clipped(arrays: dict[str, np.ndarray]) -> float:
        return float((2 * np.clip(arrays["x"], -1, 1)).sum())

    point = np.array([1.000001, -1.000001, 1.3, -1.1])
    report = gradcheck(clipped, {"x": point}, {"x": np.zeros(4)}, atol=1e-6)
    assert report.ok, report
