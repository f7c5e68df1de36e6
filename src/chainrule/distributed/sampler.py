"""`DistributedSampler`: each rank's shard of every global batch.

It walks the same global batches as a `DataLoader` of the whole dataset with the same seed
(the permutation is drawn from the same generator on every rank), and each rank gathers only
its contiguous part of each batch. Its `state_dict()` is that DataLoader's, which does not
depend on the rank count, so a run resumes mid-epoch exactly, with any number of ranks.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from chainrule.data.dataset import ArrayDataset
from chainrule.data.loader import DataLoader, IndexableDataset, refuse_sequence


def shard_bounds(batch: int, rank: int, size: int) -> tuple[int, int]:
    """[start, stop) of `rank`'s rows in a global batch of `batch` rows split over `size`
    ranks: contiguous, sizes differing by at most one, the larger ones first."""
    base, extra = divmod(batch, size)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


class ShardError(ValueError):
    """A global batch that cannot give every rank at least one row."""


class DistributedSampler:
    """Mini-batches of `rank`'s shard: global batches of `batch_size` rows, split into
    `size` contiguous parts (np.array_split's), rank r taking part r.

    With `shuffle`, every rank must pass a generator in the same state (the same seed, used
    for nothing else), so that all draw the same permutation: on more than one rank a
    missing `rng` is refused (an unseeded generator per rank would draw different
    permutations, whose shards overlap and miss samples). Each epoch draws a new permutation
    from it (no `set_epoch` needed).

    Every global batch must give each rank at least one row: a short last batch with fewer
    rows than ranks is refused (set `drop_last`, or choose a batch size that leaves a longer
    remainder). `len(sampler)` is the number of global batches per epoch.

    Example:
        >>> sampler = DistributedSampler(ArrayDataset(x, y), batch_size=256, rank=comm.rank,
        ...                              size=comm.size, shuffle=True,
        ...                              rng=np.random.default_rng(0))
        >>> for x_shard, y_shard in sampler: ...
    """

    def __init__(
        self,
        dataset: IndexableDataset | np.ndarray,
        batch_size: int,
        *,
        rank: int,
        size: int,
        shuffle: bool = False,
        drop_last: bool = False,
        rng: np.random.Generator | None = None,
    ) -> None:
        if isinstance(dataset, np.ndarray):
            dataset = ArrayDataset(dataset)
        refuse_sequence("DistributedSampler", dataset)
        # NumPy integers are taken as the DataLoader takes them for batch_size (a rank read
        # from an array); they were refused as "must be an int in 0..1, got np.int64(0)".
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
            raise ValueError(f"DistributedSampler: size must be a positive int, got {size!r}")
        if (
            isinstance(rank, bool)
            or not isinstance(rank, (int, np.integer))
            or not 0 <= rank < size
        ):
            raise ValueError(
                f"DistributedSampler: rank must be an int in 0..{size - 1}, got {rank!r}"
            )
        rank, size = int(rank), int(size)
        if shuffle and rng is None and size > 1:
            raise ValueError(
                f"DistributedSampler: shuffle=True on {size} ranks needs rng, a generator "
                "seeded alike on every rank (e.g. rng=np.random.default_rng(0)): without "
                "one each rank draws its own permutation, and the shards overlap and miss "
                "samples"
            )
        self.dataset = dataset
        self.rank, self.size = rank, size
        self.indices = DataLoader(
            np.arange(len(dataset)),
            batch_size=batch_size,
            shuffle=shuffle,
            drop_last=drop_last,
            rng=rng,
        )
        if batch_size < size:
            raise ShardError(
                f"DistributedSampler: a global batch of {batch_size} cannot give each of "
                f"{size} ranks a row; use a batch size of at least {size}"
            )
        remainder = len(dataset) % batch_size
        if not drop_last and 0 < remainder < size:
            raise ShardError(
                f"DistributedSampler: the last batch of an epoch has {remainder} rows "
                f"({len(dataset)} samples, batch {batch_size}), fewer than the {size} ranks; "
                "set drop_last, or choose a batch size that leaves at least one row per rank"
            )

    @property
    def batch_size(self) -> int:
        return self.indices.batch_size

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def epoch(self) -> int:
        return self.indices.epoch

    def __iter__(self) -> Iterator[tuple[np.ndarray, ...]]:
        for (batch,) in self.indices:
            start, stop = shard_bounds(len(batch), self.rank, self.size)
            yield self.dataset[batch[start:stop]]

    def state_dict(self) -> dict[str, Any]:
        """The global DataLoader's state (the same on every rank, for any rank count)."""
        return self.indices.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.indices.load_state_dict(state)
