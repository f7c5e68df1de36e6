"""`--serve`: the page on 127.0.0.1 with the standard library's HTTP server, on a free port.
Only two paths answer: / (the page) and /data.json (its data); everything else is 404. A
request naming another host (a web page whose domain was rebound to 127.0.0.1, reading the
data from the user's browser) is refused with 403."""

from __future__ import annotations

import errno
import http.server
from collections.abc import Callable

PAGE_PATHS = ("/", "/index.html")
DATA_PATH = "/data.json"
HOST = "127.0.0.1"
LAST_PORT = 65535


class PortUnavailableError(OSError):
    """The port asked for cannot be listened on (taken by another program, or refused)."""


def check_port(port: int) -> int:
    """`port` if it is a TCP port number (0 to 65535; 0: the system picks a free one), else a
    ValueError naming it and the range."""
    if not 0 <= port <= LAST_PORT:
        raise ValueError(
            f"explore: port {port} is not a TCP port; choose one from 0 to {LAST_PORT} "
            "(0: a free one, printed)"
        )
    return port


def local_host_names(port: int) -> frozenset[str]:
    """The Host headers a browser sends for this server: 127.0.0.1 or localhost with `port`
    (without it too for port 80, the default)."""
    names = {f"{HOST}:{port}", f"localhost:{port}"}
    if port == 80:
        names |= {HOST, "localhost"}
    return frozenset(names)


class PageServer(http.server.ThreadingHTTPServer):
    """An HTTP server bound to 127.0.0.1 that answers only for `page` and `data_json`, once
    `publish` has given them: the port is taken before the page is built, so a taken port is
    reported at once, not after the network has been trained for it."""

    def __init__(self, port: int) -> None:
        self.allowed_hosts: frozenset[str] = frozenset()
        self.page_bytes = b""
        self.data_bytes = b""
        super().__init__((HOST, port), _Handler)
        self.allowed_hosts = local_host_names(self.server_port)

    def publish(self, page: str, data_json: str) -> None:
        """The page and its data, served from then on."""
        self.page_bytes = page.encode("utf-8")
        self.data_bytes = data_json.encode("utf-8")

    def serve_until_interrupted(self, announce: Callable[[str], None] = print) -> None:
        """Announce the address and serve until Ctrl-C (KeyboardInterrupt propagates after
        the socket is closed)."""
        host, bound = self.server_address[:2]
        announce(f"serving on http://{host!s}:{bound}/ (Ctrl-C to stop)")
        try:
            self.serve_forever()
        finally:
            self.server_close()


class _Handler(http.server.BaseHTTPRequestHandler):
    server: PageServer

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        host = self.headers.get("Host")
        if host is not None and host.strip().lower() not in self.server.allowed_hosts:
            self._send(403, "text/plain; charset=utf-8", b"only 127.0.0.1 is served\n")
        elif path in PAGE_PATHS:
            self._send(200, "text/html; charset=utf-8", self.server.page_bytes)
        elif path == DATA_PATH:
            self._send(200, "application/json", self.server.data_bytes)
        else:
            self._send(404, "text/plain; charset=utf-8", b"not found\n")

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


def bind_server(port: int = 0) -> PageServer:
    """A PageServer listening on 127.0.0.1 at `port` (0: the system picks a free one), with
    nothing published yet.

    Raises ValueError for a port outside 0-65535 and PortUnavailableError (an OSError) naming
    the port when it is taken or refused."""
    check_port(port)
    try:
        return PageServer(port)
    except OSError as error:
        reason = (
            "is already in use"
            if error.errno == errno.EADDRINUSE
            else f"cannot be listened on ({error.strerror or error})"
        )
        raise PortUnavailableError(
            f"explore: port {port} on {HOST} {reason}; choose another port, or port 0 for a "
            "free one (--port 0 on the command line)"
        ) from None


def make_server(page: str, data_json: str, *, port: int = 0) -> PageServer:
    """`bind_server(port)` with `page` and `data_json` published."""
    server = bind_server(port)
    server.publish(page, data_json)
    return server


def serve(
    page: str, data_json: str, *, port: int = 0, announce: Callable[[str], None] = print
) -> None:
    """Serve until Ctrl-C (KeyboardInterrupt propagates after the socket is closed)."""
    make_server(page, data_json, port=port).serve_until_interrupted(announce)
