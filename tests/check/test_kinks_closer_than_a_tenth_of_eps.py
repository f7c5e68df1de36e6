"""A kink between eps/100 and eps/10 from the point is straddled by the default step and its
first refinement, but not by the finest: there the gradient is measured like any other, so a
wrong one fails and a right one is verified (not excused as a kink)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from chainrule.check import gradcheck

NEAR = 5e-8
"""Half of eps/10 at the default eps = 1e-6: inside the first refinement, outside the second."""

Loss = Callable[[dict[str, np.ndarray]], float]


def _weighted_abs(arrays: dict[str, np.ndarray]) -> float:
    return float((np.array([1.0, 2.0, 3.0, 4.0]) * np.abs(arrays["x"])).sum())


def _relu(arrays: dict[str, np.ndarray]) -> float:
    return float(np.maximum(arrays["x"], 0).sum())


def _clip(arrays: dict[str, np.ndarray]) -> float:
    return float((2 * np.clip(arrays["x"], -1, 1)).sum())


# (loss, point, its right gradient): entries (1,) and (3,) sit NEAR a kink, on either side
CASES: dict[str, tuple[Loss, np.ndarray, np.ndarray]] = {
    "abs": (
        _weighted_abs,
        np.array([0.7, NEAR, 1.3, -NEAR]),
        np.array([1.0, 2.0, 3.0, -4.0]),
    ),
    "relu": (_relu, np.array([0.7, NEAR, 1.3, -NEAR]), np.array([1.0, 1.0, 1.0, 0.0])),
    "clip": (
        _clip,
        np.array([0.5, 1 - NEAR, -0.3, -1 + NEAR]),
        np.array([2.0, 2.0, 2.0, 2.0]),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_right_gradient_near_a_kink_is_verified_not_excused(case: str) -> None:
    loss, point, right = CASES[case]
    row = gradcheck(loss, {"x": point}, {"x": right})["x"]
    assert (row.status, row.kinks) == ("ok", 0), row


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("entry", [1, 3])
@pytest.mark.parametrize("error", [0.1, -0.05])
def test_a_wrong_gradient_near_a_kink_fails_at_its_entry(
    case: str, entry: int, error: float
) -> None:
    loss, point, right = CASES[case]
    wrong = right.copy()
    wrong[entry] += error
    row = gradcheck(loss, {"x": point}, {"x": wrong})["x"]
    assert (row.status, row.worst_index) == ("FAIL", (entry,)), row
    assert row.worst_values is not None
    assert row.worst_values[0] == wrong[entry]
    assert row.worst_values[1] == pytest.approx(right[entry], rel=1e-6)


def test_an_entry_exactly_on_a_kink_is_still_a_kink() -> None:
    row = gradcheck(_relu, {"x": np.array([0.7, 0.0, 1.3])}, {"x": np.array([1.0, 0.0, 1.0])})["x"]
    assert (row.status, row.kinks) == ("ok", 1), row
