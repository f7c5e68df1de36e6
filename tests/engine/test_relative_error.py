"""The comparison every op-table test reduces to: a NaN on one side must fail it, wherever
it sits (Python's max() skips a NaN that is not first, so a NaN error would pass)."""

from __future__ import annotations

import math

import numpy as np
from engine_cases import relative_error


def test_a_nan_on_one_side_is_an_infinite_error() -> None:
    assert relative_error([1.0, math.nan], [1.0, 2.0]) == math.inf
    assert relative_error([1.0, 2.0], [1.0, math.nan]) == math.inf


def test_a_nan_gradient_after_a_clean_value_fails_the_max_of_errors() -> None:
    errors = [relative_error([1.0], [1.0]), relative_error([math.nan], [2.0])]
    assert not max(errors) <= 1e-6


def test_nans_and_infinities_on_both_sides_at_the_same_places_are_equal() -> None:
    actual = np.array([math.nan, math.inf, -math.inf, 1.0])
    assert relative_error(actual, actual.copy()) == 0.0


def test_an_infinity_against_a_finite_value_is_an_infinite_error() -> None:
    assert relative_error([math.inf, 1.0], [1.0, 1.0]) == math.inf
