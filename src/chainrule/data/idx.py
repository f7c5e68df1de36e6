"""IDX files, the format MNIST and Fashion-MNIST ship in: `load_idx` reads one (gzipped or
not, told apart by the gzip magic bytes) and checks it thoroughly; `save_idx` writes one.

Layout: magic bytes (0, 0, dtype code, ndim), ndim big-endian uint32 dimensions, then the
data, big-endian, in C order.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

from chainrule.data.errors import DatasetError

GZIP_MAGIC = b"\x1f\x8b"

# IDX dtype code -> big-endian NumPy dtype.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _read_bytes(path: Path) -> bytes:
    """The file's content, decompressed when it starts with the gzip magic bytes."""
    raw = path.read_bytes()
    if not raw.startswith(GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except EOFError as error:
        raise DatasetError(
            f"load_idx: {path} is a truncated gzip file ({len(raw)} bytes; the compressed "
            f"stream ends early: {error}); download it again"
        ) from error
    except (gzip.BadGzipFile, zlib.error) as error:
        raise DatasetError(
            f"load_idx: {path} starts like a gzip file but is corrupt ({error}); download it again"
        ) from error


def load_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file into an array of its dtype (native byte order) and shape.

    Raises DatasetError naming the file for a bad magic number, an unknown dtype code, a
    header or data shorter than the dimensions promise (truncated) or longer (trailing
    bytes), and for a corrupt gzip stream.

    Example:
        >>> images = load_idx("train-images-idx3-ubyte.gz")   # uint8, (60000, 28, 28)
    """
    path = Path(path)
    content = _read_bytes(path)
    if len(content) < 4:
        raise DatasetError(
            f"load_idx: {path} is truncated: an IDX file starts with a 4-byte magic number, "
            f"found {len(content)} bytes in all"
        )
    zero_a, zero_b, code, ndim = content[0], content[1], content[2], content[3]
    if zero_a != 0 or zero_b != 0:
        raise DatasetError(
            f"load_idx: {path} is not an IDX file: the magic number must start with two "
            f"zero bytes, found {content[:4].hex(' ')}"
        )
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{known_code:02X}" for known_code in IDX_DTYPES)
        raise DatasetError(
            f"load_idx: {path} has the unknown IDX dtype code 0x{code:02X} (magic "
            f"{content[:4].hex(' ')}); the format defines {known}"
        )
    if ndim == 0:
        raise DatasetError(
            f"load_idx: {path} declares 0 dimensions (magic {content[:4].hex(' ')}); an IDX "
            "array has at least one"
        )
    header_size = 4 + 4 * ndim
    if len(content) < header_size:
        raise DatasetError(
            f"load_idx: {path} is truncated in its header: {ndim} dimensions need "
            f"{header_size} header bytes, found {len(content)}"
        )
    shape = tuple(int(size) for size in np.frombuffer(content, ">u4", ndim, offset=4))
    dtype = IDX_DTYPES[code]
    # Python integers: NumPy's int64 product wraps around for large 32-bit dimensions.
    expected = math.prod(shape) * dtype.itemsize
    found = len(content) - header_size
    if found < expected:
        raise DatasetError(
            f"load_idx: {path} is truncated: shape {shape} of {dtype.newbyteorder('=')} "
            f"needs {expected} data bytes after the {header_size}-byte header, found {found}"
        )
    if found > expected:
        raise DatasetError(
            f"load_idx: {path} has {found - expected} trailing bytes: shape {shape} of "
            f"{dtype.newbyteorder('=')} needs {expected} data bytes after the "
            f"{header_size}-byte header, found {found}"
        )
    data = np.frombuffer(content, dtype, count=expected // dtype.itemsize, offset=header_size)
    return data.astype(dtype.newbyteorder("="), copy=True).reshape(shape)


def save_idx(
    path: str | os.PathLike[str], array: np.ndarray, *, compress: bool | None = None
) -> Path:
    """Write `array` as an IDX file; gzipped when `compress` is True, or, when it is None,
    when the file name ends in ".gz". Returns the path.

    The dtype must be one IDX knows: uint8, int8, int16, int32, float32 or float64.
    """
    path = Path(path)
    array = np.asarray(array)
    codes = {dtype.newbyteorder("="): code for code, dtype in IDX_DTYPES.items()}
    native = array.dtype.newbyteorder("=")
    if native not in codes:
        names = ", ".join(str(dtype) for dtype in codes)
        raise TypeError(
            f"save_idx: IDX cannot store dtype {array.dtype}; convert the array to one of {names}"
        )
    if array.ndim == 0 or array.ndim > 255:
        raise ValueError(
            f"save_idx: IDX stores arrays of 1 to 255 dimensions, got shape {array.shape}"
        )
    if any(size >= 2**32 for size in array.shape):
        raise ValueError(f"save_idx: IDX dimensions are 32-bit, got shape {array.shape}")
    header = (
        bytes([0, 0, codes[native], array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    )
    content = header + np.ascontiguousarray(array, dtype=IDX_DTYPES[codes[native]]).tobytes()
    if compress is None:
        compress = path.name.endswith(".gz")
    if compress:
        content = gzip.compress(content, mtime=0)
    path.write_bytes(content)
    return path
