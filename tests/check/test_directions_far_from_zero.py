"""gradcheck's random directions at a point far from 0, where x + h v rounds each entry to
its spacing: the check must be of the direction actually taken, so that a right gradient
passes and a wrong one still fails."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.check import gradcheck


def sine_loss(arrays: dict[str, np.ndarray]) -> float:
    return float(np.sin(arrays["x"]).sum())


@pytest.fixture
def far_point() -> np.ndarray:
    # spacing(1e6) = 1.2e-10: a displacement of 1e-6 * v_i ~ 1.4e-7 is off by up to 1e-3
    return 1e6 + np.random.default_rng(1).standard_normal(50)


@pytest.mark.parametrize("max_entries", [0, 10, 200])
def test_a_right_gradient_far_from_zero_passes(far_point: np.ndarray, max_entries: int) -> None:
    # The directional difference measured the slope along the rounded displacement, not
    # along v: a right cos(x) missed by 1.7e-4 relative against rtol 1e-5 and FAILED, even
    # where every entry agreed ("diagnosis: agrees").
    report = gradcheck(
        sine_loss, {"x": far_point}, {"x": np.cos(far_point)}, max_entries=max_entries
    )
    assert report.ok, str(report)


@pytest.mark.parametrize("max_entries", [0, 10, 200])
def test_one_entry_one_percent_off_far_from_zero_still_fails(
    far_point: np.ndarray, max_entries: int
) -> None:
    wrong = np.cos(far_point)
    wrong[7] *= 1.01
    report = gradcheck(sine_loss, {"x": far_point}, {"x": wrong}, max_entries=max_entries)
    assert report["x"].status == "FAIL", str(report)
    assert not report["x"].directions[0].ok


def test_a_whole_gradient_one_percent_off_fails_by_directions_alone_at_1e9() -> None:
    point = 1e9 + np.random.default_rng(2).standard_normal(20)
    report = gradcheck(sine_loss, {"x": point}, {"x": 1.01 * np.cos(point)}, max_entries=0)
    assert report["x"].status == "FAIL", str(report)
