"""`--serve`: the page on 127.0.0.1 with the standard library's HTTP server, on a free port.
Only two paths answer: / (the page) and /data.json (its data); everything else is 404."""

from __future__ import annotations

import http.server
from collections.abc import Callable

PAGE_PATHS = ("/", "/index.html")
DATA_PATH = "/data.json"


def make_server(page: str, data_json: str, *, port: int = 0) -> http.server.ThreadingHTTPServer:
    """A server bound to 127.0.0.1 only (port 0: the system picks a free one) that serves
    `page` and `data_json` and nothing else."""
    page_bytes = page.encode("utf-8")
    data_bytes = data_json.encode("utf-8")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path in PAGE_PATHS:
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

    return http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)


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
