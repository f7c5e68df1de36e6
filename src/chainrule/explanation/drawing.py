"""`draw(output)`: the recorded graph as Graphviz DOT text, one node per step (named as in
`explain`), leaves styled apart (parameters vs data), the paths to `wrt` highlighted, and,
once backward has run, the norm of each of this graph's gradients (a leaf's `.grad` where
it is this graph's; one left by an earlier backward is marked as such). Rendering to
SVG/PNG uses Graphviz's `dot` program when it is installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from html import escape
from pathlib import Path

import numpy as np

from chainrule.explanation.paths import find_paths
from chainrule.explanation.replay import upstream_gradients
from chainrule.explanation.rules import fill, template_fields
from chainrule.explanation.walk import GraphView, read_graph
from chainrule.files import write_atomically
from chainrule.tensor import Tensor

FORMATS = ("svg", "png")
INSTALL_HINT = (
    "Graphviz's `dot` program is not installed, so no image was rendered; install "
    "it with `apt-get install graphviz` (Debian/Ubuntu), `conda install graphviz`, "
    "`brew install graphviz` (macOS) or from https://graphviz.org/download/, then "
    "render with `dot -T{format} {dot} -o {image}`"
)

NOTEBOOK_HINT = (
    "Graphviz's `dot` program is not installed, so the graph cannot be shown as "
    "an image. Install it with `apt-get install graphviz` (Debian/Ubuntu), "
    "`conda install graphviz` or `brew install graphviz` (macOS), then run the "
    "cell again. The DOT source is available meanwhile: `str(drawing)`."
)

_HIGHLIGHT = 'color="#d62728", penwidth=2.5'


class Drawing(str):
    """The DOT text (a `str`), with where it was written: `dot_path` and `image_path` (None
    when not written) and `message`, one line saying what happened."""

    dot_path: Path | None
    image_path: Path | None
    message: str

    def __new__(
        cls,
        dot: str,
        dot_path: Path | None = None,
        image_path: Path | None = None,
        message: str = "",
    ) -> Drawing:
        drawing = super().__new__(cls, dot)
        drawing.dot_path = dot_path
        drawing.image_path = image_path
        drawing.message = message
        return drawing

    def to_svg(self) -> str | None:
        """The graph rendered to SVG text by Graphviz's `dot`; None when `dot` is not
        installed or fails (see `_repr_html_` for what a notebook shows then)."""
        program = shutil.which("dot")
        if program is None:
            return None
        result = subprocess.run(
            [program, "-Tsvg"], input=str(self), capture_output=True, text=True, check=False
        )
        return result.stdout if result.returncode == 0 else None

    def _repr_svg_(self) -> str | None:
        """Jupyter: the graph as SVG, or nothing when Graphviz is missing."""
        return self.to_svg()

    def _repr_html_(self) -> str | None:
        """Jupyter: nothing when the SVG renders; otherwise how to install Graphviz, with the
        DOT source collapsed below."""
        if shutil.which("dot") is not None:
            return None
        return (
            f'<div class="chainrule-drawing"><p>{escape(NOTEBOOK_HINT)}</p>'
            f"<details><summary>DOT source</summary><pre>{escape(str(self))}</pre>"
            "</details></div>"
        )


def _quote(text: str) -> str:
    """`text` as a DOT quoted string: a backslash and a quote escaped, so a user's name
    ending in a backslash cannot swallow the closing quote."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _label(text: str) -> str:
    """A DOT label from plain text whose lines are split by newlines: a backslash in a
    name stays a backslash (unescaped, the name w followed by a backslash would join the
    next line's n into a line break)."""
    return _quote(text).replace("\n", "\\n")


def _node_ids(view: GraphView) -> dict[int, str]:
    """Each node's DOT id: its name, or for a number written in the graph `const<k>` with
    k picked so that no id is any other node's name (a user may name a tensor const2)."""
    names = {view.name(leaf) for leaf in view.leaves} | {step.name for step in view.steps}
    ids = {id(step.tensor): step.name for step in view.steps}
    count = 0
    for leaf in view.leaves:
        name = view.name(leaf)
        if not view.is_literal(leaf):
            ids[id(leaf)] = name
            continue
        count += 1
        while f"const{count}" in names:
            count += 1
        ids[id(leaf)] = f"const{count}"
    return ids


def _norm(values: np.ndarray) -> str:
    return f"{float(np.linalg.norm(np.asarray(values, dtype=np.float64))):.3g}"


def _has_leaf_grads(view: GraphView) -> bool:
    return any(leaf.grad is not None for leaf in view.leaves)


_SAME_GRAD_RTOL = {"float16": 1e-2, "bfloat16": 1e-2, "float32": 1e-4}
"""How closely a stored `.grad` must match this graph's float64 gradient to be called its
own, by the .grad's dtype (others: 1e-7)."""


def _leaf_gradient(leaf: Tensor, name: str, grads: dict[int, np.ndarray]) -> str:
    """The label lines of a leaf's gradient: this graph's dloss/d(leaf), or its `.grad`
    (|grad|) where the two agree. A `.grad` left by an earlier backward (of another graph,
    or several added up) is not passed off as this graph's gradient."""
    stored = leaf.grad
    own = grads.get(id(leaf))
    if stored is None:
        return "" if own is None else f"\n|dloss/d{name}| = {_norm(own)}"
    if own is None:
        # no scalar loss to replay: the .grad cannot be told from an earlier one
        return f"\n|grad| = {_norm(stored.data)} (.grad: maybe from an earlier backward)"
    values = np.asarray(stored.data, dtype=np.float64)
    rtol = _SAME_GRAD_RTOL.get(str(stored.dtype), 1e-7)
    finite = np.abs(own[np.isfinite(own)])
    scale = float(np.max(finite)) if finite.size else 0.0
    # NaN where this graph's gradient is NaN too is the same gradient, not an earlier one.
    if values.shape == own.shape and np.allclose(
        values, own, rtol=rtol, atol=rtol * scale, equal_nan=True
    ):
        return f"\n|grad| = {_norm(stored.data)}"
    return (
        f"\n|dloss/d{name}| = {_norm(own)}\n.grad differs: |grad| = {_norm(stored.data)} "
        "(from an earlier backward, or added to one)"
    )


def to_dot(view: GraphView, wrt: Tensor | None) -> str:
    """The DOT text of the view; `wrt` (or None) picks the highlighted paths."""
    highlighted_steps: set[str] = set()
    highlighted_edges: set[tuple[str, str]] = set()
    if wrt is not None:
        paths, _ = find_paths(view, wrt, limit=1000)
        for path in paths:
            for index, position in path:
                step = view.steps[index]
                highlighted_steps.add(step.name)
                highlighted_edges.add((view.name(step.operands[position]), step.name))
        highlighted_steps.add(view.name(wrt))
    grads = upstream_gradients(view) if _has_leaf_grads(view) and view.output.size == 1 else {}
    lines = [
        "digraph chainrule {",
        "  rankdir=LR;",
        '  node [fontname="Helvetica", fontsize=11];',
        '  edge [color="#555555"];',
    ]
    ids = _node_ids(view)
    for leaf in view.leaves:
        name = view.name(leaf)
        label = _label(f"{name}\n{leaf.shape}" + _leaf_gradient(leaf, name, grads))
        style = (
            'shape=box, style="rounded,filled", fillcolor="#cfe2f3"'
            if leaf.requires_grad
            else 'shape=box, style="dashed,filled", fillcolor="#eeeeee"'
        )
        role = "parameter" if leaf.requires_grad else "data"
        extra = f", {_HIGHLIGHT}" if name in highlighted_steps else ""
        node = _quote(ids[id(leaf)])
        lines.append(f'  {node} [label={label}, {style}, class="{role}"{extra}];')
    for step in view.steps:
        names = [view.name(t) for t in step.operands]
        fields = template_fields(
            step.primitive,
            step.params,
            names,
            names,
            [t.shape for t in step.operands],
            step.tensor.shape,
            False,
        )
        formula = fill(step.rule.formula, fields)
        op = step.primitive.name if step.primitive is not None else "matmul + add"
        label = f"{step.name} = {formula}\n{op}  {step.tensor.shape}"
        grad = grads.get(id(step.tensor))
        if grad is not None:
            label += f"\n|dloss/d{step.name}| = {_norm(grad)}"
        extra = f", {_HIGHLIGHT}" if step.name in highlighted_steps else ""
        lines.append(
            f'  {_quote(step.name)} [label={_label(label)}, shape=ellipse, class="op"{extra}];'
        )
    for step in view.steps:
        for operand in step.operands:
            source = view.name(operand)
            extra = f" [{_HIGHLIGHT}]" if (source, step.name) in highlighted_edges else ""
            lines.append(f"  {_quote(ids[id(operand)])} -> {_quote(step.name)}{extra};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _render(dot_path: Path, image_path: Path, format: str) -> tuple[str, bool]:
    """`dot` renders into a temporary file moved over `image_path` only when it succeeds, so
    a failed or interrupted render leaves the former image, not a partial one."""
    program = shutil.which("dot")
    if program is None:
        return f"wrote {dot_path}. " + INSTALL_HINT.format(
            format=format, dot=dot_path, image=image_path
        ), False
    temporary = image_path.with_name(f".{image_path.name}.tmp")
    try:
        result = subprocess.run(
            [program, f"-T{format}", str(dot_path), "-o", str(temporary)],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            return (
                f"wrote {dot_path}; dot failed to render {image_path} (exit "
                f"{result.returncode}): {result.stderr.strip()}"
            ), False
        os.replace(temporary, image_path)
    finally:
        temporary.unlink(missing_ok=True)
    return f"wrote {dot_path} and {image_path}", True


def draw(
    output: Tensor,
    wrt: Tensor | None = None,
    path: str | Path | None = None,
    format: str | None = None,
    *,
    group_affine: bool = True,
) -> Drawing:
    """The graph that computed `output` as Graphviz DOT text (a `Drawing`, which is a str).

    With `path` ("graph", "graph.svg", "graph.png" or "graph.dot"), writes `<stem>.dot`
    and, when `dot` is installed, renders `<stem>.<format>` (format from the suffix, else
    "svg"), creating missing parent folders; any other suffix is a ValueError. Without `dot`
    the returned drawing's `message` says how to install it. Nothing is printed.
    """
    if not isinstance(output, Tensor):
        raise TypeError(f"draw: output must be a chainrule Tensor, got {type(output).__name__}")
    target = Path(path) if path is not None else None
    suffix = target.suffix.lstrip(".") if target is not None else ""
    chosen = format or (suffix if suffix in FORMATS else "svg")
    if chosen not in FORMATS:
        raise ValueError(f"draw: format {chosen!r} is not one of {FORMATS}; pick svg or png")
    if suffix and suffix not in (*FORMATS, "dot"):
        raise ValueError(
            f"draw: path {target} ends in .{suffix}; chainrule renders .svg or "
            ".png (or give no suffix for .svg)"
        )
    if suffix in FORMATS and suffix != chosen:
        raise ValueError(
            f"draw: path {target} ends in .{suffix} but format is {chosen!r}; make them agree"
        )
    view = read_graph(output, keep=(wrt,) if wrt is not None else (), group_affine=group_affine)
    if wrt is not None and id(wrt) not in view.names:
        label = f"{wrt.name!r}" if wrt.name else f"of shape {wrt.shape}"
        raise ValueError(
            f"draw: wrt {label} is not in the graph of the output; pass a tensor "
            "the output was computed from"
        )
    dot = to_dot(view, wrt)
    if target is None:
        return Drawing(dot)
    dot_path = target.with_suffix(".dot")
    image_path = target.with_suffix("." + chosen)
    dot_path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(dot_path, dot.encode("utf-8"))  # UTF-8, as Graphviz reads it
    message, rendered = _render(dot_path, image_path, chosen)
    return Drawing(dot, dot_path, image_path if rendered else None, message)
