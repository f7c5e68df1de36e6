"""Near a kink at |f(x)| ~ 1e6, a tenfold finer step rounds ten times worse than the tolerance
allows: gradcheck may call such an entry unresolved but never ok for a wrong gradient (nor a
kink, which a row with other verified entries excuses), and still ok for the right one where
the finer step decides."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.check import gradcheck


def _offset_relu(arrays: dict[str, np.ndarray]) -> float:
    # the kink at 0 is within the default step of the points below; |f| = 1e6 sets the floor
    return float(1e6 + np.maximum(arrays["x"], 0).sum())


def _offset_parabola(arrays: dict[str, np.ndarray]) -> float:
    # smooth, but curved enough that the one-sided slopes at eps = 1e-6 disagree by
    # h * f''(x) = 2e-2, more than a 0.5% miss of the gradient 2 at x = 1e-4
    return float(1e6 + 1e4 * (arrays["x"] ** 2).sum())


@pytest.mark.parametrize("point", [3e-7, 5e-7, 2e-6])
@pytest.mark.parametrize("wrong", [1.015, 1.05, 1.2])
def test_a_wrong_gradient_beside_a_kink_is_never_ok(point: float, wrong: float) -> None:
    report = gradcheck(_offset_relu, {"x": np.full(1, point)}, {"x": np.full(1, wrong)})
    assert report["x"].status != "ok", report


@pytest.mark.parametrize("point", [3e-7, 5e-7])
@pytest.mark.parametrize("wrong", [1.015, 1.05])
def test_a_wrong_gradient_beside_a_kink_is_no_kink_next_to_a_verified_entry(
    point: float, wrong: float
) -> None:
    report = gradcheck(_offset_relu, {"x": np.array([point, 1.0])}, {"x": np.array([wrong, 1.0])})
    row = report["x"]
    assert (row.status, row.kinks, row.unresolved) == ("UNRESOLVED", 0, 1), report
    assert "or a kink within eps" in str(row.reason)


def test_a_curved_smooth_entry_wrong_by_half_a_percent_is_not_excused_as_a_kink() -> None:
    x = np.array([1e-4, 1.0])
    wrong = 2e4 * x
    wrong[0] *= 1.005
    row = gradcheck(_offset_parabola, {"x": x}, {"x": wrong})["x"]
    assert (row.status, row.kinks) == ("UNRESOLVED", 0), row
    # with the loss's constant part subtracted, as the reason advises, it fails
    shifted = gradcheck(lambda a: _offset_parabola(a) - 1e6, {"x": x}, {"x": wrong})["x"]
    assert (shifted.status, shifted.worst_index) == ("FAIL", (0,)), shifted


@pytest.mark.parametrize("point", [3e-7, 5e-7, 2e-6])
def test_the_right_gradient_beside_that_kink_is_ok(point: float) -> None:
    report = gradcheck(_offset_relu, {"x": np.full(1, point)}, {"x": np.ones(1)})
    assert report["x"].status == "ok", report


def test_the_right_gradient_of_the_curved_loss_is_ok() -> None:
    x = np.array([1e-4, 1.0])
    assert gradcheck(_offset_parabola, {"x": x}, {"x": 2e4 * x}).ok
