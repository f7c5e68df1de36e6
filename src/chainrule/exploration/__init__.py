"""See it: the forward and backward pass of a recorded graph stepped through in one
self-contained HTML page (`explore(loss, wrt=...)`, `chainrule explore`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from chainrule.exploration.data import Json, graph_data
from chainrule.exploration.page import embed_json, render_page
from chainrule.tensor import Tensor


@dataclass(frozen=True)
class Exploration:
    """The page for one graph: `html` (self-contained), `data` (what it shows), `save(path)`,
    `serve()`; a notebook displays it inline."""

    data: Json
    title: str

    @property
    def html(self) -> str:
        return render_page(self.data, self.title)

    def save(self, path: str | Path) -> Path:
        """Write the page to `path` and return it."""
        target = Path(path)
        target.write_text(self.html, encoding="utf-8")
        return target

    def serve(self, port: int = 0) -> None:
        """Serve the page on 127.0.0.1 until Ctrl-C (port 0: a free one, printed)."""
        from chainrule.exploration.server import serve

        serve(self.html, embed_json(self.data), port=port)

    def _repr_html_(self) -> str:
        """Jupyter: the page in a sandboxed iframe, so its script and styles stay its own."""
        import html

        return (
            f'<iframe srcdoc="{html.escape(self.html, quote=True)}" '
            'sandbox="allow-scripts" style="width:100%;height:900px;border:0" '
            f'title="{html.escape(self.title, quote=True)}"></iframe>'
        )


def explore(
    loss: Tensor,
    wrt: Tensor | Sequence[Tensor],
    *,
    samples: int = 4,
    rng: np.random.Generator | None = None,
    title: str | None = None,
) -> Exploration:
    """The explore page for d(loss)/d(w), for each w in `wrt`, on the user's own graph.

    `loss` is a scalar Tensor with its recorded graph; every tensor in `wrt` requires grad.
    Each backward link is checked against central differences at `samples` entries (drawn
    from `rng`, default seed 0), as `explain` checks it.
    """
    targets = (wrt,) if isinstance(wrt, Tensor) else tuple(wrt)
    data = graph_data(loss, targets, samples=samples, rng=rng)
    names = ", ".join(data["wrt"])
    return Exploration(data, title if title is not None else f"d{data['output']}/d({names})")


def tutorial_exploration(
    *, n: int = 8, n_hidden: int = 16, train_steps: int = 30, seed: int = 0
) -> Exploration:
    """The page for the tutorial network on `n` of the bundled digits (needs scikit-learn)."""
    from chainrule.exploration.tutorial import tutorial_data

    data = tutorial_data(
        n=n, n_hidden=n_hidden, train_steps=train_steps, rng=np.random.default_rng(seed)
    )
    return Exploration(data, "chainrule explore: the tutorial network on the digits")


__all__ = ["Exploration", "explore", "tutorial_exploration"]
