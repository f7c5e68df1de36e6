"""DistributedSampler, swept over dataset sizes, batch sizes, rank counts, drop_last and
shuffle: refused exactly where a global batch cannot give every rank a row; otherwise the
ranks' shards concatenate to the DataLoader's global batches, every sample is seen once per
epoch (less the dropped remainder), and a state saved mid-epoch resumes on 1, 2 or 3 ranks."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from chainrule.data import ArrayDataset, DataLoader
from chainrule.distributed import DistributedSampler, ShardError

SEED = 3


def _refused(samples: int, batch_size: int, ranks: int, drop_last: bool) -> bool:
    return batch_size < ranks or (not drop_last and 0 < samples % batch_size < ranks)


def _samplers(
    samples: int, batch_size: int, ranks: int, *, shuffle: bool, drop_last: bool, seed: int
) -> list[DistributedSampler]:
    return [
        DistributedSampler(
            ArrayDataset(np.arange(samples)),
            batch_size,
            rank=rank,
            size=ranks,
            shuffle=shuffle,
            drop_last=drop_last,
            rng=np.random.default_rng(seed),
        )
        for rank in range(ranks)
    ]


def _global_epochs(
    samples: int, batch_size: int, *, shuffle: bool, drop_last: bool, epochs: int
) -> list[list[np.ndarray]]:
    loader = DataLoader(
        ArrayDataset(np.arange(samples)),
        batch_size=batch_size,
        shuffle=shuffle,
        drop_last=drop_last,
        rng=np.random.default_rng(SEED),
    )
    return [[batch for (batch,) in loader] for _ in range(epochs)]


CASES = [
    case
    for case in itertools.product([5, 12, 23], [1, 3, 4, 7], [1, 2, 3], [False, True], [True])
    if not (case[3] and case[1] > case[0])
] + [(23, 7, 3, False, False), (12, 4, 2, True, False)]


@pytest.mark.parametrize(("samples", "batch_size", "ranks", "drop_last", "shuffle"), CASES)
def test_shards_tile_the_global_batches_or_are_refused(
    samples: int, batch_size: int, ranks: int, drop_last: bool, shuffle: bool
) -> None:
    if _refused(samples, batch_size, ranks, drop_last):
        with pytest.raises(ShardError, match="DistributedSampler"):
            _samplers(samples, batch_size, ranks, shuffle=shuffle, drop_last=drop_last, seed=SEED)
        return
    samplers = _samplers(
        samples, batch_size, ranks, shuffle=shuffle, drop_last=drop_last, seed=SEED
    )
    expected = _global_epochs(samples, batch_size, shuffle=shuffle, drop_last=drop_last, epochs=3)
    for epoch in expected[:2]:
        shards = [[shard for (shard,) in sampler] for sampler in samplers]
        assert [len(per_rank) for per_rank in shards] == [len(epoch)] * ranks
        for index, batch in enumerate(epoch):
            parts = [per_rank[index] for per_rank in shards]
            assert all(len(part) >= 1 for part in parts)
            np.testing.assert_array_equal(np.concatenate(parts), batch)
        seen = np.concatenate(epoch)
        kept = samples - (samples % batch_size if drop_last else 0)
        assert len(seen) == len(np.unique(seen)) == kept

    if len(expected[2]) < 2:
        return
    next(iter(samplers[0]))
    state = json.loads(json.dumps(samplers[0].state_dict()))
    for other_ranks in (1, 2, 3):
        if _refused(samples, batch_size, other_ranks, drop_last):
            continue
        resumed = _samplers(
            samples, batch_size, other_ranks, shuffle=shuffle, drop_last=drop_last, seed=99
        )
        for sampler in resumed:
            sampler.load_state_dict(state)
        shards = [[shard for (shard,) in sampler] for sampler in resumed]
        got = [np.concatenate(parts) for parts in zip(*shards, strict=True)]
        assert len(got) == len(expected[2]) - 1
        for batch, want in zip(got, expected[2][1:], strict=True):
            np.testing.assert_array_equal(batch, want)
