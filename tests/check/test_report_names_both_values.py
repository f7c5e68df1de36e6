"""A failing row names its worst entry with both values: where, analytic, numerical and
how far apart, so a learner can check that one entry by hand."""

from __future__ import annotations

import numpy as np

from chainrule.check import gradcheck

POINT = np.array([0.3, -1.2, 0.8, 2.0])


def square_loss(arrays: dict[str, np.ndarray]) -> float:
    return float((arrays["x"] ** 2).sum())


def test_a_gradient_twice_too_large_names_its_worst_entry_and_both_values() -> None:
    report = gradcheck(square_loss, {"x": POINT}, {"x": 4 * POINT})
    row = report["x"]
    assert row.worst_index == (3,)
    assert row.worst_values is not None
    analytic, numerical = row.worst_values
    assert analytic == 8.0
    assert numerical is not None
    np.testing.assert_allclose(numerical, 4.0, rtol=1e-8)
    assert "x: worst at (3,): analytic 8, numerical 4, off by 4" in str(report)


def test_a_passing_row_prints_no_worst_line() -> None:
    report = gradcheck(square_loss, {"x": POINT}, {"x": 2 * POINT})
    assert report.ok
    assert "worst at (" not in str(report)


def test_a_nan_outside_the_sample_is_named_as_not_measured() -> None:
    point = np.linspace(-1.0, 1.0, 300)
    grad = 2 * point
    grad[-1] = np.nan
    report = gradcheck(square_loss, {"x": point}, {"x": grad}, max_entries=5)
    assert report["x"].worst_index == (299,)
    assert "x: worst at (299,): analytic nan, not sampled" in str(report)
