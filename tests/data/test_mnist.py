"""load_mnist / load_fashion_mnist on small synthetic IDX files the tests write."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from chainrule.data import (
    DatasetError,
    ImageClassificationData,
    load_fashion_mnist,
    load_idx,
    load_mnist,
    save_idx,
)
from chainrule.data import mnist as mnist_module


def _write_set(
    folder: Path,
    rng: np.random.Generator,
    *,
    gz: bool = True,
    n_train: int = 12,
    n_test: int = 8,
    train_labels: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": (
            rng.integers(0, 10, n_train, dtype=np.uint8) if train_labels is None else train_labels
        ),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for name, array in arrays.items():
        save_idx(folder / f"{name}{suffix}", array)
    return arrays


def test_load_mnist_returns_flat_float32_images_in_unit_range(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    arrays = _write_set(tmp_path, rng)
    data = load_mnist(tmp_path)
    assert data.x_train.shape == (12, 784)
    assert data.x_train.dtype == np.float32
    expected = arrays["train-images-idx3-ubyte"].reshape(12, 784).astype(np.float32) / 255
    np.testing.assert_allclose(data.x_train, expected, rtol=1e-7, atol=0)
    assert data.x_test.shape == (8, 784)


def test_load_mnist_returns_int64_labels(tmp_path: Path, rng: np.random.Generator) -> None:
    arrays = _write_set(tmp_path, rng)
    data = load_mnist(tmp_path)
    assert data.y_train.dtype == np.int64
    assert data.y_test.shape == (8,)
    np.testing.assert_array_equal(data.y_test, arrays["t10k-labels-idx1-ubyte"].astype(np.int64))


def test_load_mnist_reads_plain_files(tmp_path: Path, rng: np.random.Generator) -> None:
    _write_set(tmp_path, rng, gz=False)
    assert load_mnist(tmp_path).x_train.shape == (12, 784)


def test_load_mnist_finds_a_raw_subfolder(tmp_path: Path, rng: np.random.Generator) -> None:
    _write_set(tmp_path / "MNIST" / "raw", rng)
    assert load_mnist(tmp_path).y_train.shape == (12,)


def test_mnist_class_names_are_the_digits(tmp_path: Path, rng: np.random.Generator) -> None:
    _write_set(tmp_path, rng)
    assert load_mnist(tmp_path).class_names == tuple("0123456789")


def test_fashion_mnist_class_names_are_the_clothing_classes(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    _write_set(tmp_path, rng)
    names = load_fashion_mnist(tmp_path).class_names
    assert (len(names), names[0], names[9]) == (10, "T-shirt/top", "Ankle boot")


def test_mislabelled_file_is_named_with_the_bad_label(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    labels = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 3], dtype=np.uint8)
    _write_set(tmp_path, rng, train_labels=labels)
    with pytest.raises(
        DatasetError, match=r"train-labels-idx1-ubyte\.gz: mislabelled.*index 10 with value 12"
    ):
        load_mnist(tmp_path)


def test_image_and_label_counts_must_match(tmp_path: Path, rng: np.random.Generator) -> None:
    _write_set(tmp_path, rng, train_labels=np.zeros(11, dtype=np.uint8))
    with pytest.raises(DatasetError, match=r"holds 12 images but .*labels-idx1-ubyte\.gz holds 11"):
        load_mnist(tmp_path)


def test_labels_of_the_wrong_dtype_are_rejected(tmp_path: Path, rng: np.random.Generator) -> None:
    _write_set(tmp_path, rng, train_labels=np.zeros(12, dtype=np.int32))
    with pytest.raises(DatasetError, match=r"expected labels as unsigned bytes.*found int32"):
        load_mnist(tmp_path)


def test_truncated_images_file_is_named(tmp_path: Path, rng: np.random.Generator) -> None:
    _write_set(tmp_path, rng, gz=False)
    images = tmp_path / "t10k-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-100])
    with pytest.raises(DatasetError, match=r"t10k-images-idx3-ubyte is truncated"):
        load_mnist(tmp_path)


def test_missing_files_suggest_download(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r'download\("mnist"'):
        load_mnist(tmp_path)


def test_fashion_mnist_without_root_suggests_the_debian_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mnist_module, "DEBIAN_FASHION_MNIST_DIR", tmp_path / "absent")
    with pytest.raises(FileNotFoundError, match=r"apt-get install dataset-fashion-mnist"):
        load_fashion_mnist()


def test_fashion_mnist_without_root_reads_the_debian_folder(
    tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_set(tmp_path, rng)
    monkeypatch.setattr(mnist_module, "DEBIAN_FASHION_MNIST_DIR", tmp_path)
    assert load_fashion_mnist().x_test.shape == (8, 784)


def test_test_images_of_another_size_than_the_training_images_are_refused(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    _write_set(tmp_path, rng)
    save_idx(
        tmp_path / "t10k-images-idx3-ubyte.gz", rng.integers(0, 256, (8, 14, 14), dtype=np.uint8)
    )
    with pytest.raises(
        DatasetError,
        match=r"t10k-images-idx3-ubyte\.gz holds images of 14x14 "
        r"pixels but .*train-images-idx3-ubyte\.gz of 28x28",
    ):
        load_mnist(tmp_path)


@pytest.mark.parametrize(("n_train", "n_test"), [(0, 8), (12, 0)])
def test_an_empty_image_set_is_refused(
    tmp_path: Path, rng: np.random.Generator, n_train: int, n_test: int
) -> None:
    _write_set(tmp_path, rng, n_train=n_train, n_test=n_test)
    with pytest.raises(
        DatasetError,
        match="holds 0 images of 28x28 pixels; a data set needs "
        "at least one image of at least one pixel",
    ):
        load_mnist(tmp_path)


def test_images_of_zero_pixels_are_refused(tmp_path: Path, rng: np.random.Generator) -> None:
    _write_set(tmp_path, rng)
    for name, count in (("train-images-idx3-ubyte.gz", 12), ("t10k-images-idx3-ubyte.gz", 8)):
        save_idx(tmp_path / name, np.zeros((count, 0, 28), dtype=np.uint8))
    with pytest.raises(DatasetError, match="holds 12 images of 0x28 pixels"):
        load_mnist(tmp_path)


@pytest.mark.skipif(
    not (mnist_module.DEBIAN_FASHION_MNIST_DIR / "train-labels-idx1-ubyte.gz").is_file(),
    reason="Debian's dataset-fashion-mnist is not installed",
)
def test_the_installed_fashion_mnist_has_its_published_labels_and_pixel_statistics() -> None:
    # The first training labels (9 ankle boot, 0 T-shirt, 0, 3 dress, ...), 6000 of each
    # class, and the pixel mean 0.2860 and std 0.3530 (of pixel / 255) that torchvision users
    # normalise with: a byte-order, offset or header slip would move them.
    folder = mnist_module.DEBIAN_FASHION_MNIST_DIR
    labels = load_idx(folder / "train-labels-idx1-ubyte.gz")
    np.testing.assert_array_equal(labels[:10], [9, 0, 0, 3, 0, 2, 7, 2, 5, 5])
    np.testing.assert_array_equal(np.bincount(labels), [6000] * 10)
    images = load_idx(folder / "train-images-idx3-ubyte.gz")
    assert (images.shape, images.dtype) == ((60000, 28, 28), np.uint8)
    # Exact integer sums (a float64 mean and std of 47M pixels take seconds).
    mean = int(images.sum(dtype=np.uint64)) / images.size / 255
    squares = int((images.astype(np.uint16) ** 2).sum(dtype=np.uint64)) / images.size / 255**2
    std = (squares - mean**2) ** 0.5
    assert (mean, std) == (pytest.approx(0.2860, abs=5e-5), pytest.approx(0.3530, abs=5e-5))


@pytest.mark.parametrize(
    ("load", "own", "other"),
    [
        (load_mnist, "MNIST/raw", "FashionMNIST/raw"),
        (load_mnist, "mnist", "fashion"),
        (load_fashion_mnist, "FashionMNIST/raw", "MNIST/raw"),
        (load_fashion_mnist, "fashion-mnist", "mnist"),
    ],
)
def test_each_data_set_is_read_from_its_own_subfolder_beside_the_other(
    tmp_path: Path,
    rng: np.random.Generator,
    load: Callable[[Path], ImageClassificationData],
    own: str,
    other: str,
) -> None:
    # torchvision keeps MNIST/raw and FashionMNIST/raw under one root; load_mnist searched
    # FashionMNIST/raw first and returned Fashion-MNIST's clothes labelled as digits.
    mine = _write_set(tmp_path / own, rng, n_train=12)
    _write_set(tmp_path / other, rng, n_train=5)
    data = load(tmp_path)
    assert data.files["train_labels"].parent == tmp_path / own
    np.testing.assert_array_equal(data.y_train, mine["train-labels-idx1-ubyte"])


@pytest.mark.parametrize(
    ("load", "other"),
    [(load_mnist, "FashionMNIST/raw"), (load_mnist, "fashion"), (load_fashion_mnist, "mnist")],
)
def test_the_other_data_sets_subfolder_alone_is_not_taken(
    tmp_path: Path,
    rng: np.random.Generator,
    load: Callable[[Path], ImageClassificationData],
    other: str,
) -> None:
    _write_set(tmp_path / other, rng)
    with pytest.raises(FileNotFoundError, match="could not find the four"):
        load(tmp_path)
