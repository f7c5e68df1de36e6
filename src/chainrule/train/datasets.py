"""The data of a run: training, validation and test arrays for a data name or folder.

Validation comes out of the training set, and for the digits (which have no test set) the
test set too, each cut with a fixed generator: every run of a data set sees the same split,
whatever its --seed.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import numpy.typing as npt

SPLIT_SEED = 20240601
"""The generator seed of the validation and digits-test splits (fixed, not --seed)."""

DIGITS_TEST_FRACTION = 0.2
DIGITS_IMAGE_SHAPE = (8, 8)

CACHE = Path.home() / ".cache" / "chainrule"
"""Where --data mnist (and fashion-mnist without Debian's package) are downloaded to."""

Labels = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Splits:
    """x arrays are (N, features) in the run's dtype; y arrays int64 class indices;
    `image_shape` the (rows, columns) each row of features was flattened from, when known."""

    x_train: np.ndarray
    y_train: Labels
    x_val: np.ndarray
    y_val: Labels
    x_test: np.ndarray
    y_test: Labels
    class_names: tuple[str, ...]
    image_shape: tuple[int, int] | None = None

    @property
    def num_features(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def _cut_count(total: int, fraction: float) -> int:
    """How many of `total` samples a cut of `fraction` takes: at least one."""
    return max(1, round(fraction * total))


def minimum_to_cut(fraction: float) -> int:
    """The fewest samples that a cut of `fraction` leaves at least one of on each side.

    Below 0.5 / (1 - fraction) samples the cut rounds up to all of them, so the count starts
    just under that bound (counting up from 2 took minutes for a fraction near 1, such as
    --val-fraction 0.999999999, before the refusal came)."""
    total = max(2, math.floor(0.5 / (1.0 - fraction)) - 2)
    while total - _cut_count(total, fraction) < 1:
        total += 1
    return total


def _cut(
    x: np.ndarray, y: Labels, fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, Labels, np.ndarray, Labels]:
    """Shuffle once and cut off `fraction` of the samples: (x_kept, y_kept, x_cut, y_cut)."""
    order = rng.permutation(len(x))
    cut_count = _cut_count(len(x), fraction)
    kept, cut = np.sort(order[cut_count:]), np.sort(order[:cut_count])
    return x[kept], y[kept], x[cut], y[cut]


Arrays = tuple[np.ndarray, Labels, np.ndarray, Labels, tuple[str, ...], tuple[int, int] | None]


def _load_arrays(data: str) -> Arrays:
    from chainrule import data as datasets
    from chainrule.data.errors import DatasetError

    if data == "digits":
        images, labels = datasets.load_digits()
        x_train, y_train, x_test, y_test = _cut(
            images, labels, DIGITS_TEST_FRACTION, np.random.default_rng(SPLIT_SEED)
        )
        classes = tuple(str(digit) for digit in range(10))
        return x_train, y_train, x_test, y_test, classes, DIGITS_IMAGE_SHAPE
    if data == "fashion-mnist":
        try:
            loaded = datasets.load_fashion_mnist()
        except FileNotFoundError:
            loaded = datasets.load_fashion_mnist(
                datasets.download("fashion-mnist", CACHE / "fashion-mnist")
            )
    elif data == "mnist":
        loaded = datasets.load_mnist(datasets.download("mnist", CACHE / "mnist"))
    else:
        folder = Path(data).expanduser()
        if not folder.is_dir():
            raise DatasetError(
                f"train: --data {data!r} is neither digits, fashion-mnist, mnist nor a folder; "
                f"pass a folder holding MNIST-format IDX files (train-images-idx3-ubyte.gz, ...)"
            )
        loaded = datasets.load_mnist(folder)
    return (
        loaded.x_train,
        loaded.y_train,
        loaded.x_test,
        loaded.y_test,
        tuple(loaded.class_names),
        loaded.image_shape,
    )


def load_splits(data: str, *, val_fraction: float, dtype: npt.DTypeLike) -> Splits:
    """Training (minus validation), validation and test sets of `data`, as `dtype`."""
    from chainrule.data.errors import DatasetError

    x_all, y_all, x_test, y_test, class_names, image_shape = _load_arrays(data)
    needed = minimum_to_cut(val_fraction)
    if len(x_all) < needed:
        raise DatasetError(
            f"train: --data {data} holds {len(x_all)} training images; cutting off a "
            f"validation set of {val_fraction:g} needs at least {needed}"
        )
    x_train, y_train, x_val, y_val = _cut(
        x_all, y_all, val_fraction, np.random.default_rng(SPLIT_SEED + 1)
    )
    return Splits(
        x_train=np.ascontiguousarray(x_train, dtype=dtype),
        y_train=y_train.astype(np.int64),
        x_val=np.ascontiguousarray(x_val, dtype=dtype),
        y_val=y_val.astype(np.int64),
        x_test=np.ascontiguousarray(x_test, dtype=dtype),
        y_test=y_test.astype(np.int64),
        class_names=class_names,
        image_shape=image_shape,
    )


def data_fingerprint(splits: Splits) -> str:
    """SHA-256 (hex) of every split's dtype, shape and bytes and of the class names: the same
    for the same data read the same way, different when any value, shape or dtype differs.
    (`image_shape` is left out, as it was before it was recorded: checkpoints saved then
    still resume.)"""
    digest = hashlib.sha256()
    for field in fields(splits):
        if field.name == "image_shape":
            continue
        value = getattr(splits, field.name)
        if isinstance(value, np.ndarray):
            array = np.ascontiguousarray(value)
            digest.update(f"{field.name} {array.dtype.str} {array.shape}\n".encode())
            digest.update(array.tobytes())
        else:
            digest.update(f"{field.name} {list(value)!r}\n".encode())
    return digest.hexdigest()


def data_source(data: str) -> str:
    """`data` as a checkpoint records it: a data set's name, or a folder's absolute path
    (with "~" expanded, as load_mnist expands it)."""
    from chainrule.train.config import NAMED_DATA

    return data if data in NAMED_DATA else str(Path(data).expanduser().resolve())


def data_record(splits: Splits, data: str) -> dict[str, str]:
    """A checkpoint's `data_fingerprint` entry for `splits` read from `data`: their SHA-256
    and their source (a data set's name, or a folder's absolute path)."""
    return {"sha256": data_fingerprint(splits), "source": data_source(data)}


def data_difference(saved: object, current: Mapping[str, str], *, run: str = "it") -> str | None:
    """What differs when a run that recorded `saved` (its checkpoint's data_fingerprint) is
    read with data whose record is `current`: None when they are the same, or when the
    checkpoint records none (an older chainrule) or one of the wrong form (the schema check
    reports that). Every reader of a run's own data checks this, so that a loss, an accuracy
    or a resumed step is never computed on other data than the run's without a word."""
    if not isinstance(saved, Mapping) or saved.get("sha256") == current["sha256"]:
        return None
    return (
        f"the data differ from the run's: {run} was trained on {saved.get('source')} (SHA-256 "
        f"{str(saved.get('sha256'))[:16]}), but {current['source']} now reads as SHA-256 "
        f"{current['sha256'][:16]}"
    )
