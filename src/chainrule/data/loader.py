"""`DataLoader`: iterates a dataset in mini-batches, one fancy-indexing gather per batch,
reshuffling each epoch with its own `np.random.Generator`. `state_dict()` captures where
it stands (generator state and position within the epoch) so a run resumes exactly.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from chainrule.data.dataset import ArrayDataset


class IndexableDataset(Protocol):
    """What a DataLoader needs: a length, and a tuple of batch arrays for an index array."""

    def __len__(self) -> int: ...

    def __getitem__(self, indices: npt.NDArray[np.intp], /) -> tuple[np.ndarray, ...]: ...


def _to_json(value: Any) -> Any:
    """The bit generator's state with arrays (MT19937's key) turned into lists."""
    if isinstance(value, dict):
        return {key: _to_json(item) for key, item in value.items()}
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.integer):
        return int(value)
    return value


def refuse_sequence(owner: str, dataset: object) -> None:
    """Raise TypeError for a list or tuple given as a dataset (PyTorch takes a list of (x, y)
    pairs; here a batch is one integer-array index, which a Python sequence refuses deep
    inside the first batch)."""
    if isinstance(dataset, (list, tuple)):
        raise TypeError(
            f"{owner}: got a {type(dataset).__name__} of {len(dataset)} items; a batch is "
            "gathered with one integer-array index, which a Python sequence does not take. "
            "Pass ArrayDataset(images, labels) (one array per field, a row per sample); for "
            "a list of (x, y) pairs: ArrayDataset(*map(np.stack, zip(*pairs)))"
        )


class DataLoader:
    """Mini-batches of a dataset, as tuples of NumPy arrays.

    Each epoch (each `iter(loader)`) visits every sample once: in order, or when `shuffle`
    is set in a fresh permutation drawn from `rng` (a new `np.random.default_rng()` when
    None), so epochs differ yet the same seed gives the same batches. The last, short batch
    is dropped when `drop_last` is set. `len(loader)` is the number of batches per epoch.

    For an exact resume, save `state_dict()` (JSON-serialisable) with the checkpoint and
    hand it to `load_state_dict()`: the next iteration continues the interrupted epoch with
    the same permutation, skipping the batches already seen. Give the loader a generator of
    its own (not one shared with, say, dropout), since restoring it rewinds that generator.

    Example:
        >>> loader = DataLoader(ArrayDataset(x, y), batch_size=32, shuffle=True,
        ...                     rng=np.random.default_rng(0))
        >>> for x_batch, y_batch in loader: ...
    """

    def __init__(
        self,
        dataset: IndexableDataset | np.ndarray,
        batch_size: int = 1,
        shuffle: bool = False,
        drop_last: bool = False,
        rng: np.random.Generator | None = None,
    ) -> None:
        if isinstance(dataset, np.ndarray):
            dataset = ArrayDataset(dataset)
        refuse_sequence("DataLoader", dataset)
        self.dataset: IndexableDataset = dataset
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
            raise TypeError(
                f"DataLoader: batch_size must be an int, got {type(batch_size).__name__}"
            )
        if batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be at least 1, got {batch_size}")
        if len(dataset) == 0:
            raise ValueError(
                "DataLoader: the dataset is empty (0 samples); there is nothing to iterate"
            )
        if rng is not None and not isinstance(rng, np.random.Generator):
            raise TypeError(
                f"DataLoader: rng must be a np.random.Generator or None, got "
                f"{type(rng).__name__}; pass e.g. rng=np.random.default_rng(0)"
            )
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.rng = rng if rng is not None else np.random.default_rng()
        self._epoch = 0
        self._batches_done = 0
        self._epoch_start_state: Mapping[str, Any] | None = None
        self._resume_from = 0
        self._iteration = 0
        if len(self) == 0:
            raise ValueError(
                f"DataLoader: with drop_last=True and batch_size={self.batch_size} larger "
                f"than the dataset's {len(dataset)} samples there are no batches; lower "
                "batch_size or set drop_last=False"
            )

    def __len__(self) -> int:
        samples = len(self.dataset)
        if self.drop_last:
            return samples // self.batch_size
        # Integer ceiling: math.ceil(samples / batch_size) rounds through a float, which
        # drops the short last batch once samples / batch_size is within 2**-52 of an integer.
        return -(-samples // self.batch_size)

    @property
    def epoch(self) -> int:
        """The number of epochs completed."""
        return self._epoch

    def __iter__(self) -> Iterator[tuple[np.ndarray, ...]]:
        self._iteration += 1
        iteration = self._iteration
        skip = self._resume_from
        self._resume_from = 0
        self._epoch_start_state = self.rng.bit_generator.state
        samples = len(self.dataset)
        order = self.rng.permutation(samples) if self.shuffle else np.arange(samples)
        self._batches_done = skip
        return self._batches(order, skip, iteration)

    def _batches(
        self, order: npt.NDArray[np.intp], skip: int, iteration: int
    ) -> Iterator[tuple[np.ndarray, ...]]:
        for batch in range(skip, len(self)):
            indices = order[batch * self.batch_size : (batch + 1) * self.batch_size]
            gathered = self.dataset[indices]
            if iteration == self._iteration:
                self._batches_done = batch + 1
            yield gathered
        if iteration == self._iteration and self._epoch_start_state is not None:
            self._finish_epoch()

    def _finish_epoch(self) -> None:
        self._epoch += 1
        self._batches_done = 0
        self._epoch_start_state = None

    def state_dict(self) -> dict[str, Any]:
        """Where the loader stands, as plain JSON-serialisable data: epochs completed, the
        batches already handed out in the current epoch, and the generator state from which
        the current epoch's permutation was (or the next one will be) drawn."""
        if self._epoch_start_state is not None and self._batches_done >= len(self):
            self._finish_epoch()
        # Once `iter()` has drawn this epoch's permutation (even before its first batch),
        # the generator has moved past it: the state it was drawn from is the one to save.
        mid_epoch = self._epoch_start_state is not None
        rng_state = self._epoch_start_state if mid_epoch else self.rng.bit_generator.state
        return {
            "epoch": self._epoch,
            "batches_done": self._batches_done if mid_epoch else 0,
            "rng_state": _to_json(rng_state),
            "batch_size": self.batch_size,
            "shuffle": self.shuffle,
            "drop_last": self.drop_last,
            "num_samples": len(self.dataset),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a `state_dict()`: the next `iter(self)` continues exactly where the saved
        loader was, with the same batches in the same order."""
        expected = {
            "batch_size": self.batch_size,
            "shuffle": self.shuffle,
            "drop_last": self.drop_last,
            "num_samples": len(self.dataset),
        }
        missing = sorted({"epoch", "batches_done", "rng_state", *expected} - set(state))
        if missing:
            raise ValueError(
                f"DataLoader.load_state_dict: the state lacks the keys {missing}; pass a dict "
                "made by DataLoader.state_dict()"
            )
        different = {
            key: (state[key], value) for key, value in expected.items() if state[key] != value
        }
        if different:
            described = ", ".join(
                f"{key}: saved {saved!r}, this loader {current!r}"
                for key, (saved, current) in different.items()
            )
            raise ValueError(
                f"DataLoader.load_state_dict: the saved loader differs from this one "
                f"({described}); build the loader with the same dataset and settings"
            )
        batches_done = int(state["batches_done"])
        if not 0 <= batches_done < len(self):
            raise ValueError(
                f"DataLoader.load_state_dict: batches_done={batches_done} is outside "
                f"0..{len(self) - 1}, the batches of one epoch"
            )
        # Read before the generator is set, so that a refused state leaves the loader as it was.
        epoch = state["epoch"]
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
            raise ValueError(
                f"DataLoader.load_state_dict: epoch must be an integer 0 or more, got {epoch!r}"
            )
        try:
            self.rng.bit_generator.state = state["rng_state"]
        except (TypeError, ValueError, KeyError) as error:
            raise ValueError(
                f"DataLoader.load_state_dict: the saved rng_state does not fit this loader's "
                f"{type(self.rng.bit_generator).__name__} generator ({error}); build the "
                "loader with the same kind of generator"
            ) from error
        self._epoch = int(epoch)
        self._resume_from = batches_done
        self._batches_done = batches_done
        self._epoch_start_state = self.rng.bit_generator.state
        self._iteration += 1
