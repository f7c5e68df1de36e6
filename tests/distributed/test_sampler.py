"""`DistributedSampler`: the ranks' shards tile the DataLoader's global batches, and a
sampler resumes mid-epoch like the DataLoader, for any rank count."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.data import ArrayDataset, DataLoader
from chainrule.distributed import DistributedSampler, shard_bounds


def samplers(
    size: int, samples: int = 30, batch: int = 8, seed: int = 5
) -> list[DistributedSampler]:
    data = ArrayDataset(np.arange(samples))
    return [
        DistributedSampler(
            data, batch, rank=rank, size=size, shuffle=True, rng=np.random.default_rng(seed)
        )
        for rank in range(size)
    ]


def test_shard_bounds_split_contiguously_larger_first() -> None:
    assert [shard_bounds(10, rank, 4) for rank in range(4)] == [(0, 3), (3, 6), (6, 8), (8, 10)]


@pytest.mark.parametrize("size", [1, 2, 3])
def test_shards_concatenate_to_the_dataloaders_global_batches(size: int) -> None:
    loader = DataLoader(
        ArrayDataset(np.arange(30)), batch_size=8, shuffle=True, rng=np.random.default_rng(5)
    )
    expected = [batch for (batch,) in loader]
    shards = [[shard for (shard,) in sampler] for sampler in samplers(size)]
    assert all(len(per_rank) == len(expected) for per_rank in shards)
    for index, batch in enumerate(expected):
        np.testing.assert_array_equal(
            np.concatenate([per_rank[index] for per_rank in shards]), batch
        )


def test_len_is_the_number_of_global_batches() -> None:
    assert [len(sampler) for sampler in samplers(2)] == [4, 4]


def test_resumes_mid_epoch_with_the_remaining_shards() -> None:
    sampler = samplers(2)[1]
    batches = iter(sampler)
    next(batches)
    state = sampler.state_dict()
    remaining = [shard for (shard,) in batches]
    resumed = samplers(2, seed=99)[1]
    resumed.load_state_dict(state)
    got = [shard for (shard,) in resumed]
    assert len(got) == len(remaining) == 3
    for shard, expected in zip(got, remaining, strict=True):
        np.testing.assert_array_equal(shard, expected)


def test_state_does_not_depend_on_the_rank_count() -> None:
    two, three = samplers(2)[0], samplers(3)[2]
    next(iter(two))
    next(iter(three))
    assert two.state_dict() == three.state_dict()


def test_a_global_batch_smaller_than_the_ranks_is_refused() -> None:
    with pytest.raises(ValueError, match="batch of 2 cannot give each of 3 ranks"):
        DistributedSampler(np.arange(10), 2, rank=0, size=3)


def test_a_last_batch_shorter_than_the_ranks_is_refused() -> None:
    with pytest.raises(ValueError, match="last batch of an epoch has 1 rows"):
        DistributedSampler(np.arange(9), 4, rank=0, size=2)


def test_drop_last_accepts_a_short_remainder() -> None:
    sampler = DistributedSampler(np.arange(9), 4, rank=1, size=2, drop_last=True)
    assert [shard.tolist() for (shard,) in sampler] == [[2, 3], [6, 7]]


def test_a_rank_outside_the_size_is_refused() -> None:
    with pytest.raises(ValueError, match=r"rank must be an int in 0\.\.1"):
        DistributedSampler(np.arange(8), 4, rank=2, size=2)


def test_a_list_of_pairs_is_refused_as_by_the_dataloader() -> None:
    pairs = [(np.zeros(2), 0)] * 4
    with pytest.raises(TypeError, match=r"^DistributedSampler: got a list of 4 items"):
        DistributedSampler(pairs, 2, rank=0, size=2)  # type: ignore[arg-type]


def test_shuffling_on_several_ranks_without_a_generator_is_refused() -> None:
    """Each rank drew its own unseeded permutation: shards overlapped and missed samples."""
    with pytest.raises(ValueError, match=r"shuffle=True on 2 ranks needs rng"):
        DistributedSampler(np.arange(20.0), 10, rank=1, size=2, shuffle=True)


def test_shuffling_on_one_rank_without_a_generator_is_allowed() -> None:
    sampler = DistributedSampler(np.arange(20.0), 10, rank=0, size=1, shuffle=True)
    assert sorted(int(v) for (batch,) in sampler for v in batch) == list(range(20))


@pytest.mark.parametrize("size", [2, 3])
def test_shuffled_shards_are_disjoint_and_cover_every_epoch_and_epochs_differ(size: int) -> None:
    samplers = [
        DistributedSampler(
            np.arange(23.0), 6, rank=rank, size=size, shuffle=True, rng=np.random.default_rng(5)
        )
        for rank in range(size)
    ]
    orders = []
    for _ in range(3):
        shards = [[int(v) for (batch,) in sampler for v in batch] for sampler in samplers]
        assert sorted(v for shard in shards for v in shard) == list(range(23))
        orders.append(shards[0])
    assert orders[0] != orders[1] != orders[2]


@pytest.mark.parametrize("integer", [int, np.int64, np.int32, np.uint8])
def test_numpy_integer_rank_and_size_are_taken_as_ints(integer: type) -> None:
    # A NumPy rank was refused with "rank must be an int in 0..1, got np.int64(1)".
    sampler = DistributedSampler(np.arange(8), 4, rank=integer(1), size=integer(2))
    assert (type(sampler.rank), type(sampler.size)) == (int, int)
    assert [shard.tolist() for (shard,) in sampler] == [[2, 3], [6, 7]]


@pytest.mark.parametrize(("rank", "size"), [(True, 2), (0, True), (0.0, 2), (0, 2.0)])
def test_bool_or_float_rank_and_size_are_refused(rank: object, size: object) -> None:
    with pytest.raises(ValueError, match=r"(rank|size) must be"):
        DistributedSampler(np.arange(8), 4, rank=rank, size=size)  # type: ignore[arg-type]
