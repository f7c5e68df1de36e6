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


def make_server(page: str, data_json: str, *, port: int = 0) -> http.server.ThreadingHTTPServer:
    """A server bound to 127.0.0.1 only (port 0: the system picks a free one) that serves
    `page` and `data_json` and nothing else.

    Raises ValueError for a port outside 0-65535 and PortUnavailableError (an OSError) naming
    the port when it is taken or refused."""
    check_port(port)
    allowed_hosts: set[str] = set()  # filled once the port is bound
    page_bytes = page.encode("utf-8")
    data_bytes = data_json.encode("utf-8")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            host = self.headers.get("Host")
            if host is not None and host.strip().lower() not in allowed_hosts:
                self._send(403, "text/plain; charset=utf-8", b"only 127.0.0.1 is served\n")
            elif path in PAGE_PATHS:
                self._send(200, "text/html; charset=utf-8", page_bytes)
            elif path == DATA_PATH:
                self._send(200, "application/json", data_bytes)
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

    try:
        server = http.server.ThreadingHTTPServer((HOST, port), Handler)
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
    allowed_hosts.update(local_host_names(server.server_port))
    return server


def serve(
    page: str, data_json: str, *, port: int = 0, announce: Callable[[str], None] = print
) -> None:
    """Serve until Ctrl-C (KeyboardInterrupt propagates after the socket is closed)."""
    server = make_server(page, data_json, port=port)
    host, bound = server.server_address[:2]
    announce(f"serving on http://{host!s}:{bound}/ (Ctrl-C to stop)")
    try:
        server.serve_forever()
    finally:
        server.server_close()
