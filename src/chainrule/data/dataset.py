"""`ArrayDataset`: rows of several equally long arrays, indexed together, and `split`,
which shuffles a dataset once and cuts it into parts (e.g. training and validation).
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

Index = int | np.integer | slice | npt.NDArray[np.integer] | Sequence[int]


class ArrayDataset:
    """Samples stored as the rows of one or more arrays of equal length.

    `dataset[i]` is the tuple `(a[i], b[i], ...)` of each array's row i; `dataset[indices]`
    with an integer array (or a slice) gathers a whole batch with one fancy-indexing call per
    array. The arrays are held as given (`np.asarray`), not copied.

    Example:
        >>> ds = ArrayDataset(np.zeros((5, 3)), np.arange(5))
        >>> len(ds), ds[np.array([0, 2])][1]
        (5, array([0, 2]))
    """

    def __init__(self, *arrays: npt.ArrayLike) -> None:
        if not arrays:
            raise ValueError(
                "ArrayDataset: got no arrays; pass at least one, e.g. ArrayDataset(images, labels)"
            )
        held = tuple(np.asarray(array) for array in arrays)
        for position, array in enumerate(held):
            if array.ndim == 0:
                raise ValueError(
                    f"ArrayDataset: array {position} is a scalar (shape ()); each array needs "
                    "a first dimension that indexes the samples"
                )
        lengths = [array.shape[0] for array in held]
        if len(set(lengths)) > 1:
            shapes = ", ".join(str(array.shape) for array in held)
            raise ValueError(
                f"ArrayDataset: the arrays have different first dimensions (shapes {shapes}); "
                "every array must hold one row per sample, so their first dimensions must "
                "be equal"
            )
        self._arrays = held

    @property
    def arrays(self) -> tuple[np.ndarray, ...]:
        """The arrays, in the order given."""
        return self._arrays

    def __len__(self) -> int:
        return int(self._arrays[0].shape[0])

    def __getitem__(self, index: Index) -> tuple[np.ndarray, ...]:
        if isinstance(index, slice):
            return tuple(array[index] for array in self._arrays)
        if isinstance(index, numbers.Integral):
            position = int(index)
            if not -len(self) <= position < len(self):
                raise IndexError(
                    f"ArrayDataset: index {position} is out of range for a dataset of "
                    f"{len(self)} samples"
                )
            return tuple(array[position] for array in self._arrays)
        indices = np.asarray(index)
        if indices.dtype.kind not in "iu" and not (indices.size == 0 and indices.ndim == 1):
            raise TypeError(
                f"ArrayDataset: indices must be integers (an int, a slice or an integer "
                f"array), got an array of dtype {indices.dtype}"
            )
        # Checked before the cast to intp, which wraps uint64 indices past 2**63 round to
        # negative ones (2**64 - 1 would read as -1, the last sample).
        if indices.size and (int(indices.min()) < -len(self) or int(indices.max()) >= len(self)):
            raise IndexError(
                f"ArrayDataset: indices range over [{indices.min()}, {indices.max()}], outside "
                f"a dataset of {len(self)} samples"
            )
        indices = indices.astype(np.intp, copy=False)
        return tuple(array[indices] for array in self._arrays)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{array.dtype}{list(array.shape)}" for array in self._arrays)
        return f"ArrayDataset({shapes})"


def _part_sizes(sizes: Sequence[float], total: int) -> list[int]:
    """Number of samples in each part: integers as given, fractions of `total` rounded so
    that the cumulative boundaries are round(total * cumulative fraction)."""
    if len(sizes) == 0:
        raise ValueError("split: `sizes` is empty; pass e.g. [0.9, 0.1] or [1500, 297]")
    if all(isinstance(size, numbers.Integral) for size in sizes):
        counts = [int(size) for size in sizes]
        if any(count < 0 for count in counts) or sum(counts) != total:
            raise ValueError(
                f"split: the sizes {counts} must be non-negative and add up to the dataset's "
                f"{total} samples (they add up to {sum(counts)})"
            )
        return counts
    fractions = [float(size) for size in sizes]
    if any(not 0.0 <= fraction <= 1.0 for fraction in fractions) or not math.isclose(
        sum(fractions), 1.0, rel_tol=0.0, abs_tol=1e-9
    ):
        raise ValueError(
            f"split: the fractions {fractions} must lie in [0, 1] and add up to 1 (they add "
            f"up to {sum(fractions)}); pass e.g. [0.9, 0.1], or whole sample counts"
        )
    cumulative = np.cumsum(fractions)
    boundaries = [0, *(round(total * float(c)) for c in cumulative[:-1]), total]
    return [high - low for low, high in itertools.pairwise(boundaries)]


def _refuse_nested_sequences(data: Sequence[npt.ArrayLike]) -> None:
    """TypeError for a sequence holding Python lists or tuples: N (x, y) pairs (PyTorch's
    random_split takes such a list) would be read as N fields of 2 samples each, and the
    parts cut across the fields instead of the samples."""
    nested = [position for position, item in enumerate(data) if isinstance(item, (list, tuple))]
    if nested:
        raise TypeError(
            f"split: item {nested[0]} of the {len(data)} given is a Python "
            f"{type(data[nested[0]]).__name__}; `data` is a sequence of arrays, one per field "
            "(images, labels), each with a row per sample. Pass the fields as NumPy arrays, "
            "e.g. split((np.asarray(x), np.asarray(y)), ...); for a list of (x, y) pairs: "
            "split(ArrayDataset(*map(np.stack, zip(*pairs))), ...)"
        )


def split(
    data: ArrayDataset | np.ndarray | Sequence[npt.ArrayLike],
    sizes: Sequence[float],
    *,
    rng: np.random.Generator,
) -> tuple[ArrayDataset, ...]:
    """Shuffle the samples with `rng` and cut them into consecutive parts.

    `data` is an ArrayDataset, one array, or a sequence of equally long arrays. `sizes` are
    either fractions adding up to 1 (`[0.9, 0.1]`) or sample counts adding up to the
    dataset's length (`[1500, 297]`). The same `rng` seed gives the same parts; each sample
    lands in exactly one part.

    Example:
        >>> train, valid = split((x, y), [0.9, 0.1], rng=np.random.default_rng(0))
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"split: rng must be a np.random.Generator, got {type(rng).__name__}; pass e.g. "
            "rng=np.random.default_rng(0)"
        )
    if isinstance(data, ArrayDataset):
        dataset = data
    elif isinstance(data, np.ndarray):
        dataset = ArrayDataset(data)
    else:
        _refuse_nested_sequences(data)
        dataset = ArrayDataset(*data)
    counts = _part_sizes(sizes, len(dataset))
    order = rng.permutation(len(dataset))
    boundaries = np.cumsum([0, *counts])
    return tuple(
        ArrayDataset(*dataset[order[low:high]]) for low, high in itertools.pairwise(boundaries)
    )
