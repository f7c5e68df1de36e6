"""A step that leaves where the loss is defined (log of an entry within eps of 0): the loss
is NaN at x - eps, nothing is measured there, and gradcheck says so instead of failing a
right gradient with "look for an overflow or a division by 0"."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from chainrule.check import gradcheck


def log_loss(arrays: dict[str, np.ndarray]) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(np.log(arrays["x"]).sum())


NEAR_ZERO = np.array([5e-7, 1.0, 2.0])


def test_a_right_gradient_next_to_the_edge_is_unresolved_and_says_why() -> None:
    # was: FAIL, max_abs inf, "got or expected holds inf or NaN; look for an overflow"
    row = gradcheck(log_loss, {"x": NEAR_ZERO}, {"x": 1 / NEAR_ZERO})["x"]
    assert row.status == "UNRESOLVED"
    assert row.failures == 0
    assert row.diagnosis is None
    assert row.reason is not None
    assert "not at x +- eps at 1 checked entries of 3, the first (0,)" in row.reason
    assert "f(x - eps) = nan" in row.reason


def test_a_smaller_step_then_checks_it() -> None:
    report = gradcheck(log_loss, {"x": NEAR_ZERO}, {"x": 1 / NEAR_ZERO}, eps=1e-9)
    assert report.ok, str(report)


def test_a_wrong_entry_elsewhere_still_fails() -> None:
    wrong = 1 / NEAR_ZERO
    wrong[2] = -wrong[2]
    row = gradcheck(log_loss, {"x": NEAR_ZERO}, {"x": wrong})["x"]
    assert row.status == "FAIL"
    assert row.worst_index == (2,)


@pytest.mark.parametrize("analytic", [np.nan, np.inf])
def test_a_non_finite_analytic_entry_still_fails(analytic: float) -> None:
    grad = 1 / NEAR_ZERO
    grad[0] = analytic
    assert gradcheck(log_loss, {"x": NEAR_ZERO}, {"x": grad})["x"].status == "FAIL"


def test_a_direction_that_leaves_the_domain_is_unresolved_not_failed() -> None:
    point = np.full(400, 1e-8)
    point[::2] = 1.0
    row = gradcheck(log_loss, {"x": point}, {"x": 1 / point}, max_entries=0)["x"]
    # was: FAIL, the direction's numerical value NaN
    assert row.status == "UNRESOLVED"
    assert row.directions[0].outside
    assert row.reason is not None
    assert "along a random direction" in row.reason
