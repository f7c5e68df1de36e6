"""download() against a local HTTP server on 127.0.0.1 serving files the tests make:
verification, checksum mismatch, truncated transfer, mirror fallback, no re-download."""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from chainrule.data import DatasetError, download, load_mnist, save_idx
from chainrule.data.download import SHA256
from chainrule.data.mnist import FILE_NAMES

OVERSIZE = 1 << 20


@dataclass
class LocalServer:
    """Serves `files` (URL path -> body) on 127.0.0.1; paths under /truncated/ announce 100
    bytes more than they send, under /trickle/ send one byte at a time, under /slow-headers/
    send the status line and headers one byte at a time, under /oversized/
    (announced) and /unannounced/ (no Content-Length) send OVERSIZE bytes too many;
    everything else is a 404. `requests` logs each GET path."""

    base: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalServer]:
    for variable in (
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    state = LocalServer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append(self.path)
            body = state.files.get(self.path)
            if body is None:
                self.send_error(404, "Not Found")
                return
            if self.path.startswith("/trickle/"):
                self._trickle(body)
                return
            if self.path.startswith("/slow-headers/"):
                self._trickle_headers(body)
                return
            oversized = self.path.startswith(("/oversized/", "/unannounced/"))
            if oversized:
                body += bytes(OVERSIZE)
            announced = len(body) + (100 if self.path.startswith("/truncated/") else 0)
            self.send_response(200)
            if not self.path.startswith("/unannounced/"):
                self.send_header("Content-Length", str(announced))
            self.end_headers()
            with contextlib.suppress(OSError):
                self.wfile.write(body)
            self.close_connection = True

        def _trickle(self, body: bytes) -> None:
            """One byte every 20 ms, for at most 10 s or until the client hangs up."""
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            with contextlib.suppress(OSError):
                for index in range(min(len(body), 500)):
                    self.wfile.write(body[index : index + 1])
                    self.wfile.flush()
                    time.sleep(0.02)
            self.close_connection = True

        def _trickle_headers(self, body: bytes) -> None:
            """The status line and headers one byte every 0.25 s, until the client hangs up."""
            head = f"HTTP/1.0 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            with contextlib.suppress(OSError):
                for index in range(len(head)):
                    self.wfile.write(head[index : index + 1])
                    self.wfile.flush()
                    time.sleep(0.25)
                self.wfile.write(body)
            self.close_connection = True

        def log_message(self, format: str, *args: object) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def _make_files(folder: Path) -> dict[str, bytes]:
    """A tiny MNIST-like set as gzipped IDX bytes, by file name."""
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (10, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, 10, dtype=np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, 5, dtype=np.uint8),
    }
    folder.mkdir()
    return {name: save_idx(folder / name, array).read_bytes() for name, array in arrays.items()}


@pytest.fixture
def files(tmp_path: Path) -> dict[str, bytes]:
    return _make_files(tmp_path / "source")


def _sha256(files: dict[str, bytes]) -> dict[str, str]:
    return {name: hashlib.sha256(body).hexdigest() for name, body in files.items()}


def _serve(server: LocalServer, prefix: str, files: dict[str, bytes]) -> str:
    server.files.update({f"{prefix}/{name}": body for name, body in files.items()})
    return server.base + prefix


def test_download_fetches_and_verifies_all_four_files(
    server: LocalServer, files: dict[str, bytes], tmp_path: Path
) -> None:
    mirror = _serve(server, "/mnist", files)
    cache = tmp_path / "cache"
    returned = download("mnist", cache, mirrors=[mirror], checksums=_sha256(files), timeout=5)
    assert returned == cache
    assert sorted(path.name for path in cache.iterdir()) == sorted(FILE_NAMES.values())
    for name, body in files.items():
        assert (cache / name).read_bytes() == body


def test_downloaded_files_load_with_load_mnist(
    server: LocalServer, files: dict[str, bytes], tmp_path: Path
) -> None:
    mirror = _serve(server, "/mnist", files)
    data = load_mnist(
        download("mnist", tmp_path / "c", mirrors=[mirror], checksums=_sha256(files), timeout=5)
    )
    assert data.x_train.shape == (10, 784)


def test_checksum_mismatch_names_file_and_digests_and_leaves_nothing(
    server: LocalServer, files: dict[str, bytes], tmp_path: Path
) -> None:
    tampered = dict(files)
    body = bytearray(files["train-images-idx3-ubyte.gz"])
    body[len(body) // 2] ^= 0xFF
    tampered["train-images-idx3-ubyte.gz"] = bytes(body)
    mirror = _serve(server, "/mnist", tampered)
    expected = _sha256(files)["train-images-idx3-ubyte.gz"]
    actual = hashlib.sha256(tampered["train-images-idx3-ubyte.gz"]).hexdigest()
    cache = tmp_path / "cache"
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte\.gz") as raised:
        download("mnist", cache, mirrors=[mirror], checksums=_sha256(files), timeout=5)
    assert f"expected SHA-256 {expected}, got {actual}" in str(raised.value)
    assert list(cache.iterdir()) == []


def test_truncated_transfer_reports_byte_counts_and_leaves_nothing(
    server: LocalServer, files: dict[str, bytes], tmp_path: Path
) -> None:
    mirror = _serve(server, "/truncated", files)
    size = len(files["train-images-idx3-ubyte.gz"])
    cache = tmp_path / "cache"
    with pytest.raises(DatasetError, match="truncated transfer") as raised:
        download("mnist", cache, mirrors=[mirror], checksums=_sha256(files), timeout=5)
    assert f"expected {size + 100} bytes, received {size}" in str(raised.value)
    assert list(cache.iterdir()) == []


def test_falls_back_to_the_next_mirror_after_a_404(
    server: LocalServer, files: dict[str, bytes], tmp_path: Path
) -> None:
    good = _serve(server, "/good", files)
    cache = tmp_path / "cache"
    download(
        "mnist",
        cache,
        mirrors=[server.base + "/missing", good],
        checksums=_sha256(files),
        timeout=5,
    )
    assert (cache / "t10k-labels-idx1-ubyte.gz").read_bytes() == files["t10k-labels-idx1-ubyte.gz"]
    assert "/missing/train-images-idx3-ubyte.gz" in server.requests
    assert "/good/train-images-idx3-ubyte.gz" in server.requests


def test_error_lists_every_mirror_when_all_fail(
    server: LocalServer, files: dict[str, bytes], tmp_path: Path
) -> None:
    with pytest.raises(DatasetError, match=r"every mirror failed") as raised:
        download(
            "mnist",
            tmp_path / "cache",
            mirrors=[server.base + "/a", server.base + "/b"],
            checksums=_sha256(files),
            timeout=5,
        )
    assert "/a/train-images-idx3-ubyte.gz: HTTP 404" in str(raised.value)
    assert "/b/train-images-idx3-ubyte.gz: HTTP 404" in str(raised.value)


def test_a_failed_download_is_one_line(
    server: LocalServer, files: dict[str, bytes], tmp_path: Path
) -> None:
    with pytest.raises(DatasetError) as raised:
        download(
            "mnist",
            tmp_path / "cache",
            mirrors=[server.base + "/a", server.base + "/b"],
            checksums=_sha256(files),
            timeout=5,
        )
    assert "\n" not in str(raised.value)


def test_a_trickling_server_fails_within_the_total_deadline(
    server: LocalServer, files: dict[str, bytes], tmp_path: Path
) -> None:
    mirror = _serve(server, "/trickle", files)
    started = time.monotonic()
    with pytest.raises(
        DatasetError,
        match=r"/trickle/train-images-idx3-ubyte\.gz: took longer "
        r"than the 0\.5 s deadline \(received \d+ of ",
    ):
        download(
            "mnist",
            tmp_path / "cache",
            mirrors=[mirror],
            checksums=_sha256(files),
            timeout=5,
            deadline=0.5,
        )
    assert time.monotonic() - started < 4
    assert list((tmp_path / "cache").iterdir()) == []


def test_the_total_deadline_covers_a_server_trickling_its_headers(
    server: LocalServer, files: dict[str, bytes], tmp_path: Path
) -> None:
    mirror = _serve(server, "/slow-headers", files)
    started = time.monotonic()
    with pytest.raises(
        DatasetError,
        match=r"/slow-headers/train-images-idx3-ubyte\.gz: took "
        r"longer than the 2 s deadline",
    ):
        download(
            "mnist",
            tmp_path / "cache",
            mirrors=[mirror],
            checksums=_sha256(files),
            timeout=1,
            deadline=2,
        )
    assert time.monotonic() - started < 4
    assert list((tmp_path / "cache").iterdir()) == []


@pytest.mark.parametrize(
    ("prefix", "reason"),
    [
        ("/oversized", r"announces \d+ bytes, more than the expected \d+ bytes; refused"),
        ("/unannounced", r"sent more than the expected \d+ bytes; cut off and refused"),
    ],
)
def test_a_body_larger_than_the_expected_size_is_refused(
    server: LocalServer, files: dict[str, bytes], tmp_path: Path, prefix: str, reason: str
) -> None:
    mirror = _serve(server, prefix, files)
    sizes = {name: len(body) for name, body in files.items()}
    with pytest.raises(DatasetError, match=rf"{prefix}/train-images-idx3-ubyte\.gz: {reason}"):
        download(
            "mnist",
            tmp_path / "cache",
            mirrors=[mirror],
            checksums=_sha256(files),
            sizes=sizes,
            timeout=5,
        )
    assert list((tmp_path / "cache").iterdir()) == []


def test_a_body_of_the_expected_size_is_accepted(
    server: LocalServer, files: dict[str, bytes], tmp_path: Path
) -> None:
    mirror = _serve(server, "/mnist", files)
    sizes = {name: len(body) for name, body in files.items()}
    download(
        "mnist",
        tmp_path / "cache",
        mirrors=[mirror],
        checksums=_sha256(files),
        sizes=sizes,
        timeout=5,
    )
    assert (tmp_path / "cache" / "t10k-images-idx3-ubyte.gz").read_bytes() == files[
        "t10k-images-idx3-ubyte.gz"
    ]


@pytest.mark.parametrize("seconds", [{"timeout": 0.0}, {"deadline": float("inf")}])
def test_timeout_and_deadline_must_be_positive_and_finite(
    tmp_path: Path, seconds: dict[str, float]
) -> None:
    with pytest.raises(ValueError, match="timeout and deadline must be positive and finite"):
        download("mnist", tmp_path, mirrors=["http://127.0.0.1:9"], **seconds)


def test_verified_files_already_present_are_not_downloaded_again(
    server: LocalServer, files: dict[str, bytes], tmp_path: Path
) -> None:
    mirror = _serve(server, "/mnist", files)
    cache = tmp_path / "cache"
    download("mnist", cache, mirrors=[mirror], checksums=_sha256(files), timeout=5)
    server.requests.clear()
    download("mnist", cache, mirrors=[mirror], checksums=_sha256(files), timeout=5)
    assert server.requests == []


def test_a_corrupt_cached_file_is_replaced(
    server: LocalServer, files: dict[str, bytes], tmp_path: Path
) -> None:
    mirror = _serve(server, "/mnist", files)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "train-labels-idx1-ubyte.gz").write_bytes(b"half a file")
    download("mnist", cache, mirrors=[mirror], checksums=_sha256(files), timeout=5)
    assert (cache / "train-labels-idx1-ubyte.gz").read_bytes() == files[
        "train-labels-idx1-ubyte.gz"
    ]


def test_unknown_data_set_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown data set 'cifar'.*fashion-mnist"):
        download("cifar", tmp_path)


def test_checksums_must_cover_every_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="lacks SHA-256 digests"):
        download("mnist", tmp_path, mirrors=["http://127.0.0.1:9"], checksums={})


def test_mirrors_given_as_one_string_are_refused_naming_the_list(tmp_path: Path) -> None:
    # The string was taken as a sequence of one-letter mirrors, and urllib's "unknown url
    # type: 'h/train-images-idx3-ubyte.gz'" escaped.
    with pytest.raises(TypeError, match=r"`mirrors` is one string .*mirrors=\['http://x/m'\]"):
        download("mnist", tmp_path, mirrors="http://x/m")  # type: ignore[arg-type]


@pytest.mark.parametrize("mirror", ["127.0.0.1/mnist", "ftp://example.org/mnist", ""])
def test_a_mirror_without_an_http_or_file_scheme_is_refused_before_any_transfer(
    tmp_path: Path, mirror: str
) -> None:
    with pytest.raises(ValueError, match=r"is not an http://, https:// or file:// URL"):
        download("mnist", tmp_path / "cache", mirrors=[mirror], checksums=SHA256["mnist"])
    assert not (tmp_path / "cache").exists()


def test_a_file_url_mirror_is_fetched_and_verified(tmp_path: Path, files: dict[str, bytes]) -> None:
    source = (tmp_path / "source").as_uri()
    folder = download("mnist", tmp_path / "cache", mirrors=[source], checksums=_sha256(files))
    for file_name, content in files.items():
        assert (folder / file_name).read_bytes() == content
