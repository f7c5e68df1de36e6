"""A row whose every checked entry sits on a kink is not ok, and says why: a learner must
not read an unexplained failure into a right gradient at relu(0)."""

from __future__ import annotations

import numpy as np

from chainrule.check import gradcheck


def test_relu_at_zero_everywhere_says_the_entries_sit_on_kinks() -> None:
    def loss(arrays: dict[str, np.ndarray]) -> float:
        return float(np.maximum(arrays["x"], 0).sum())

    report = gradcheck(loss, {"x": np.zeros(3)}, {"x": np.zeros(3)})
    row = report["x"]
    assert (row.status, row.ok, row.kinks) == ("KINKS ONLY", False, 3)
    # was: no reason at all, the report's last line the table
    assert row.reason is not None
    assert "sits on a kink" in row.reason
    assert "relu" in row.reason
    assert "off the kinks" in row.reason
    assert f"x: {row.reason}" in str(report)
