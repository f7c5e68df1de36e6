"""The explore server answers the page and its data only to requests for 127.0.0.1 or
localhost at its own port, and only on its two paths."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator

import pytest

from chainrule.exploration.server import make_server

PAGE, DATA = "<!DOCTYPE html><p>page</p>", '{"data":1}'


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    server = make_server(PAGE, DATA)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_port)
    finally:
        server.shutdown()
        server.server_close()


def get(port: int, path: str, host: str | None) -> tuple[int, str]:
    """Status and body of GET `path`, sent with Host: `host` (None: no Host header)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.putrequest("GET", path, skip_host=True)
        if host is not None:
            connection.putheader("Host", host)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST:{port}"])
def test_the_page_and_data_answer_for_this_machine(port: int, host: str) -> None:
    assert get(port, "/", host.format(port=port)) == (200, PAGE)
    assert get(port, "/data.json?x=1", host.format(port=port)) == (200, DATA)


@pytest.mark.parametrize(
    "host", ["attacker.example:{port}", "attacker.example", "127.0.0.1", "localhost:{other}"]
)
def test_a_request_for_another_host_is_refused(port: int, host: str) -> None:
    # Before: answered 200 with the data, so a web page whose domain was rebound to
    # 127.0.0.1 (DNS rebinding) could read a run's weights and examples from the browser.
    status, body = get(port, "/data.json", host.format(port=port, other=port + 1))
    assert (status, body) == (403, "only 127.0.0.1 is served\n")


@pytest.mark.parametrize(
    "path", ["/../../etc/passwd", "/..%2f..%2fetc/passwd", "/data.json/..", "/page.css"]
)
def test_no_other_path_is_served(port: int, path: str) -> None:
    assert get(port, path, f"127.0.0.1:{port}") == (404, "not found\n")
