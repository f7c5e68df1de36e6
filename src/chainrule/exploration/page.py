"""The page: page.html with page.css, page.js and the data inlined, so the file is
self-contained (no CDN, no request of any kind; its Content-Security-Policy forbids them)."""

from __future__ import annotations

import html
import json
import re
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


_PLACEHOLDER = re.compile(r"\{\{(TITLE|CSS|JS|DATA)\}\}")
"""The slots of page.html."""


def render_page(data: Json, title: str) -> str:
    """The self-contained HTML page showing `data` under `title` (escaped)."""
    parts = {
        "TITLE": html.escape(title),
        "CSS": _asset("page.css"),
        "JS": _asset("page.js"),
        "DATA": embed_json(data),
    }
    # One pass over the template: what goes into a slot is never searched for slots, so a
    # title or a tensor name that reads "{{JS}}" stays that text.
    return _PLACEHOLDER.sub(lambda slot: parts[slot.group(1)], _asset("page.html"))
