"""gradcheck's kink rule: one-sided slopes that disagree because the step straddles the
bottom of a parabola are curvature, not a kink, and must not excuse a wrong gradient; a real
kink a little off the point, or several at once, must still not fail a right one; a loss
computed in float32 is refused rather than read as kinks."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.check import gradcheck

EPS = 1e-6


def squares(arrays: dict[str, np.ndarray]) -> float:
    return float((arrays["x"] ** 2).sum())


def test_a_flipped_gradient_at_a_smooth_minimum_fails_not_kinks_only() -> None:
    # Every entry lies within the step of the parabola's bottom, so the one-sided slopes
    # differ by 2 * eps, more than the miss of -2x against 2x.
    x = np.array([3e-7, -2e-7, 5e-8])
    report = gradcheck(squares, {"x": x}, {"x": -2 * x})
    assert report["x"].status == "FAIL"
    assert report["x"].kinks == 0


def test_a_flipped_entry_of_a_stiff_loss_is_a_failure_where_it_is() -> None:
    # loss = x0**2 + 1e6 * x1**2 at x1 = 2e-7: dloss/dx1 = 0.4, a fifth of the largest entry;
    # the step straddles x1's minimum, so its slopes differ by 2e6 * eps = 2 > the miss 0.8.
    def stiff(arrays: dict[str, np.ndarray]) -> float:
        x = arrays["x"]
        return float(x[0] ** 2 + 1e6 * x[1] ** 2)

    x = np.array([1.0, 2e-7])
    report = gradcheck(stiff, {"x": x}, {"x": np.array([2.0, -0.4])}, directions=0)
    assert not report.ok
    assert report["x"].failures == 1
    assert report["x"].worst_index == (1,)


@pytest.mark.parametrize("offset", [0.0, 0.03 * EPS, 0.07 * EPS, 0.5 * EPS])
def test_a_right_gradient_next_to_a_relu_kink_passes(offset: float) -> None:
    # relu(x) summed, with one entry `offset` above the kink at 0 (inside the step) and
    # others far from it: dloss/dx = [x > 0].
    def relu_sum(arrays: dict[str, np.ndarray]) -> float:
        return float(np.maximum(arrays["x"], 0).sum())

    x = np.array([offset, 1.5, -0.7])
    report = gradcheck(relu_sum, {"x": x}, {"x": (x > 0).astype(np.float64)})
    assert report.ok, str(report)
    assert report["x"].failures == 0


def test_a_loss_returned_in_float32_is_refused_naming_the_dtype() -> None:
    # Its rounding, ~6e-8 * |f|, over eps = 1e-6 is ~0.1 * |f|: a right gradient would fail
    # entry after entry, reported as kinks.
    def float32_loss(arrays: dict[str, np.ndarray]) -> np.float32:
        return (arrays["x"].astype(np.float32) ** 2).sum()

    x = np.array([0.5, -1.5, 2.0])
    with pytest.raises(ValueError, match=r"the loss came back as float32.*float64"):
        gradcheck(float32_loss, {"x": x}, {"x": 2 * x})


def test_a_right_gradient_with_several_entries_on_kinks_passes_along_every_direction() -> None:
    # Two ReLUs at 0 with weights of opposite sign: along a direction that switches one on
    # from each side their contributions can add up to a straight line whose slope is not
    # <v, grad> for any convention at 0, so such a direction proves nothing about the rest.
    weights = np.array([1.0, -1.0, 2.0])

    def loss(arrays: dict[str, np.ndarray]) -> float:
        return float((weights * np.maximum(arrays["b"], 0)).sum())

    b = np.array([0.0, 0.0, 1.0])
    report = gradcheck(loss, {"b": b}, {"b": weights * (b > 0)}, directions=8)
    assert report.ok, str(report)
    assert report["b"].kinks == 2


def test_a_wrong_entry_beside_entries_on_kinks_still_fails() -> None:
    weights = np.array([1.0, -1.0, 2.0, 0.5])

    def loss(arrays: dict[str, np.ndarray]) -> float:
        return float((weights * np.maximum(arrays["b"], 0)).sum())

    b = np.array([0.0, 0.0, 1.0, 2.0])
    wrong = weights * (b > 0)
    wrong[3] = -wrong[3]
    report = gradcheck(loss, {"b": b}, {"b": wrong}, directions=8)
    assert report["b"].status == "FAIL"
    assert report["b"].worst_index == (3,)
