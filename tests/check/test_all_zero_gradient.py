"""A right gradient that is 0 at every entry, at a loss that is not 0: the central
differences can only bound it by their rounding noise, so the row is unresolved without an
atol, and its reason must name the remedy that works (atol), not one that cannot (raising
eps or shifting the loss never makes 0 larger than the noise)."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.check import gradcheck

A = np.random.default_rng(11).standard_normal((3, 3))


def loss_ignoring_b(arrays: dict[str, np.ndarray]) -> float:
    return float((arrays["a"] ** 2).sum())


def test_an_all_zero_row_names_atol_as_the_remedy() -> None:
    report = gradcheck(loss_ignoring_b, {"a": A, "b": A.T}, {"a": 2 * A, "b": np.zeros((3, 3))})
    row = report["b"]
    assert row.status == "UNRESOLVED"
    assert row.reason is not None
    # was: "loss too large for eps ... subtract the loss's constant part or raise eps",
    # neither of which can resolve a gradient of 0
    assert "pass atol" in row.reason
    assert "raise eps" not in row.reason


def test_with_atol_the_zero_row_passes_and_a_nonzero_one_fails() -> None:
    arrays = {"a": A, "b": A.T}
    assert gradcheck(loss_ignoring_b, arrays, {"a": 2 * A, "b": np.zeros((3, 3))}, atol=1e-6).ok
    wrong = gradcheck(loss_ignoring_b, arrays, {"a": 2 * A, "b": np.full((3, 3), 1e-5)}, atol=1e-6)
    assert wrong["b"].status == "FAIL"


def test_a_zero_row_at_a_loss_of_exactly_zero_still_passes() -> None:
    report = gradcheck(lambda arrays: 0.0, {"b": A}, {"b": np.zeros((3, 3))})
    assert report.ok, str(report)


def test_a_none_gradient_is_refused_naming_what_to_pass_instead() -> None:
    # None is what .grad holds for a leaf no gradient reached; it was refused as "dtype
    # object, not real numbers", which names neither cause nor remedy
    with pytest.raises(TypeError, match=r"the gradient of 'b' is None: no gradient reached it"):
        gradcheck(loss_ignoring_b, {"a": A, "b": A.T}, {"a": 2 * A, "b": None})
