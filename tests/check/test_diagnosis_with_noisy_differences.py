"""Where |f(x)| is large, the central differences carry rounding noise (the gradcheck floor,
here about 3e-3 of the gradient): a diagnosis must name the mistake that fits within that
noise, as the FAIL itself does, not the noisy least-squares factor or a weaker pattern."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.check import Mistake, diagnose, gradcheck

# |f(x)| ~ 4e12 at entries of size 1e6: the floor 8 * 2**-52 * |f| / eps is ~7e3 next to
# gradients of ~2e6, so the numerical gradient is off the true one by up to ~1e-3 relative
POINT = 1e6 * np.array([0.35, -1.2, 0.8, 1.5])


def _squares(arrays: dict[str, np.ndarray]) -> float:
    return float((arrays["x"] ** 2).sum())


def test_a_flipped_sign_is_named_as_such_not_a_factor_of_minus_one_point_something() -> None:
    row = gradcheck(_squares, {"x": POINT}, {"x": -2 * POINT})["x"]
    assert row.status == "FAIL"
    assert row.diagnosis is not None
    assert (row.diagnosis.kind, row.diagnosis.factor) == (Mistake.SIGN_FLIPPED, -1.0), row
    assert "factor of 1" not in str(row.diagnosis)


@pytest.mark.parametrize(
    ("factor", "name"), [(2.0, "2"), (0.5, "0.5"), (4.0, "4 (= N)"), (-4.0, "4 (= N)")]
)
def test_a_named_factor_that_fits_within_the_noise_is_named(factor: float, name: str) -> None:
    # within the tolerance given, got = factor * expected: the name is the factor's, with
    # the mistake it usually comes from, whatever the least-squares estimate's last digits
    expected = np.array([1.0, 2.0, 3.0])
    got = factor * expected + np.array([2e-2, 0.0, 0.0])
    diagnosis = diagnose(got, expected, n=4, rtol=1e-5, atol=5e-2)
    assert diagnosis.kind is Mistake.SCALED
    assert diagnosis.details["name"] == name, diagnosis
    assert "got = " not in str(diagnosis), diagnosis


def test_a_factor_that_fits_no_name_keeps_its_estimate() -> None:
    diagnosis = diagnose(np.array([1.3, 2.6]), np.array([1.0, 2.0]), rtol=1e-5, atol=1e-3)
    assert diagnosis.kind is Mistake.SCALED
    assert diagnosis.details["name"] == "1.3"


def test_the_right_values_in_the_wrong_shape_are_named_a_reshape_at_a_large_loss() -> None:
    row = gradcheck(_squares, {"x": POINT}, {"x": (2 * POINT).reshape(-1, 1)})["x"]
    assert row.status == "SHAPE MISMATCH"
    assert row.diagnosis is not None
    assert row.diagnosis.kind is Mistake.SHAPE, row.diagnosis
    assert "the values are right, only the shape is not" in str(row.diagnosis)
