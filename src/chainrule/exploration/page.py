"""The page: page.html with page.css, page.js and the data inlined, so the file is
self-contained (no CDN, no request of any kind; its Content-Security-Policy forbids them)."""

from __future__ import annotations

import html
import json
from importlib import resources

from chainrule.exploration.data import Json

_SCRIPT_UNSAFE = {
    ord("<"): "\\u003c",
    ord(">"): "\\u003e",
    ord("&"): "\\u0026",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}
"""Characters escaped inside the embedded JSON, so no user string can close its <script>."""


def _asset(name: str) -> str:
    return resources.files("chainrule.exploration").joinpath(name).read_text(encoding="utf-8")


def embed_json(data: Json) -> str:
    """`data` as JSON that is safe inside <script type="application/json">."""
    return json.dumps(data, allow_nan=False, separators=(",", ":")).translate(_SCRIPT_UNSAFE)


def render_page(data: Json, title: str) -> str:
    """The self-contained HTML page showing `data` under `title` (escaped)."""
    page = _asset("page.html")
    # The data goes in last, so a placeholder-like string in it is never replaced.
    page = page.replace("{{TITLE}}", html.escape(title))
    page = page.replace("{{CSS}}", _asset("page.css")).replace("{{JS}}", _asset("page.js"))
    return page.replace("{{DATA}}", embed_json(data))
