"""An answer that is 0 everywhere is named as such even where the true gradient has zeros of
its own (dead ReLU units): "no gradient flowed back", not a mask from the wrong tensor."""

from __future__ import annotations

import numpy as np

from chainrule.check import Mistake, diagnose


def test_zeros_against_a_gradient_with_dead_rows_say_no_gradient_flowed() -> None:
    expected = np.array([[0.5, -1.0], [0.0, 0.0], [2.0, 0.25]])  # row 1: a dead unit
    diagnosis = diagnose(np.zeros((3, 2)), expected)
    assert diagnosis.kind is Mistake.ZEROED
    # was: "gradient zeroed where it should flow at 4 of 6 entries ...; ReLU mask from the
    # wrong tensor?"
    assert "got is 0 everywhere" in diagnosis.message
    assert diagnosis.details["zeroed"] == 4


def test_zeros_in_some_entries_only_still_point_at_the_mask() -> None:
    expected = np.array([[0.5, -1.0], [0.0, 0.0], [2.0, 0.25]])
    got = expected.copy()
    got[0, 0] = got[2, 1] = 0.0
    diagnosis = diagnose(got, expected)
    assert "ReLU mask from the wrong tensor" in diagnosis.message
