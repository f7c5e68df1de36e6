"""DataLoader batching against torch.utils.data, cases ported (in our words) from PyTorch's
test_dataloader: sequential batches and their count with and without drop_last, and what a
shuffled epoch with drop_last leaves out. torch is the oracle; it is never imported by src."""

from __future__ import annotations

import itertools
from types import ModuleType

import numpy as np
import pytest

from chainrule.data import ArrayDataset, DataLoader, split

SIZES = [1, 7, 10, 33]
BATCHES = [1, 3, 10, 40]


def _data(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    features = np.arange(n * 3, dtype=np.float32).reshape(n, 3) / 7
    labels = np.arange(n, dtype=np.int64) % 4
    pixels = (np.arange(n * 2) % 256).astype(np.uint8).reshape(n, 2)
    return features, labels, pixels


@pytest.mark.parametrize(
    ("n", "batch_size", "drop_last"), list(itertools.product(SIZES, BATCHES, [False, True]))
)
def test_unshuffled_batches_and_their_count_are_torchs(
    torch: ModuleType, n: int, batch_size: int, drop_last: bool
) -> None:
    arrays = _data(n)
    reference = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(*map(torch.from_numpy, arrays)),
        batch_size=batch_size,
        drop_last=drop_last,
    )
    if drop_last and batch_size > n:
        # torch gives an empty epoch; a loader with no batches is refused here instead.
        assert len(reference) == 0
        with pytest.raises(ValueError, match="there are no batches"):
            DataLoader(ArrayDataset(*arrays), batch_size=batch_size, drop_last=drop_last)
        return
    loader = DataLoader(ArrayDataset(*arrays), batch_size=batch_size, drop_last=drop_last)
    assert len(loader) == len(reference)
    got, expected = list(loader), list(reference)
    assert len(got) == len(expected)
    for ours, theirs in zip(got, expected, strict=True):
        for array, tensor in zip(ours, theirs, strict=True):
            assert array.dtype == tensor.numpy().dtype
            assert array.shape == tuple(tensor.shape)
            np.testing.assert_array_equal(array, tensor.numpy())


@pytest.mark.parametrize(("n", "batch_size"), [(10, 3), (33, 10), (40, 40), (41, 8)])
def test_a_shuffled_epoch_with_drop_last_leaves_out_only_the_remainder(
    torch: ModuleType, n: int, batch_size: int
) -> None:
    # torch: RandomSampler's permutation cut into full batches, the n % batch_size samples
    # at its end dropped; every other sample seen once. The orders differ (other generators).
    loader = DataLoader(
        ArrayDataset(np.arange(n)),
        batch_size=batch_size,
        shuffle=True,
        drop_last=True,
        rng=np.random.default_rng(4),
    )
    reference = torch.utils.data.DataLoader(
        torch.arange(n), batch_size=batch_size, shuffle=True, drop_last=True
    )
    assert len(loader) == len(reference) == n // batch_size
    dropped_sets = set()
    for _ in range(3):
        batches = [batch for (batch,) in loader]
        assert [len(batch) for batch in batches] == [len(b) for b in reference]
        seen = np.concatenate(batches)
        assert len(np.unique(seen)) == len(seen) == n - n % batch_size
        dropped_sets.add(frozenset(set(range(n)) - set(seen.tolist())))
    if n % batch_size:
        assert len(dropped_sets) > 1, "the same samples were dropped in every epoch"


@pytest.mark.parametrize(
    ("n", "fractions"),
    [(10, [0.3, 0.3, 0.4]), (7, [0.5, 0.5]), (30, [0.1] * 10), (101, [0.25, 0.25, 0.5])],
)
def test_fractional_split_sizes_add_up_and_stay_within_one_of_torchs(
    torch: ModuleType, n: int, fractions: list[float]
) -> None:
    # torch.utils.data.random_split with fractions: floor(n * f) each, the remainder spread
    # one by one. Ours rounds the cumulative boundaries; both give parts within one sample
    # of n * f that add up to n, and each sample lands in exactly one part.
    parts = split(np.arange(n), fractions, rng=np.random.default_rng(0))
    theirs = torch.utils.data.random_split(
        range(n), fractions, generator=torch.Generator().manual_seed(0)
    )
    ours = [len(part) for part in parts]
    assert sum(ours) == sum(len(part) for part in theirs) == n
    for size, reference, fraction in zip(ours, theirs, fractions, strict=True):
        assert abs(size - n * fraction) < 1
        assert abs(size - len(reference)) <= 1
    everything = np.concatenate([part.arrays[0] for part in parts])
    np.testing.assert_array_equal(np.sort(everything), np.arange(n))
