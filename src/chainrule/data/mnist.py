"""MNIST and Fashion-MNIST from their four standard IDX files in a folder: `load_mnist(root)`,
`load_fashion_mnist(root=None)` (which finds Debian's `dataset-fashion-mnist` package when
no folder is given). Images come back as (N, 784) float32 in [0, 1], labels as int64.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from chainrule.data.errors import DatasetError
from chainrule.data.idx import load_idx

# The four files of the MNIST family, as distributed (each also found without ".gz").
FILE_NAMES: dict[str, str] = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}

# Where Debian's `dataset-fashion-mnist` package installs the files.
DEBIAN_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")

# Sub-folders other tools unpack each data set into, searched after the folder itself. Each
# data set searches only its own: torchvision keeps MNIST/raw and FashionMNIST/raw side by
# side under one root, and the two data sets' files have the same names and formats.
MNIST_SUBFOLDERS: tuple[str, ...] = ("raw", "mnist", "MNIST/raw")
FASHION_MNIST_SUBFOLDERS: tuple[str, ...] = (
    "raw",
    "fashion",
    "fashion-mnist",
    "FashionMNIST/raw",
    "data/fashion",
)

MNIST_CLASSES: tuple[str, ...] = tuple(str(digit) for digit in range(10))
FASHION_MNIST_CLASSES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


@dataclass(frozen=True)
class ImageClassificationData:
    """A train/test split of flattened images: x (N, pixels) float32 in [0, 1], y (N,)
    int64 class indices into `class_names`, `files`, the paths they were read from, and
    `image_shape`, the (rows, columns) the pixels were flattened from."""

    x_train: npt.NDArray[np.float32]
    y_train: npt.NDArray[np.int64]
    x_test: npt.NDArray[np.float32]
    y_test: npt.NDArray[np.int64]
    class_names: tuple[str, ...]
    files: dict[str, Path]
    image_shape: tuple[int, int] | None = None


def _candidates(folder: Path, gz_name: str) -> list[Path]:
    """The spellings a file may have on disk: gzipped, plain, and plain with the dot that
    some unpacked copies use ("train-images.idx3-ubyte")."""
    plain = gz_name.removesuffix(".gz")
    dotted = plain.replace("-idx", ".idx")
    return [folder / gz_name, folder / plain, folder / dotted, folder / f"{dotted}.gz"]


def find_idx_files(
    root: str | os.PathLike[str], subfolders: Sequence[str]
) -> dict[str, Path] | None:
    """The four files of an MNIST-like data set in `root` or one of its `subfolders`, taking
    the first folder holding all four; None when no folder does."""
    root = Path(root)
    for folder in (root, *(root / sub for sub in subfolders)):
        found: dict[str, Path] = {}
        for role, gz_name in FILE_NAMES.items():
            existing = [path for path in _candidates(folder, gz_name) if path.is_file()]
            if existing:
                found[role] = existing[0]
        if len(found) == len(FILE_NAMES):
            return found
    return None


def _images(path: Path) -> tuple[npt.NDArray[np.float32], tuple[int, int]]:
    """The images flattened to (N, rows * columns), and (rows, columns)."""
    images = load_idx(path)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise DatasetError(
            f"{path}: expected images as unsigned bytes of shape (N, rows, columns), found "
            f"{images.dtype} of shape {images.shape}"
        )
    count, rows, columns = images.shape
    if count == 0 or rows * columns == 0:
        raise DatasetError(
            f"{path}: holds {count} images of {rows}x{columns} pixels; a data set needs at "
            "least one image of at least one pixel"
        )
    flat = images.reshape(count, rows * columns).astype(np.float32)
    flat /= np.float32(255.0)
    return flat, (rows, columns)


def _labels(path: Path, num_classes: int) -> npt.NDArray[np.int64]:
    labels = load_idx(path)
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise DatasetError(
            f"{path}: expected labels as unsigned bytes of shape (N,), found {labels.dtype} "
            f"of shape {labels.shape}"
        )
    bad = np.flatnonzero(labels >= num_classes)
    if bad.size:
        raise DatasetError(
            f"{path}: mislabelled: {bad.size} labels lie outside 0..{num_classes - 1}, the "
            f"first at index {bad[0]} with value {labels[bad[0]]}; the file is corrupt, "
            "download it again"
        )
    return labels.astype(np.int64)


def _load(files: dict[str, Path], class_names: tuple[str, ...]) -> ImageClassificationData:
    arrays = {}
    sizes = {}
    for split in ("train", "test"):
        images, sizes[split] = _images(files[f"{split}_images"])
        labels = _labels(files[f"{split}_labels"], len(class_names))
        if images.shape[0] != labels.shape[0]:
            raise DatasetError(
                f"{files[f'{split}_images']} holds {images.shape[0]} images but "
                f"{files[f'{split}_labels']} holds {labels.shape[0]} labels; the two files "
                "must describe the same samples"
            )
        arrays[split] = (images, labels)
    if sizes["train"] != sizes["test"]:
        (train_rows, train_columns), (test_rows, test_columns) = sizes["train"], sizes["test"]
        raise DatasetError(
            f"{files['test_images']} holds images of {test_rows}x{test_columns} pixels but "
            f"{files['train_images']} of {train_rows}x{train_columns}; the test images must "
            "have the training images' size"
        )
    return ImageClassificationData(
        x_train=arrays["train"][0],
        y_train=arrays["train"][1],
        x_test=arrays["test"][0],
        y_test=arrays["test"][1],
        class_names=class_names,
        files=files,
        image_shape=sizes["train"],
    )


def _missing_message(
    function: str, root: Path, name: str, subfolders: Sequence[str], extra: str
) -> str:
    wanted = ", ".join(FILE_NAMES.values())
    return (
        f"{function}: could not find the four {name} files ({wanted}, gzipped or not) in "
        f"{root} or its sub-folders {', '.join(subfolders)}. {extra}"
    )


def load_mnist(root: str | os.PathLike[str]) -> ImageClassificationData:
    """MNIST from the four IDX files in `root` (gzipped or plain; also found in the usual
    sub-folders `raw/`, `mnist/` and `MNIST/raw/`, never in Fashion-MNIST's).

    Returns x_train (60000, 784) and x_test (10000, 784) float32 in [0, 1] (pixel / 255),
    y_train and y_test int64 in 0..9. Raises FileNotFoundError when files are missing and
    DatasetError for corrupt, mislabelled or mismatched files.

    Example:
        >>> download("mnist", "~/data/mnist"); data = load_mnist("~/data/mnist")
    """
    root = Path(root).expanduser()
    files = find_idx_files(root, MNIST_SUBFOLDERS)
    if files is None:
        raise FileNotFoundError(
            _missing_message(
                "load_mnist",
                root,
                "MNIST",
                MNIST_SUBFOLDERS,
                f'Fetch them with chainrule.data.download("mnist", "{root}").',
            )
        )
    return _load(files, MNIST_CLASSES)


def load_fashion_mnist(root: str | os.PathLike[str] | None = None) -> ImageClassificationData:
    """Fashion-MNIST from the four IDX files in `root` (or its sub-folders `raw/`,
    `fashion/`, `fashion-mnist/`, `FashionMNIST/raw/`, `data/fashion/`, never in MNIST's);
    when `root` is None, from Debian's `dataset-fashion-mnist` package in
    /usr/share/datasets/fashion-mnist.

    Same shapes and dtypes as `load_mnist`; `class_names` are the ten clothing classes
    ("T-shirt/top", "Trouser", ...).
    """
    folder = DEBIAN_FASHION_MNIST_DIR if root is None else Path(root).expanduser()
    files = find_idx_files(folder, FASHION_MNIST_SUBFOLDERS)
    if files is None:
        if root is None:
            extra = (
                "Install Debian's package (apt-get install dataset-fashion-mnist), or "
                'download the files with chainrule.data.download("fashion-mnist", ROOT) '
                "and call load_fashion_mnist(ROOT)."
            )
        else:
            extra = (
                f'Fetch them with chainrule.data.download("fashion-mnist", "{folder}"), or '
                "call load_fashion_mnist() to use Debian's dataset-fashion-mnist package."
            )
        raise FileNotFoundError(
            _missing_message(
                "load_fashion_mnist", folder, "Fashion-MNIST", FASHION_MNIST_SUBFOLDERS, extra
            )
        )
    return _load(files, FASHION_MNIST_CLASSES)
