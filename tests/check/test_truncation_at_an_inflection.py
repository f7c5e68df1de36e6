"""A central difference's truncation error, eps**2 / 6 times the third derivative, is all it
measures where the gradient is exactly 0 at an inflection (x**3 at 0: eps**2 per unit of
weight, above the absolute tolerance a zero gradient leaves): gradcheck and explain measure
such a miss again with finer steps, where it shrinks a hundredfold, instead of failing a
right gradient; a wrong one still fails."""

from __future__ import annotations

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
