"""`minimum_to_cut`: the fewest samples that a validation cut of a fraction leaves at least
one sample on each side of, found without counting up from 2."""

from __future__ import annotations

import pytest

from chainrule.train.datasets import _cut_count, minimum_to_cut


def _leaves_one_each_side(total: int, fraction: float) -> bool:
    return total - _cut_count(total, fraction) >= 1


def _counted_up(fraction: float) -> int:
    total = 2
    while not _leaves_one_each_side(total, fraction):
        total += 1
    return total


@pytest.mark.parametrize(
    "fraction", [1e-9, 0.01, 0.1, 0.25, 0.5, 0.6, 0.75, 0.9, 0.95, 0.99, 0.999, 0.9999, 0.99999]
)
def test_the_minimum_is_the_first_count_that_leaves_a_sample_on_each_side(
    fraction: float,
) -> None:
    assert minimum_to_cut(fraction) == _counted_up(fraction)


@pytest.mark.parametrize("fraction", [1 - 1e-9, 1 - 1e-12, 1 - 2**-40])
def test_a_fraction_next_to_one_gives_its_minimum_at_once(fraction: float) -> None:
    # Counting up from 2 took about 10 minutes for 1 - 1e-9 (and ever longer for the
    # others) before train refused the data set as too small.
    needed = minimum_to_cut(fraction)
    assert needed > 1e8
    assert _leaves_one_each_side(needed, fraction)
    assert not _leaves_one_each_side(needed - 1, fraction)
