"""compare(): exact shapes, exact vs close vs mismatch, where the worst entry is."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.check import compare


def test_shapes_64_and_1_by_64_are_a_mismatch_not_a_broadcast() -> None:
    result = compare("b1", np.zeros(64), np.zeros((1, 64)))
    assert result.status == "SHAPE MISMATCH"
    assert not result.close
    assert not result.exact


def test_shape_mismatch_prints_both_shapes() -> None:
    assert str(compare("b1", np.zeros(64), np.zeros((1, 64)))) == (
        "b1  SHAPE MISMATCH  got (64,) expected (1, 64)"
    )


def test_identical_arrays_are_exact() -> None:
    values = np.arange(6.0).reshape(2, 3)
    result = compare("w", values, values.copy())
    assert result.exact
    assert result.close
    assert result.status == "exact"
    assert result.max_abs_err == 0.0


def test_arrays_within_tolerance_are_close_but_not_exact() -> None:
    result = compare("w", np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-12]), rtol=1e-9, atol=0)
    assert result.status == "close"
    assert result.max_abs_err == pytest.approx(1e-12, rel=1e-3)
    assert result.max_rel_err == pytest.approx(5e-13, rel=1e-3)


def test_arrays_outside_tolerance_are_a_mismatch() -> None:
    result = compare("w", np.array([1.0, 2.0]), np.array([1.0, 2.1]), rtol=1e-3, atol=0)
    assert result.status == "MISMATCH"
    assert not result.close


def test_worst_index_points_at_the_entry_furthest_outside_tolerance() -> None:
    expected = np.ones((4, 5))
    got = expected.copy()
    got[1, 2] += 1e-3
    got[3, 4] += 1e-2
    assert compare("w1", got, expected, rtol=1e-6, atol=0).worst_index == (3, 4)


def test_str_is_one_line_with_status_errors_and_worst_index() -> None:
    expected = np.ones((4, 18))
    got = expected.copy()
    got[3, 17] += 3e-12
    assert str(compare("w1", got, expected, rtol=1e-9, atol=0)) == (
        "w1  close  max_abs=3e-12 max_rel=3e-12 at (3, 17)"
    )


def test_nan_is_never_close() -> None:
    assert compare("x", np.array([np.nan]), np.array([np.nan])).status == "MISMATCH"


def test_nonzero_against_zero_has_infinite_relative_error() -> None:
    result = compare("x", np.array([1e-20]), np.array([0.0]), rtol=0, atol=1e-15)
    assert result.close
    assert result.max_rel_err == np.inf


@pytest.mark.parametrize(("dtype", "rtol"), [(np.float64, 1e-7), (np.float32, 1e-4)])
def test_default_tolerances_follow_the_less_precise_dtype(dtype: type, rtol: float) -> None:
    result = compare("x", np.ones(3, dtype=dtype), np.ones(3))
    assert result.rtol == rtol


@pytest.mark.parametrize("got", [1.0, np.nan, -np.inf, 1e308], ids=["one", "nan", "-inf", "big"])
def test_only_the_same_infinity_is_close_to_an_expected_infinity(got: float) -> None:
    result = compare("x", np.array([got, 2.0]), np.array([np.inf, 2.0]), rtol=1e-3)
    assert result.status == "MISMATCH"
    assert result.worst_index == (0,)
    assert result.max_abs_err == np.inf
    assert result.max_rel_err == np.inf


def test_the_same_infinities_in_the_same_places_are_exact() -> None:
    values = np.array([np.inf, -np.inf, 3.0])
    assert compare("x", values, values.copy()).status == "exact"


def test_an_infinity_where_a_finite_value_is_expected_is_a_mismatch() -> None:
    result = compare("x", np.array([np.inf, 1.0]), np.array([1e300, 1.0]), rtol=1.0)
    assert result.status == "MISMATCH"
    assert result.worst_index == (0,)


def test_infinities_of_opposite_sign_are_a_mismatch() -> None:
    result = compare("x", np.array([-np.inf]), np.array([np.inf]))
    assert result.status == "MISMATCH"


def test_nan_is_not_close_to_a_finite_value_even_with_equal_nan() -> None:
    result = compare("x", np.array([np.nan, 1.0]), np.array([0.0, 1.0]), equal_nan=True)
    assert result.status == "MISMATCH"
    assert result.worst_index == (0,)


def test_equal_nan_matches_nans_in_the_same_positions() -> None:
    got = np.array([np.nan, 1.0, np.inf])
    expected = np.array([np.nan, 1.0 + 1e-12, np.inf])
    result = compare("x", got, expected, rtol=1e-9, atol=0, equal_nan=True)
    assert result.status == "close"
    assert result.max_abs_err == pytest.approx(1e-12, rel=1e-3)


def test_equal_nan_refuses_nans_in_different_positions() -> None:
    result = compare("x", np.array([np.nan, 1.0]), np.array([1.0, np.nan]), equal_nan=True)
    assert result.status == "MISMATCH"


def test_identical_arrays_with_nans_are_exact_under_equal_nan() -> None:
    values = np.array([np.nan, 2.0])
    assert compare("x", values, values.copy(), equal_nan=True).status == "exact"


@pytest.mark.parametrize("bad", [float("inf"), float("nan"), -1.0])
@pytest.mark.parametrize("which", ["rtol", "atol"])
def test_non_finite_or_negative_tolerance_is_refused(which: str, bad: float) -> None:
    with pytest.raises(ValueError, match=f"compare: {which} must be a finite number >= 0"):
        compare("w", np.array([1.0]), np.array([2.0]), **{which: bad})
