"""IDX round trips for every dtype code, gzipped and plain, and each corrupt-file error."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from chainrule.data import DatasetError, load_idx, save_idx

DTYPE_CODES = [
    (np.uint8, 0x08),
    (np.int8, 0x09),
    (np.int16, 0x0B),
    (np.int32, 0x0C),
    (np.float32, 0x0D),
    (np.float64, 0x0E),
]


def _sample(dtype: type[np.generic], rng: np.random.Generator) -> np.ndarray:
    if np.issubdtype(dtype, np.floating):
        return rng.standard_normal((3, 4, 5)).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=(3, 4, 5), endpoint=True, dtype=dtype)


@pytest.mark.parametrize(("dtype", "code"), DTYPE_CODES)
@pytest.mark.parametrize("name", ["array.idx", "array.idx.gz"])
def test_round_trip_keeps_dtype_shape_and_values(
    tmp_path: Path, rng: np.random.Generator, dtype: type[np.generic], code: int, name: str
) -> None:
    array = _sample(dtype, rng)
    path = save_idx(tmp_path / name, array)
    loaded = load_idx(path)
    assert loaded.dtype == np.dtype(dtype)
    assert loaded.shape == array.shape
    np.testing.assert_array_equal(loaded, array)


@pytest.mark.parametrize(("dtype", "code"), DTYPE_CODES)
def test_saved_header_is_the_idx_magic_and_big_endian_dims(
    tmp_path: Path, dtype: type[np.generic], code: int
) -> None:
    path = save_idx(tmp_path / "a.idx", np.zeros((2, 300), dtype=dtype))
    header = path.read_bytes()[:12]
    assert header == bytes([0, 0, code, 2, 0, 0, 0, 2, 0, 0, 1, 44])


def test_data_is_stored_big_endian(tmp_path: Path) -> None:
    path = save_idx(tmp_path / "a.idx", np.array([1], dtype=np.int32))
    assert path.read_bytes()[8:] == b"\x00\x00\x00\x01"


def test_gzip_is_detected_by_magic_bytes_not_by_name(tmp_path: Path) -> None:
    array = np.arange(6, dtype=np.uint8).reshape(2, 3)
    path = save_idx(tmp_path / "no-suffix", array, compress=True)
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    np.testing.assert_array_equal(load_idx(path), array)


def test_plain_file_named_gz_is_read_as_plain(tmp_path: Path) -> None:
    array = np.arange(4, dtype=np.int16)
    path = save_idx(tmp_path / "plain.gz", array, compress=False)
    np.testing.assert_array_equal(load_idx(path), array)


def test_loaded_array_is_writable_native_order(tmp_path: Path) -> None:
    loaded = load_idx(save_idx(tmp_path / "a.idx", np.ones(3, dtype=np.float64)))
    assert loaded.dtype.isnative
    assert loaded.flags.writeable


def test_truncated_data_names_file_and_byte_counts(tmp_path: Path) -> None:
    path = save_idx(tmp_path / "short.idx", np.zeros((4, 5), dtype=np.int32))
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(DatasetError, match=r"short\.idx is truncated.*80 data bytes.*found 77"):
        load_idx(path)


def test_truncated_header_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "header.idx"
    path.write_bytes(bytes([0, 0, 0x08, 3, 0, 0, 0, 1]))
    with pytest.raises(DatasetError, match=r"header\.idx is truncated in its header.*16.*found 8"):
        load_idx(path)


def test_file_shorter_than_the_magic_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "tiny.idx"
    path.write_bytes(b"\x00\x00")
    with pytest.raises(DatasetError, match=r"tiny\.idx is truncated.*found 2 bytes"):
        load_idx(path)


def test_truncated_gzip_stream_is_reported(tmp_path: Path) -> None:
    path = save_idx(tmp_path / "cut.idx.gz", np.arange(1000, dtype=np.int32))
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(DatasetError, match=r"cut\.idx\.gz is a truncated gzip file"):
        load_idx(path)


def test_corrupt_gzip_stream_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "bad.gz"
    path.write_bytes(b"\x1f\x8b" + b"\xff" * 30)
    with pytest.raises(DatasetError, match=r"bad\.gz starts like a gzip file but is corrupt"):
        load_idx(path)


def test_bad_magic_is_reported_with_the_bytes_found(tmp_path: Path) -> None:
    path = tmp_path / "magic.idx"
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 8)
    with pytest.raises(DatasetError, match=r"magic\.idx is not an IDX file.*50 4b 03 04"):
        load_idx(path)


def test_unknown_dtype_code_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "code.idx"
    path.write_bytes(bytes([0, 0, 0x0A, 1, 0, 0, 0, 1, 0]))
    with pytest.raises(DatasetError, match=r"code\.idx has the unknown IDX dtype code 0x0A"):
        load_idx(path)


def test_trailing_bytes_are_reported(tmp_path: Path) -> None:
    path = save_idx(tmp_path / "long.idx", np.zeros(5, dtype=np.uint8))
    path.write_bytes(path.read_bytes() + b"\x00\x00")
    with pytest.raises(DatasetError, match=r"long\.idx has 2 trailing bytes.*needs 5.*found 7"):
        load_idx(path)


def test_wrong_dims_in_a_gzipped_file_are_reported(tmp_path: Path) -> None:
    header = bytes([0, 0, 0x08, 1, 0, 0, 0, 10])
    path = tmp_path / "count.gz"
    path.write_bytes(gzip.compress(header + bytes(7)))
    with pytest.raises(DatasetError, match=r"count\.gz is truncated.*needs 10.*found 7"):
        load_idx(path)


def test_dataset_error_is_a_value_error() -> None:
    assert issubclass(DatasetError, ValueError)


def test_save_rejects_a_dtype_idx_cannot_hold(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="IDX cannot store dtype int64"):
        save_idx(tmp_path / "a.idx", np.zeros(3, dtype=np.int64))


def test_save_rejects_a_scalar(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"1 to 255 dimensions, got shape \(\)"):
        save_idx(tmp_path / "a.idx", np.float64(1.0))


def test_dimensions_whose_product_overflows_int64_are_reported_as_truncated(
    tmp_path: Path,
) -> None:
    # 3 dims of 2**32 - 1 need (2**32 - 1)**3 bytes: past int64, where NumPy's product wraps.
    header = bytes([0, 0, 0x08, 3]) + np.array([2**32 - 1] * 3, dtype=">u4").tobytes()
    path = tmp_path / "huge-idx3-ubyte"
    path.write_bytes(header + bytes(16))
    with pytest.raises(
        DatasetError,
        match=rf"is truncated: shape \(4294967295, 4294967295, "
        rf"4294967295\) .* needs {(2**32 - 1) ** 3} data "
        rf"bytes .* found 16$",
    ):
        load_idx(path)


def test_dimensions_overflowing_to_zero_are_not_read_as_trailing_bytes(
    tmp_path: Path,
) -> None:
    # 2**16 * 2**16 * 2**16 * 2**16 = 2**64 wraps to 0 in int64.
    header = bytes([0, 0, 0x08, 4]) + np.array([2**16] * 4, dtype=">u4").tobytes()
    path = tmp_path / "wrap-idx4-ubyte"
    path.write_bytes(header + bytes(8))
    with pytest.raises(DatasetError, match=rf"is truncated: .* needs {2**64} data bytes"):
        load_idx(path)


# ------------------------------- ported from torchvision's MNIST reader and its tests
# torchvision reads these files with read_sn3_pascalvincent_tensor: the magic number as one
# big-endian int32 (2049 for labels, 2051 for images: type 0x08, 1 or 3 dims), then the
# dims and the big-endian data. Its tests pack fake files with struct; so do these, so
# the reader is checked against bytes that save_idx did not write.
@pytest.mark.parametrize(
    ("code", "fmt", "values"),
    [
        (0x09, "b", [-128, -1, 0, 127]),
        (0x0B, "h", [-32768, -2, 1, 32767]),
        (0x0C, "i", [-(2**31), -2, 1, 2**31 - 1]),
        (0x0D, "f", [-1.5, 0.0, 3.25, 1e30]),
        (0x0E, "d", [-1.5, 2.0**-1074, 3.25, 1e300]),
    ],
)
def test_hand_packed_big_endian_values_load_as_the_same_numbers(
    tmp_path: Path, code: int, fmt: str, values: list[float]
) -> None:
    path = tmp_path / "packed.idx"
    path.write_bytes(
        struct.pack(">i", code << 8 | 2)
        + struct.pack(">ii", 2, 2)
        + struct.pack(f">{len(values)}{fmt}", *values)
    )
    loaded = load_idx(path)
    assert loaded.shape == (2, 2)
    assert loaded.dtype == np.dtype(fmt).newbyteorder("=")
    np.testing.assert_array_equal(loaded.ravel(), np.array(values, dtype=loaded.dtype))


def test_torchvision_magic_numbers_read_images_row_major_and_labels(tmp_path: Path) -> None:
    images = tmp_path / "images"
    pixels = bytes(range(2 * 3 * 4))
    images.write_bytes(struct.pack(">iiii", 2051, 2, 3, 4) + pixels)
    labels = tmp_path / "labels"
    labels.write_bytes(struct.pack(">ii", 2049, 2) + bytes([7, 3]))
    loaded = load_idx(images)
    assert (loaded.shape, loaded.dtype) == ((2, 3, 4), np.uint8)
    assert loaded[1, 2, 0] == 1 * 12 + 2 * 4 + 0  # image, row, column: C order
    np.testing.assert_array_equal(load_idx(labels), np.array([7, 3], dtype=np.uint8))


def test_a_header_of_zero_dimensions_is_refused(tmp_path: Path) -> None:
    # IDX defines 1 or more dimensions; a 0-d header (a would-be scalar) is a clear error,
    # not an array of shape ().
    path = tmp_path / "scalar.idx"
    path.write_bytes(bytes([0, 0, 0x08, 0, 5]))
    with pytest.raises(DatasetError, match=r"declares 0 dimensions \(magic 00 00 08 00\)"):
        load_idx(path)


@pytest.mark.parametrize("shape", [(0,), (3, 0, 2), (1, 1, 1, 1, 1), (7,)])
@pytest.mark.parametrize(("dtype", "code"), DTYPE_CODES)
def test_hand_packed_shapes_with_empty_or_unit_dimensions_load_exactly(
    tmp_path: Path, shape: tuple[int, ...], dtype: type[np.generic], code: int
) -> None:
    values = np.arange(int(np.prod(shape))).astype(dtype).reshape(shape)
    path = tmp_path / "shaped.idx"
    path.write_bytes(
        bytes([0, 0, code, len(shape)])
        + struct.pack(f">{len(shape)}I", *shape)
        + values.astype(np.dtype(dtype).newbyteorder(">")).tobytes()
    )
    loaded = load_idx(path)
    assert (loaded.shape, loaded.dtype) == (shape, np.dtype(dtype))
    np.testing.assert_array_equal(loaded, values)


@pytest.mark.parametrize(("fmt", "code"), [("f", 0x0D), ("d", 0x0E)])
def test_nan_infinities_and_negative_zero_keep_their_bits(
    tmp_path: Path, fmt: str, code: int
) -> None:
    values = [float("nan"), float("inf"), float("-inf"), -0.0]
    path = tmp_path / "special.idx"
    path.write_bytes(
        bytes([0, 0, code, 1]) + struct.pack(">I", 4) + struct.pack(f">4{fmt}", *values)
    )
    loaded = load_idx(path)
    expected = np.array(values, dtype=np.dtype(fmt))
    assert loaded.tobytes() == expected.tobytes()
