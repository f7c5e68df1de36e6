"""ArrayDataset indexing and errors; split's sizes, coverage and determinism."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.data import ArrayDataset, split


def _dataset(n: int = 10) -> ArrayDataset:
    return ArrayDataset(np.arange(n * 3, dtype=np.float64).reshape(n, 3), np.arange(n))


def test_len_is_the_first_dimension() -> None:
    assert len(_dataset(7)) == 7


def test_integer_index_returns_a_tuple_of_rows() -> None:
    x_row, y_row = _dataset()[4]
    np.testing.assert_array_equal(x_row, np.array([12.0, 13.0, 14.0]))
    assert x_row.shape == (3,)
    assert y_row == 4


def test_index_array_gathers_a_batch_in_the_given_order() -> None:
    x_batch, y_batch = _dataset()[np.array([5, 0, 9])]
    assert x_batch.shape == (3, 3)
    np.testing.assert_array_equal(y_batch, np.array([5, 0, 9]))
    np.testing.assert_array_equal(x_batch[:, 0], np.array([15.0, 0.0, 27.0]))


def test_slice_gathers_consecutive_rows() -> None:
    _, y_batch = _dataset()[2:5]
    np.testing.assert_array_equal(y_batch, np.array([2, 3, 4]))


def test_mismatched_first_dimensions_are_rejected_with_the_shapes() -> None:
    with pytest.raises(ValueError, match=r"different first dimensions.*\(10, 3\), \(9,\)"):
        ArrayDataset(np.zeros((10, 3)), np.zeros(9))


def test_no_arrays_is_rejected() -> None:
    with pytest.raises(ValueError, match="got no arrays"):
        ArrayDataset()


def test_scalar_array_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"array 1 is a scalar"):
        ArrayDataset(np.zeros(3), np.float64(1.0))


def test_out_of_range_index_names_the_dataset_length() -> None:
    with pytest.raises(IndexError, match="outside a dataset of 10 samples"):
        _dataset()[np.array([0, 10])]


def test_float_indices_are_rejected() -> None:
    with pytest.raises(TypeError, match="indices must be integers"):
        _dataset()[np.array([0.0, 1.0])]


def test_split_by_fractions_gives_parts_of_rounded_sizes() -> None:
    train, valid = split(_dataset(10), [0.75, 0.25], rng=np.random.default_rng(0))
    assert (len(train), len(valid)) == (8, 2)


def test_split_covers_every_sample_exactly_once() -> None:
    parts = split(_dataset(10), [5, 3, 2], rng=np.random.default_rng(0))
    labels = np.concatenate([part.arrays[1] for part in parts])
    np.testing.assert_array_equal(np.sort(labels), np.arange(10))


def test_split_keeps_rows_of_all_arrays_together() -> None:
    train, _ = split(_dataset(10), [0.5, 0.5], rng=np.random.default_rng(1))
    x_part, y_part = train.arrays
    np.testing.assert_array_equal(x_part[:, 0], 3.0 * y_part)


def test_split_is_reproducible_with_the_same_seed() -> None:
    first = split(_dataset(10), [0.5, 0.5], rng=np.random.default_rng(3))
    second = split(_dataset(10), [0.5, 0.5], rng=np.random.default_rng(3))
    np.testing.assert_array_equal(first[0].arrays[1], second[0].arrays[1])


def test_split_shuffles() -> None:
    train, _ = split(_dataset(100), [0.5, 0.5], rng=np.random.default_rng(3))
    assert not np.array_equal(train.arrays[1], np.arange(50))


def test_split_accepts_a_tuple_of_arrays() -> None:
    train, valid = split((np.zeros((6, 2)), np.arange(6)), [4, 2], rng=np.random.default_rng(0))
    assert train.arrays[0].shape == (4, 2)
    assert valid.arrays[1].shape == (2,)


def test_split_rejects_counts_that_do_not_add_up() -> None:
    with pytest.raises(ValueError, match="add up to the dataset's 10 samples"):
        split(_dataset(10), [5, 4], rng=np.random.default_rng(0))


def test_split_rejects_fractions_that_do_not_add_up_to_one() -> None:
    with pytest.raises(ValueError, match="add up to 1"):
        split(_dataset(10), [0.5, 0.4], rng=np.random.default_rng(0))


def test_split_requires_a_generator() -> None:
    with pytest.raises(TypeError, match=r"rng must be a np\.random\.Generator"):
        split(_dataset(10), [0.5, 0.5], rng=0)  # type: ignore[arg-type]


def test_split_refuses_a_list_of_sample_pairs() -> None:
    # Four (x, y) pairs were read as four fields of two samples: the "halves" were the
    # column of x values and the column of y values.
    pairs = [(1.0, 0), (2.0, 1), (3.0, 0), (4.0, 1)]
    with pytest.raises(TypeError, match=r"item 0 of the 4 given is a Python tuple.*pairs"):
        split(pairs, [0.5, 0.5], rng=np.random.default_rng(0))


def test_split_takes_a_list_of_field_arrays() -> None:
    images, labels = np.arange(12.0).reshape(6, 2), np.arange(6)
    train, valid = split([images, labels], [4, 2], rng=np.random.default_rng(0))
    assert (len(train), len(valid)) == (4, 2)
    joined = np.concatenate([train.arrays[1], valid.arrays[1]])
    np.testing.assert_array_equal(np.sort(joined), labels)
    for part in (train, valid):
        np.testing.assert_array_equal(part.arrays[0], images[part.arrays[1]])


@pytest.mark.parametrize("index", [2**64 - 1, 2**63, 10])
def test_unsigned_64_bit_indices_past_the_end_are_refused_not_wrapped(index: int) -> None:
    # The cast to intp came before the range check: 2**64 - 1 became -1 and read the last
    # sample, 2**63 became the most negative integer.
    with pytest.raises(IndexError, match="outside a dataset of 10 samples"):
        _dataset()[np.array([0, index], dtype=np.uint64)]


def test_unsigned_indices_within_range_gather_those_rows() -> None:
    _, y_batch = _dataset()[np.array([9, 0, 3], dtype=np.uint64)]
    np.testing.assert_array_equal(y_batch, [9, 0, 3])
