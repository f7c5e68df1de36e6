"""Near a kink at |f(x)| ~ 1e6, a tenfold finer step rounds ten times worse than the tolerance
allows: gradcheck may call such an entry undecided (KINKS ONLY) but never ok for a wrong
gradient, and still ok for the right one where the finer step decides."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.check import gradcheck


def _offset_relu(arrays: dict[str, np.ndarray]) -> float:
    # the kink at 0 is within the default step of the points below; |f| = 1e6 sets the floor
    return float(1e6 + np.maximum(arrays["x"], 0).sum())


@pytest.mark.parametrize("point", [3e-7, 5e-7, 2e-6])
@pytest.mark.parametrize("wrong", [1.015, 1.05, 1.2])
def test_a_wrong_gradient_beside_a_kink_is_never_ok(point: float, wrong: float) -> None:
    report = gradcheck(_offset_relu, {"x": np.full(1, point)}, {"x": np.full(1, wrong)})
    assert report["x"].status != "ok", report


@pytest.mark.parametrize("point", [3e-7, 5e-7, 2e-6])
def test_the_right_gradient_beside_that_kink_is_ok(point: float) -> None:
    report = gradcheck(_offset_relu, {"x": np.full(1, point)}, {"x": np.ones(1)})
    assert report["x"].status == "ok", report
