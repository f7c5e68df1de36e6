"""A central difference's truncation error, eps**2 / 6 times the third derivative, is all it
measures where the gradient is exactly 0 at an inflection (x**3 at 0: eps**2 per unit of
weight, above the absolute tolerance a zero gradient leaves): gradcheck and explain measure
such a miss again with finer steps, where it shrinks a hundredfold, instead of failing a
right gradient; a wrong one still fails."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.check import gradcheck


def cubes(arrays: dict[str, np.ndarray]) -> float:
    return float(1.5 * (arrays["x"] ** 3).sum())


def test_gradcheck_passes_the_zero_gradient_of_a_cube_at_its_inflection() -> None:
    report = gradcheck(cubes, {"x": np.zeros(4)}, {"x": np.zeros(4)})
    assert report["x"].status == "ok"
    assert report["x"].kinks == 0


@pytest.mark.parametrize("wrong", [1e-9, -1e-7, 1.0])
def test_gradcheck_still_fails_a_wrong_gradient_at_the_inflection(wrong: float) -> None:
    report = gradcheck(cubes, {"x": np.zeros(4)}, {"x": np.full(4, wrong)})
    assert report["x"].status == "FAIL"


def test_explain_passes_the_link_of_a_cube_at_its_inflection() -> None:
    x = cr.tensor(np.zeros(3), dtype=np.float64, requires_grad=True, name="x")
    loss = (x**3 * 1.5).sum()
    explanation = cr.explain(loss, x)
    assert explanation.passed, [str(check) for check in explanation.checks]
    assert explanation.unverified == 0


def test_explain_passes_a_norm_whose_curvature_scale_is_the_step() -> None:
    # pairwise_distance(x, x) = ||x - x + 1e-6||: a norm of a vector of size 1e-6, whose
    # central difference at the step 1e-6 misses like a kink and converges only at 1e-8
    x = cr.tensor([0.3, -1.2, 0.8], dtype=np.float64, requires_grad=True, name="x")
    loss = (cr.functional.pairwise_distance(x, x) * 1.3).sum()
    explanation = cr.explain(loss, x)
    assert explanation.passed, [str(check) for check in explanation.checks]
    assert explanation.unverified == 0


@pytest.mark.parametrize("factor", [1.01, 1.0001])
def test_gradcheck_still_fails_a_wrong_gradient_of_that_norm(factor: float) -> None:
    def loss(arrays: dict[str, np.ndarray]) -> float:
        return float(np.linalg.norm(arrays["x"] + 1e-6))

    x = np.zeros(3)
    right = np.full(3, 1 / np.sqrt(3))
    assert gradcheck(loss, {"x": x}, {"x": right})["x"].status == "ok"
    assert gradcheck(loss, {"x": x}, {"x": factor * right})["x"].status == "FAIL"


def _offset_square(arrays: dict[str, np.ndarray]) -> float:
    # |f| = 1e6 makes the rounding floor 8 ulps * 1e6 / 1e-6 ~ 1.8e-3: ten times that, the
    # allowance a tenfold finer step would need, is more than a 15% error of the gradient 0.1
    return float(1e6 + (arrays["x"] ** 2).sum())


def _steep_cube(arrays: dict[str, np.ndarray]) -> float:
    # the gradient is 0 at 0, and the central differences' misses, 1e20 h**2, shrink like
    # eps**2 for any analytic value: only their extrapolated limit can tell
    return float(1e20 * (arrays["x"] ** 3).sum())


def _offset_steep_cube(arrays: dict[str, np.ndarray]) -> float:
    return float(1e6 + 1e16 * (arrays["x"] ** 3).sum())


@pytest.mark.parametrize(
    ("loss", "point", "wrong"),
    [
        (_offset_square, 0.05, 0.115),  # the gradient is 0.1
        (_steep_cube, 0.0, 0.5),  # the gradient is 0
        (_steep_cube, 0.0, 1e-3),
        (_offset_steep_cube, 0.0, 0.1),
    ],
)
def test_finer_steps_never_pass_a_wrong_gradient_by_their_larger_rounding_allowance(
    loss: Any, point: float, wrong: float
) -> None:
    report = gradcheck(loss, {"x": np.full(1, point)}, {"x": np.full(1, wrong)})
    assert report["x"].status != "ok", report


@pytest.mark.parametrize(("loss", "right"), [(_steep_cube, 0.0), (_offset_square, 0.1)])
def test_the_right_gradient_of_those_losses_still_passes(loss: Any, right: float) -> None:
    point = 0.0 if loss is _steep_cube else 0.05
    report = gradcheck(loss, {"x": np.full(1, point)}, {"x": np.full(1, right)})
    assert report["x"].status == "ok", report


def _offset_inflection(arrays: dict[str, np.ndarray]) -> float:
    # f' = 0 at x = 1, where the central difference measures only its truncation error,
    # 1e10 eps**2 = 1e-2; |f| = 1e6 rounds a tenfold finer step's difference by ~2e-2
    return float(1e6 + 1e10 * ((arrays["x"] - 1) ** 3).sum())


def test_the_right_zero_gradient_at_an_inflection_of_a_large_loss_is_unresolved() -> None:
    report = gradcheck(_offset_inflection, {"x": np.ones(3)}, {"x": np.zeros(3)})
    row = report["x"]
    assert row.status == "UNRESOLVED", report
    assert row.failures == 0
    assert row.diagnosis is None
    assert row.reason is not None
    assert "truncation" in row.reason
    assert "|f(x)| = 1e+06" in row.reason
    assert "shift the loss" in row.reason


@pytest.mark.parametrize("wrong", [0.1, 1.0, -3.0])
def test_a_wrong_gradient_at_that_inflection_still_fails(wrong: float) -> None:
    report = gradcheck(_offset_inflection, {"x": np.ones(3)}, {"x": np.full(3, wrong)})
    assert report["x"].status == "FAIL", report


def test_the_shifted_loss_verifies_that_zero_gradient() -> None:
    # the remedy the reason names: without the constant, the finer steps resolve it
    def shifted(arrays: dict[str, np.ndarray]) -> float:
        return float(1e10 * ((arrays["x"] - 1) ** 3).sum())

    report = gradcheck(shifted, {"x": np.ones(3)}, {"x": np.zeros(3)})
    assert report["x"].status == "ok", report


@pytest.mark.parametrize("wrong", [1e-10, 1e-7, 1e-3])
def test_a_wrong_gradient_at_that_inflection_of_the_shifted_loss_fails(wrong: float) -> None:
    def shifted(arrays: dict[str, np.ndarray]) -> float:
        return float(1e10 * ((arrays["x"] - 1) ** 3).sum())

    report = gradcheck(shifted, {"x": np.ones(3)}, {"x": np.array([0.0, 0.0, wrong])})
    assert report["x"].status == "FAIL", report
