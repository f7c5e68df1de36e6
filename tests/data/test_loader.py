"""DataLoader: batches, epochs, shuffling, drop_last, errors, and exact resume."""

from __future__ import annotations

import json

import numpy as np
import pytest

from chainrule.data import ArrayDataset, DataLoader


def _dataset(n: int = 10) -> ArrayDataset:
    return ArrayDataset(np.arange(n * 2, dtype=np.float32).reshape(n, 2), np.arange(n))


def _labels(loader: DataLoader) -> list[np.ndarray]:
    return [labels for _, labels in loader]


def test_batches_are_tuples_of_arrays_with_batch_shapes() -> None:
    batches = list(DataLoader(_dataset(10), batch_size=4))
    assert [tuple(array.shape for array in batch) for batch in batches] == [
        ((4, 2), (4,)),
        ((4, 2), (4,)),
        ((2, 2), (2,)),
    ]


def test_unshuffled_batches_come_in_order() -> None:
    labels = np.concatenate(_labels(DataLoader(_dataset(10), batch_size=3)))
    np.testing.assert_array_equal(labels, np.arange(10))


def test_shuffled_epoch_covers_every_index_exactly_once() -> None:
    loader = DataLoader(_dataset(23), batch_size=5, shuffle=True, rng=np.random.default_rng(0))
    for _ in range(3):
        labels = np.concatenate(_labels(loader))
        np.testing.assert_array_equal(np.sort(labels), np.arange(23))


def test_shuffle_differs_between_epochs() -> None:
    loader = DataLoader(_dataset(50), batch_size=50, shuffle=True, rng=np.random.default_rng(0))
    first, second = _labels(loader)[0], _labels(loader)[0]
    assert not np.array_equal(first, second)


def test_shuffle_is_reproducible_with_the_same_seed() -> None:
    runs = []
    for _ in range(2):
        loader = DataLoader(_dataset(30), batch_size=7, shuffle=True, rng=np.random.default_rng(5))
        runs.append(np.concatenate(_labels(loader) + _labels(loader)))
    np.testing.assert_array_equal(runs[0], runs[1])


def test_len_counts_the_short_last_batch() -> None:
    assert len(DataLoader(_dataset(10), batch_size=4)) == 3


def test_drop_last_drops_the_short_batch() -> None:
    loader = DataLoader(_dataset(10), batch_size=4, drop_last=True)
    assert len(loader) == 2
    assert [labels.shape for labels in _labels(loader)] == [(4,), (4,)]


def test_a_plain_array_is_iterated_as_a_one_array_dataset() -> None:
    (batch,) = next(iter(DataLoader(np.arange(6), batch_size=6)))
    np.testing.assert_array_equal(batch, np.arange(6))


def test_epoch_counts_completed_epochs() -> None:
    loader = DataLoader(_dataset(4), batch_size=2)
    list(loader)
    list(loader)
    assert loader.epoch == 2


@pytest.mark.parametrize("batch_size", [0, -3])
def test_batch_size_below_one_is_rejected(batch_size: int) -> None:
    with pytest.raises(ValueError, match=f"batch_size must be at least 1, got {batch_size}"):
        DataLoader(_dataset(), batch_size=batch_size)


def test_non_integer_batch_size_is_rejected() -> None:
    with pytest.raises(TypeError, match="batch_size must be an int, got float"):
        DataLoader(_dataset(), batch_size=2.0)  # type: ignore[arg-type]


def test_empty_dataset_is_rejected() -> None:
    with pytest.raises(ValueError, match="the dataset is empty"):
        DataLoader(ArrayDataset(np.zeros((0, 3))), batch_size=2)


def test_drop_last_with_too_large_a_batch_is_rejected() -> None:
    with pytest.raises(ValueError, match="there are no batches"):
        DataLoader(_dataset(3), batch_size=4, drop_last=True)


def test_state_dict_is_json_serialisable() -> None:
    loader = DataLoader(_dataset(), batch_size=3, shuffle=True, rng=np.random.default_rng(0))
    iterator = iter(loader)
    next(iterator)
    state = loader.state_dict()
    assert json.loads(json.dumps(state)) == state


def test_resume_mid_epoch_gives_identical_subsequent_batches() -> None:
    def make() -> DataLoader:
        return DataLoader(_dataset(17), batch_size=3, shuffle=True, rng=np.random.default_rng(9))

    straight = make()
    expected = _labels(straight) + _labels(straight) + _labels(straight)

    interrupted = make()
    seen = _labels(interrupted)
    iterator = iter(interrupted)
    seen += [next(iterator)[1], next(iterator)[1]]
    saved = json.loads(json.dumps(interrupted.state_dict()))

    resumed = make()
    resumed.load_state_dict(saved)
    seen += _labels(resumed) + _labels(resumed)
    assert len(seen) == len(expected)
    for got, want in zip(seen, expected, strict=True):
        np.testing.assert_array_equal(got, want)


def test_resume_at_an_epoch_boundary_starts_the_next_epoch() -> None:
    def make() -> DataLoader:
        return DataLoader(_dataset(8), batch_size=4, shuffle=True, rng=np.random.default_rng(2))

    straight = make()
    expected = _labels(straight) + _labels(straight)

    interrupted = make()
    seen = []
    for _, labels in interrupted:
        seen.append(labels)
    state = interrupted.state_dict()
    resumed = make()
    resumed.load_state_dict(state)
    seen += _labels(resumed)
    for got, want in zip(seen, expected, strict=True):
        np.testing.assert_array_equal(got, want)
    assert resumed.epoch == 2


def test_state_taken_after_the_last_batch_but_before_the_loop_ends_resumes_cleanly() -> None:
    def make() -> DataLoader:
        return DataLoader(_dataset(8), batch_size=4, shuffle=True, rng=np.random.default_rng(4))

    straight = make()
    list(straight)
    expected_next_epoch = _labels(straight)

    interrupted = make()
    iterator = iter(interrupted)
    next(iterator)
    next(iterator)
    state = interrupted.state_dict()
    assert (state["epoch"], state["batches_done"]) == (1, 0)
    resumed = make()
    resumed.load_state_dict(state)
    for got, want in zip(_labels(resumed), expected_next_epoch, strict=True):
        np.testing.assert_array_equal(got, want)


def test_state_of_a_restored_loader_before_iterating_is_the_restored_state() -> None:
    loader = DataLoader(_dataset(9), batch_size=2, shuffle=True, rng=np.random.default_rng(1))
    iterator = iter(loader)
    next(iterator)
    state = loader.state_dict()
    other = DataLoader(_dataset(9), batch_size=2, shuffle=True, rng=np.random.default_rng(7))
    other.load_state_dict(state)
    assert other.state_dict() == state


def test_load_state_dict_rejects_a_different_batch_size() -> None:
    state = DataLoader(_dataset(), batch_size=3).state_dict()
    with pytest.raises(ValueError, match="batch_size: saved 3, this loader 2"):
        DataLoader(_dataset(), batch_size=2).load_state_dict(state)


def test_load_state_dict_rejects_missing_keys() -> None:
    with pytest.raises(ValueError, match=r"lacks the keys \['batch_size'"):
        DataLoader(_dataset()).load_state_dict({"epoch": 0, "batches_done": 0, "rng_state": {}})


def test_state_taken_after_iter_but_before_the_first_batch_resumes_the_same_permutation() -> None:
    # The permutation is drawn by iter(); a state saved before its first batch must give
    # the resumed loader that permutation, not the next one drawn from the moved generator.
    def make() -> DataLoader:
        return DataLoader(_dataset(10), batch_size=3, shuffle=True, rng=np.random.default_rng(0))

    expected = _labels(make())
    interrupted = make()
    iter(interrupted)
    state = json.loads(json.dumps(interrupted.state_dict()))
    assert (state["epoch"], state["batches_done"]) == (0, 0)
    resumed = make()
    resumed.load_state_dict(state)
    got = _labels(resumed)
    assert len(got) == len(expected)
    for batch, want in zip(got, expected, strict=True):
        np.testing.assert_array_equal(batch, want)


@pytest.mark.parametrize("epoch", ["two", -1])
def test_a_refused_loader_state_leaves_the_generator_untouched(epoch: object) -> None:
    # The generator was set from the state before its epoch was read, so a refused epoch
    # left the loader drawing another permutation than before the failed load.
    def make() -> DataLoader:
        return DataLoader(_dataset(10), batch_size=3, shuffle=True, rng=np.random.default_rng(0))

    expected = _labels(make())
    other = DataLoader(_dataset(10), batch_size=3, shuffle=True, rng=np.random.default_rng(9))
    state = other.state_dict()
    state["epoch"] = epoch
    loader = make()
    with pytest.raises(ValueError, match="epoch"):
        loader.load_state_dict(state)
    for batch, want in zip(_labels(loader), expected, strict=True):
        np.testing.assert_array_equal(batch, want)


def test_a_list_of_pairs_is_refused_with_the_arraydataset_that_holds_it() -> None:
    # PyTorch's DataLoader takes a list of (x, y) pairs and collates them; here each batch is
    # one integer-array index, which a list refused inside NumPy ("only integer scalar
    # arrays can be converted to a scalar index") at the first batch.
    pairs = [(np.full(3, float(i)), i % 2) for i in range(5)]
    with pytest.raises(TypeError, match=r"^DataLoader: got a list of 5 items.*ArrayDataset"):
        DataLoader(pairs, batch_size=2)  # type: ignore[arg-type]
    x, y = next(
        iter(DataLoader(ArrayDataset(*map(np.stack, zip(*pairs, strict=True))), batch_size=2))
    )
    np.testing.assert_array_equal(x, [[0.0] * 3, [1.0] * 3])
    np.testing.assert_array_equal(y, [0, 1])


@pytest.mark.parametrize("shuffle", [False, True])
def test_a_batch_changed_in_place_leaves_the_dataset_and_later_epochs_as_they_were(
    shuffle: bool,
) -> None:
    # An in-place transform of a batch (x -= mean, augmentation) must not reach the
    # dataset: each batch is a gathered copy, even when unshuffled batches are contiguous.
    images = np.arange(20, dtype=np.float32).reshape(10, 2)
    loader = DataLoader(
        ArrayDataset(images), batch_size=4, shuffle=shuffle, rng=np.random.default_rng(0)
    )
    for (batch,) in loader:
        batch *= -1.0
    np.testing.assert_array_equal(images, np.arange(20, dtype=np.float32).reshape(10, 2))
    second_epoch = np.concatenate([batch for (batch,) in loader])
    assert (second_epoch >= 0).all()


class _LengthOnly:
    """A dataset too large to iterate here: only its length is read."""

    def __init__(self, samples: int) -> None:
        self.samples = samples

    def __len__(self) -> int:
        return self.samples

    def __getitem__(self, indices: np.ndarray) -> tuple[np.ndarray, ...]:
        raise AssertionError("len(loader) gathers no batch")


@pytest.mark.parametrize(
    ("samples", "batch_size", "batches"),
    [(10**17 + 1, 10**17, 2), (2**60 + 1, 2**59, 3), (2**53 + 1, 2, 2**52 + 1)],
)
def test_len_counts_a_short_last_batch_of_one_sample_in_a_huge_dataset(
    samples: int, batch_size: int, batches: int
) -> None:
    # math.ceil(samples / batch_size) went through a float: 10**17 + 1 samples in batches
    # of 10**17 made 1 batch, and the last sample was never served.
    loader = DataLoader(_LengthOnly(samples), batch_size=batch_size)
    assert len(loader) == batches


@pytest.mark.parametrize("shuffle", [False, True])
def test_two_iterators_at_once_each_serve_a_whole_epoch(shuffle: bool) -> None:
    # As with torch's DataLoader: a second iter() does not cut the first one short.
    loader = DataLoader(_dataset(11), batch_size=3, shuffle=shuffle, rng=np.random.default_rng(3))
    first = iter(loader)
    head = next(first)[1]
    second = iter(loader)
    both = [np.concatenate([head, *(labels for _, labels in first)])]
    both.append(np.concatenate([labels for _, labels in second]))
    for labels in both:
        np.testing.assert_array_equal(np.sort(labels), np.arange(11))
