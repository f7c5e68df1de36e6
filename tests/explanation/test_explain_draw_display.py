"""How `explain` and `draw` results display in a notebook: Markdown, LaTeX, collapsible HTML
with every user name escaped, SVG from Graphviz, and a clear message when Graphviz is missing."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

import chainrule
from chainrule.explanation import drawing as drawing_module
from chainrule.explanation import tutorial_network
from chainrule.tensor import Tensor

needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None, reason="Graphviz's dot is not installed (CI installs it)"
)


@pytest.fixture
def network(rng: np.random.Generator) -> dict[str, Tensor]:
    return tutorial_network(4, 3, 5, 1, rng=rng)


def _hostile_graph(rng: np.random.Generator) -> tuple[Tensor, Tensor]:
    weight = Tensor(rng.standard_normal((3, 2)), requires_grad=True, name="<w&b>")
    data = Tensor(rng.standard_normal((4, 3)), name="x")
    return (data @ weight).sum(), weight


def test_explanation_markdown_is_its_to_markdown(network: dict[str, Tensor]) -> None:
    explanation = chainrule.explain(network["loss"], network["w1"])
    assert explanation._repr_markdown_() == explanation.to_markdown()
    assert "| `u2` | `relu(u1)` |" in explanation._repr_markdown_()


def test_explanation_latex_is_display_math(network: dict[str, Tensor]) -> None:
    latex = chainrule.explain(network["loss"], network["w1"])._repr_latex_()
    assert latex.startswith("$$")
    assert latex.rstrip().endswith("$$")
    assert r"\begin{aligned}" in latex
    assert r"\frac{\partial \mathrm{loss}}{\partial w_{1}}" in latex


def test_explanation_html_has_one_collapsible_details_per_link(network: dict[str, Tensor]) -> None:
    explanation = chainrule.explain(network["loss"], network["w1"])
    html = explanation._repr_html_()
    assert html.count("<details>") == len(explanation.links)
    assert html.count("</details>") == len(explanation.links)
    assert "<summary><code>du2/du1 = [u1 &gt; 0]</code></summary>" in html
    assert "all local gradients agree" in html


def test_explanation_html_escapes_user_names(rng: np.random.Generator) -> None:
    loss, weight = _hostile_graph(rng)
    html = chainrule.explain(loss, weight)._repr_html_()
    assert "&lt;w&amp;b&gt;" in html
    assert "<w&b>" not in html


def test_drawing_html_escapes_user_names_when_dot_is_missing(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    loss, _ = _hostile_graph(rng)
    monkeypatch.setattr(drawing_module.shutil, "which", lambda name: None)
    html = chainrule.draw(loss)._repr_html_()
    assert html is not None
    assert "&lt;w&amp;b&gt;" in html
    assert "<w&b>" not in html


@needs_dot
def test_drawing_displays_as_svg(network: dict[str, Tensor]) -> None:
    drawing = chainrule.draw(network["loss"], network["w1"])
    svg = drawing._repr_svg_()
    assert svg is not None
    assert "<svg" in svg
    assert "u2 = relu(u1)" in svg


@needs_dot
def test_drawing_shows_no_html_when_the_svg_renders(network: dict[str, Tensor]) -> None:
    assert chainrule.draw(network["loss"])._repr_html_() is None


def test_drawing_without_graphviz_displays_how_to_install_it(
    network: dict[str, Tensor], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(drawing_module.shutil, "which", lambda name: None)
    drawing = chainrule.draw(network["loss"])
    assert drawing._repr_svg_() is None
    html = drawing._repr_html_()
    assert html is not None
    assert "apt-get install graphviz" in html
    assert "conda install graphviz" in html
    assert "<details><summary>DOT source</summary>" in html
    assert "digraph chainrule" in html


def test_drawing_is_still_its_dot_text(network: dict[str, Tensor]) -> None:
    drawing = chainrule.draw(network["loss"])
    assert isinstance(drawing, str)
    assert str(drawing).startswith("digraph chainrule {")


def test_latex_escapes_the_specials_in_user_names(rng: np.random.Generator) -> None:
    loss, weight = _hostile_graph(rng)
    weight.name = "w&b_%"
    latex = chainrule.explain(loss, weight).to_latex()
    assert r"\mathrm{w\&b\_\%}" in latex
    assert "w&b" not in latex


def test_markdown_table_cells_escape_a_bar(rng: np.random.Generator) -> None:
    weight = Tensor(rng.standard_normal(3), requires_grad=True, name="w|v")
    loss = chainrule.abs(weight).sum()
    markdown = chainrule.explain(loss, weight).to_markdown()
    step_rows = [line for line in markdown.splitlines() if line.startswith("| `u1`")]
    assert len(step_rows) == 1
    assert step_rows[0].count(" | ") == 2
    assert r"w\|v" in step_rows[0]


def test_drawing_to_a_file_without_graphviz_names_every_installer(
    network: dict[str, Tensor], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(drawing_module.shutil, "which", lambda name: None)
    message = chainrule.draw(network["loss"], path=tmp_path / "net.svg").message
    assert "apt-get install graphviz" in message
    assert "conda install graphviz" in message


def _code_spans(markdown: str) -> list[str]:
    """The code spans of `markdown` as CommonMark reads them: a run of n backticks opens a
    span that the next run of exactly n closes; one leading and trailing space is dropped
    where both are there."""
    spans = []
    for match in re.finditer(r"(?<!`)(`+)(?!`)(.*?)(?<!`)\1(?!`)", markdown):
        body = match.group(2)
        if body.startswith(" ") and body.endswith(" ") and body.strip():
            body = body[1:-1]
        spans.append(body)
    return spans


def test_markdown_code_spans_keep_a_backtick_in_a_name() -> None:
    weight = Tensor(np.ones(3), requires_grad=True, name="w`s")
    other = Tensor(np.ones(3), requires_grad=True, name="`v")
    loss = (weight * other).sum()
    spans = _code_spans(chainrule.explain(loss, weight).to_markdown())
    assert spans[:2] == ["dloss/dw`s", "u1"]
    assert "w`s * `v" in spans
    assert "d(w`s * `v)/dw`s = `v" in spans
    assert spans[-1] == "dloss/dw`s = dloss/du1 · du1/dw`s"


def test_latex_keeps_the_space_in_a_name_and_escapes_a_parenthesised_one() -> None:
    weight = Tensor(np.ones(3), requires_grad=True, name="my w")
    other = Tensor(np.ones(3), requires_grad=True, name="(a&b)")
    latex = chainrule.explain((weight * other).sum(), weight).to_latex()
    assert r"\mathrm{my\ w}" in latex
    assert r"(a\&b)" in latex
    assert "a&b" not in latex


def test_latex_reads_an_underscore_before_digits_as_the_subscript() -> None:
    first = Tensor(np.ones(3), requires_grad=True, name="w_1")
    second = Tensor(np.ones(3), requires_grad=True, name="hidden_w_2")
    latex = chainrule.explain((first * second).sum(), first).to_latex()
    assert r"u_{1} &= w_{1} \odot \mathrm{hidden\_w}_{2}" in latex
    assert r"\_}_{" not in latex
