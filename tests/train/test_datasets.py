"""train.datasets: `minimum_to_cut` (the fewest samples that a validation cut of a fraction
leaves at least one sample on each side of, found without counting up from 2), and a data
folder given under "~"."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from chainrule.data import save_idx
from chainrule.train.datasets import _cut_count, data_source, load_splits, minimum_to_cut


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


def test_a_data_folder_under_the_home_tilde_is_read_and_recorded_expanded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `--data=~/idx` (no shell expansion after "=") was refused as "neither digits,
    # fashion-mnist, mnist nor a folder", though load_mnist itself expands "~".
    monkeypatch.setenv("HOME", str(tmp_path))
    folder = tmp_path / "idx"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name, shape in [
        ("train-images-idx3-ubyte.gz", (20, 4, 4)),
        ("t10k-images-idx3-ubyte.gz", (5, 4, 4)),
    ]:
        save_idx(folder / name, rng.integers(0, 256, shape, dtype=np.uint8))
    for name, count in [("train-labels-idx1-ubyte.gz", 20), ("t10k-labels-idx1-ubyte.gz", 5)]:
        save_idx(folder / name, rng.integers(0, 10, count, dtype=np.uint8))
    splits = load_splits("~/idx", val_fraction=0.25, dtype="float32")
    assert (splits.x_train.shape, splits.x_val.shape, splits.x_test.shape) == (
        (15, 16),
        (5, 16),
        (5, 16),
    )
    assert data_source("~/idx") == str(folder.resolve())
