"""`download(name, root)`: fetch MNIST or Fashion-MNIST from public mirrors into a cache
folder, verifying each file's size and SHA-256. Every file is written through a temporary
file in the same folder and renamed into place atomically, so the cache never holds a
half-written or unverified file. Each file has a total deadline, not only a per-read timeout,
covering the connection, the headers and the body (a watchdog shuts the socket down when it
passes), so a server that trickles bytes cannot hold a download forever.

Why not pooch (the scientific Python downloader): it tries one URL per file (no mirror
fallback), its timeout is per read as with urllib, it has no size cap, and it would add
requests, platformdirs and packaging as dependencies for four files.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from chainrule.data.errors import DatasetError
from chainrule.data.mnist import FILE_NAMES

if TYPE_CHECKING:
    from http.client import HTTPResponse
    from urllib.request import OpenerDirector

# Mirrors tried in order; each file is fetched from BASE + "/" + file name.
MIRRORS: dict[str, tuple[str, ...]] = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist",
        "https://storage.googleapis.com/cvdf-datasets/mnist",
    ),
    "fashion-mnist": (
        "https://fashion-mnist.s3.eu-central-1.amazonaws.com",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion",
    ),
}

# SHA-256 of the gzipped files as distributed upstream (sizes in bytes in the comments).
# MNIST: the sums TensorFlow Datasets and many projects pin for the files on LeCun's site
# and its mirrors (9912422, 28881, 1648877, 4542 bytes). Fashion-MNIST: the sums pinned
# for zalandoresearch's files (26421880, 29515, 4422102, 5148 bytes), whose published MD5s
# are 8d4fb7e6..., 25c81989..., bef4ecab..., bb300cfd.... Debian's dataset-fashion-mnist
# package recompresses the files, so its copies have other sums (load_fashion_mnist reads
# them without this table).
SHA256: dict[str, dict[str, str]] = {
    "mnist": {
        "train-images-idx3-ubyte.gz": (
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"
        ),
        "train-labels-idx1-ubyte.gz": (
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"
        ),
        "t10k-images-idx3-ubyte.gz": (
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"
        ),
        "t10k-labels-idx1-ubyte.gz": (
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"
        ),
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": (
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"
        ),
        "train-labels-idx1-ubyte.gz": (
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"
        ),
        "t10k-images-idx3-ubyte.gz": (
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"
        ),
        "t10k-labels-idx1-ubyte.gz": (
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"
        ),
    },
}

# Sizes in bytes of the same files; a body longer than this is cut off and refused.
SIZES: dict[str, dict[str, int]] = {
    "mnist": {
        "train-images-idx3-ubyte.gz": 9912422,
        "train-labels-idx1-ubyte.gz": 28881,
        "t10k-images-idx3-ubyte.gz": 1648877,
        "t10k-labels-idx1-ubyte.gz": 4542,
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": 26421880,
        "train-labels-idx1-ubyte.gz": 29515,
        "t10k-images-idx3-ubyte.gz": 4422102,
        "t10k-labels-idx1-ubyte.gz": 5148,
    },
}

MAX_BYTES = 1 << 28
"""The cap on a file whose expected size is not given (256 MiB)."""

CHUNK_BYTES = 1 << 16


def sha256_of(path: Path) -> str:
    """The hex SHA-256 digest of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


class _Watchdog:
    """Shuts down every socket a request opens once the clock passes `ends_at`, so a read
    blocked on a server that trickles its headers (or anything else) returns at the deadline:
    a per-read socket timeout alone never fires while bytes keep coming."""

    def __init__(self, ends_at: float) -> None:
        self.ends_at = ends_at
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(ends_at - time.monotonic(), 0.0), self._expire)
        self._timer.daemon = True
        self._timer.start()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)

    def cancel(self) -> None:
        self._timer.cancel()


def _watched_opener(watchdog: _Watchdog) -> OpenerDirector:
    """urllib's opener (proxies and redirects as usual) whose connections `watchdog` watches."""
    import http.client
    import ssl
    import urllib.request

    class WatchedHTTPConnection(http.client.HTTPConnection):
        def connect(self) -> None:
            super().connect()
            watchdog.watch(self.sock)

    class WatchedHTTPSConnection(http.client.HTTPSConnection):
        def connect(self) -> None:
            super().connect()
            watchdog.watch(self.sock)

    class WatchedHTTPHandler(urllib.request.HTTPHandler):
        def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(WatchedHTTPConnection, req)

    class WatchedHTTPSHandler(urllib.request.HTTPSHandler):
        def __init__(self) -> None:
            self.tls = ssl.create_default_context()
            super().__init__(context=self.tls)

        def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(WatchedHTTPSConnection, req, context=self.tls)

    return urllib.request.build_opener(WatchedHTTPHandler, WatchedHTTPSHandler)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _copy_response(
    response: HTTPResponse,
    sink: BinaryIO,
    url: str,
    *,
    size: int | None,
    deadline: float,
    watchdog: _Watchdog,
) -> tuple[str, int]:
    """Stream the body into `sink`; returns (hex SHA-256, bytes received). Raises
    DatasetError when fewer bytes arrive than the Content-Length header announced, when the
    body exceeds `size` (or MAX_BYTES when None), or when the clock passes the watchdog's
    `ends_at` (the `deadline` seconds after the download started)."""
    import http.client

    def past_deadline(received: int) -> DatasetError:
        return DatasetError(
            f"{url}: took longer than the {deadline:g} s deadline (received "
            f"{received} of {announced if announced is not None else limit} bytes)"
        )

    announced_header = response.headers.get("Content-Length")
    announced = (
        int(announced_header)
        if announced_header is not None and announced_header.strip().isdigit()
        else None
    )
    limit = MAX_BYTES if size is None else size
    what = f"the expected {limit} bytes" if size is not None else f"the {limit}-byte cap"
    if announced is not None and announced > limit:
        raise DatasetError(f"{url}: announces {announced} bytes, more than {what}; refused")
    digest = hashlib.sha256()
    received = 0
    try:
        # read1 returns what has arrived, so the deadline is checked however slowly it comes.
        for chunk in iter(lambda: response.read1(CHUNK_BYTES), b""):
            received += len(chunk)
            if received > limit:
                raise DatasetError(f"{url}: sent more than {what}; cut off and refused")
            if time.monotonic() > watchdog.ends_at:
                raise past_deadline(received)
            digest.update(chunk)
            sink.write(chunk)
    except (OSError, http.client.HTTPException) as error:
        if isinstance(error, http.client.IncompleteRead):
            received += len(error.partial)
        if watchdog.expired:
            raise past_deadline(received) from None
        if not isinstance(error, http.client.IncompleteRead):
            raise
        raise DatasetError(
            f"{url}: truncated transfer: expected {announced} bytes, received {received}"
        ) from error
    if watchdog.expired:
        raise past_deadline(received)
    if announced is not None and received != announced:
        raise DatasetError(
            f"{url}: truncated transfer: expected {announced} bytes, received {received}"
        )
    return digest.hexdigest(), received


def _fetch(
    url: str,
    destination: Path,
    expected_sha256: str,
    *,
    size: int | None,
    timeout: float,
    deadline: float,
) -> None:
    """Download `url` to `destination` through a temporary file in the same folder, renamed
    into place only once its SHA-256 matches; the temporary file never survives a failure.
    The deadline covers connecting, the headers and the body."""
    import http.client

    ends_at = time.monotonic() + deadline
    handle, temporary_name = tempfile.mkstemp(
        dir=destination.parent, prefix=f".{destination.name}.", suffix=".part"
    )
    temporary = Path(temporary_name)
    watchdog = _Watchdog(ends_at)
    try:
        with os.fdopen(handle, "wb") as sink:
            try:
                # Connecting is bounded by the time left; the watchdog bounds every read.
                connect_timeout = min(timeout, max(ends_at - time.monotonic(), 1e-3))
                with _watched_opener(watchdog).open(url, timeout=connect_timeout) as response:
                    actual, received = _copy_response(
                        response, sink, url, size=size, deadline=deadline, watchdog=watchdog
                    )
            except (OSError, http.client.HTTPException) as error:
                if not watchdog.expired:
                    raise
                raise DatasetError(
                    f"{url}: took longer than the {deadline:g} s deadline "
                    f"(connecting or waiting for the headers: {error})"
                ) from None
            if actual != expected_sha256:
                raise DatasetError(
                    f"{url}: checksum mismatch for {destination.name}: expected SHA-256 "
                    f"{expected_sha256}, got {actual} ({received} bytes)"
                )
            sink.flush()
            os.fsync(sink.fileno())
        temporary.chmod(0o644)
        os.replace(temporary, destination)
    finally:
        watchdog.cancel()
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


SCHEMES = ("http", "https", "file")
"""The URL schemes a mirror may use: those whose transfers the deadline covers."""


def _check_mirrors(bases: Sequence[str]) -> None:
    """ValueError naming the first mirror that is not an http(s):// or file:// base URL (a
    missing scheme escaped the mirror loop as urllib's bare "unknown url type")."""
    from urllib.parse import urlsplit

    for base in bases:
        if not isinstance(base, str) or urlsplit(base).scheme.lower() not in SCHEMES:
            raise ValueError(
                f"download: the mirror {base!r} is not an http://, https:// or file:// URL; "
                f"each mirror is the base URL of a folder holding the files, e.g. "
                f"{MIRRORS['mnist'][0]!r}"
            )


def download(
    name: str,
    root: str | os.PathLike[str],
    *,
    mirrors: Sequence[str] | None = None,
    checksums: Mapping[str, str] | None = None,
    sizes: Mapping[str, int] | None = None,
    timeout: float = 60.0,
    deadline: float = 900.0,
) -> Path:
    """Fetch the four files of `name` ("mnist" or "fashion-mnist") into the folder `root`
    (created if needed) and return it, ready for `load_mnist(root)` /
    `load_fashion_mnist(root)`. Use one folder per data set: the file names coincide.

    Each file is skipped when already present with the right SHA-256; otherwise the mirrors
    (`mirrors`, a list of http://, https:// or file:// base URLs, default `MIRRORS[name]`)
    are tried in order until one delivers the file with
    the expected digest (`checksums`, file name -> hex SHA-256, default `SHA256[name]`).
    `sizes` (file name -> bytes; default `SIZES[name]` with the default checksums, else
    unknown and capped at MAX_BYTES) bounds each body: a longer one is cut off and refused.
    `timeout` bounds each network read, `deadline` each file's whole transfer (connecting and
    the headers included), in seconds.
    Raises DatasetError, one line, naming the file and every mirror's failure (HTTP error,
    truncated or oversized transfer with byte counts, the deadline, or expected and actual
    digests).

    Example:
        >>> data = load_fashion_mnist(download("fashion-mnist", "~/.cache/chainrule/fashion"))
    """
    if name not in MIRRORS:
        raise ValueError(f"download: unknown data set {name!r}; choose one of {sorted(MIRRORS)}")
    if isinstance(mirrors, (str, bytes)):
        # A string is a sequence of one-letter "mirrors": each failed as "unknown url type:
        # 'h/train-images-idx3-ubyte.gz'".
        raise TypeError(
            f"download: `mirrors` is one string ({mirrors!r}); pass a list of base URLs, "
            f"e.g. mirrors=[{mirrors!r}]"
        )
    bases = tuple(MIRRORS[name] if mirrors is None else mirrors)
    if not bases:
        raise ValueError("download: `mirrors` is empty; pass at least one base URL")
    _check_mirrors(bases)
    if not (0 < timeout < float("inf") and 0 < deadline < float("inf")):
        raise ValueError(
            f"download: timeout and deadline must be positive and finite "
            f"seconds, got timeout={timeout!r}, deadline={deadline!r}"
        )
    digests = dict(SHA256[name] if checksums is None else checksums)
    expected_sizes = dict(SIZES[name] if sizes is None and checksums is None else sizes or {})
    missing = [file_name for file_name in FILE_NAMES.values() if file_name not in digests]
    if missing:
        raise ValueError(
            f"download: `checksums` lacks SHA-256 digests for {missing}; give one per file"
        )
    import http.client
    import urllib.error

    folder = Path(root).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    for file_name in FILE_NAMES.values():
        destination = folder / file_name
        expected = digests[file_name].lower()
        if destination.is_file() and sha256_of(destination) == expected:
            continue
        failures = []
        for base in bases:
            url = f"{base.rstrip('/')}/{file_name}"
            try:
                _fetch(
                    url,
                    destination,
                    expected,
                    size=expected_sizes.get(file_name),
                    timeout=timeout,
                    deadline=deadline,
                )
            except DatasetError as error:
                failures.append(str(error))
            except urllib.error.HTTPError as error:
                error.close()
                failures.append(f"{url}: HTTP {error.code} {error.reason}")
            except (OSError, http.client.HTTPException) as error:
                failures.append(f"{url}: {error}")
            else:
                break
        else:
            raise DatasetError(
                f"download: could not fetch {file_name} for {name} into {folder}; every "
                f"mirror failed: {'; '.join(failures)}"
            )
    return folder
