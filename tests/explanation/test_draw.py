"""chainrule.draw: DOT text that parses, nodes and edges as the graph, highlighted paths,
files written, and the image rendered by Graphviz's dot when it is installed."""

from __future__ import annotations

import shutil
import subprocess
import warnings
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pydot
import pytest

import chainrule
from chainrule.explanation import drawing as drawing_module
from chainrule.explanation import tutorial_network
from chainrule.tensor import Tensor

with warnings.catch_warnings():
    # pydot's parser is built with pyparsing's old camelCase names, which warn on import.
    warnings.simplefilter("ignore", DeprecationWarning)
    import pydot.dot_parser

HIGHLIGHT = "#d62728"


@pytest.fixture
def network(rng: np.random.Generator) -> dict[str, Tensor]:
    return tutorial_network(4, 3, 5, 1, rng=rng)


def _graph(text: str) -> pydot.Dot:
    graphs = pydot.graph_from_dot_data(text)
    assert graphs is not None
    assert len(graphs) == 1
    return graphs[0]


def _nodes(graph: pydot.Dot) -> dict[str, pydot.Node]:
    return {
        node.get_name().strip('"'): node
        for node in graph.get_nodes()
        if node.get_name() not in ("node", "edge", "graph")
    }


def _edges(graph: pydot.Dot) -> dict[tuple[str, str], pydot.Edge]:
    return {
        (edge.get_source().strip('"'), edge.get_destination().strip('"')): edge
        for edge in graph.get_edges()
    }


def test_dot_has_one_node_per_leaf_and_step(network: dict[str, Tensor]) -> None:
    nodes = _nodes(_graph(chainrule.draw(network["loss"])))
    assert set(nodes) == {"x", "y", "w1", "b1", "w2", "b2", "u1", "u2", "u3", "u4", "u5", "loss"}
    assert "u2 = relu(u1)" in nodes["u2"].get_label()
    assert "(4, 5)" in nodes["u2"].get_label()


def test_dot_edges_follow_the_data(network: dict[str, Tensor]) -> None:
    edges = set(_edges(_graph(chainrule.draw(network["loss"]))))
    assert edges == {
        ("x", "u1"),
        ("w1", "u1"),
        ("b1", "u1"),
        ("u1", "u2"),
        ("u2", "u3"),
        ("w2", "u3"),
        ("b2", "u3"),
        ("y", "u4"),
        ("u3", "u4"),
        ("u4", "u5"),
        ("u5", "loss"),
    }


def test_parameters_and_data_are_styled_apart(network: dict[str, Tensor]) -> None:
    nodes = _nodes(_graph(chainrule.draw(network["loss"])))
    assert nodes["w1"].get("class").strip('"') == "parameter"
    assert nodes["x"].get("class").strip('"') == "data"
    assert nodes["u1"].get("class").strip('"') == "op"
    assert nodes["w1"].get("fillcolor") != nodes["x"].get("fillcolor")


def test_the_path_to_wrt_is_highlighted(network: dict[str, Tensor]) -> None:
    graph = _graph(chainrule.draw(network["loss"], wrt=network["w2"]))
    edges = _edges(graph)
    highlighted = {key for key, edge in edges.items() if HIGHLIGHT in str(edge.get("color"))}
    assert highlighted == {("w2", "u3"), ("u3", "u4"), ("u4", "u5"), ("u5", "loss")}
    nodes = _nodes(graph)
    assert HIGHLIGHT in str(nodes["w2"].get("color"))
    assert nodes["u1"].get("color") is None


def test_gradient_norms_appear_after_backward(network: dict[str, Tensor]) -> None:
    assert "|grad|" not in chainrule.draw(network["loss"])
    network["loss"].backward()
    nodes = _nodes(_graph(chainrule.draw(network["loss"])))
    norm = float(np.linalg.norm(network["w1"].grad.data))
    assert f"|grad| = {norm:.3g}" in nodes["w1"].get_label()
    assert "|dloss/du2| = " in nodes["u2"].get_label()


def test_path_writes_the_dot_file(network: dict[str, Tensor], tmp_path: Path) -> None:
    drawing = chainrule.draw(network["loss"], path=tmp_path / "net.svg")
    assert drawing.dot_path == tmp_path / "net.dot"
    assert (tmp_path / "net.dot").read_text() == str(drawing)


def test_path_in_a_missing_folder_creates_the_folder(
    network: dict[str, Tensor], tmp_path: Path
) -> None:
    drawing = chainrule.draw(network["loss"], path=tmp_path / "new" / "deeper" / "net.svg")
    assert drawing.dot_path == tmp_path / "new" / "deeper" / "net.dot"
    assert drawing.dot_path.read_text() == str(drawing)


def test_png_is_rendered_when_dot_is_installed(network: dict[str, Tensor], tmp_path: Path) -> None:
    drawing = chainrule.draw(network["loss"], path=tmp_path / "net.png")
    assert (tmp_path / "net.dot").is_file()
    if shutil.which("dot") is not None:
        assert drawing.image_path == tmp_path / "net.png"
        assert (tmp_path / "net.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert drawing.image_path is None
        assert "apt-get install graphviz" in drawing.message


def test_without_dot_it_says_how_to_install_it(
    network: dict[str, Tensor], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(drawing_module.shutil, "which", lambda name: None)
    drawing = chainrule.draw(network["loss"], path=tmp_path / "net.png")
    assert drawing.image_path is None
    assert "apt-get install graphviz" in drawing.message
    assert not (tmp_path / "net.png").exists()
    assert (tmp_path / "net.dot").is_file()


def test_a_dot_write_that_fails_leaves_the_former_dot_file_whole(
    network: dict[str, Tensor], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # write_text truncated net.dot first, then failed on the text (a lone surrogate, as a
    # name decoded with surrogateescape gives): the former drawing was lost.
    former = chainrule.draw(network["loss"], path=tmp_path / "net.dot")
    monkeypatch.setattr(drawing_module, "to_dot", lambda view, wrt: "digraph {\udc80}\n")
    with pytest.raises(UnicodeEncodeError):
        chainrule.draw(network["loss"], path=tmp_path / "net.dot")
    assert (tmp_path / "net.dot").read_text() == str(former)
    assert not [path.name for path in tmp_path.iterdir() if path.name.endswith(".tmp")]


def test_a_failed_render_leaves_the_former_image_whole(
    network: dict[str, Tensor], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "net.svg").write_text("<svg>former</svg>")

    def failing_dot(command: list[str], **options: object) -> subprocess.CompletedProcess[str]:
        Path(command[command.index("-o") + 1]).write_text("<svg>partial")
        return subprocess.CompletedProcess(command, 1, "", "out of memory")

    monkeypatch.setattr(drawing_module.shutil, "which", lambda name: "/usr/bin/dot")
    monkeypatch.setattr(drawing_module.subprocess, "run", failing_dot)
    drawing = chainrule.draw(network["loss"], path=tmp_path / "net.svg")
    assert drawing.image_path is None
    assert "dot failed to render" in drawing.message
    assert (tmp_path / "net.svg").read_text() == "<svg>former</svg>"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["net.dot", "net.svg"]


def test_format_and_suffix_must_agree(network: dict[str, Tensor], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"ends in \.png but format is 'svg'"):
        chainrule.draw(network["loss"], path=tmp_path / "net.png", format="svg")


def test_ungrouped_drawing_has_one_node_per_recorded_op(network: dict[str, Tensor]) -> None:
    nodes = _nodes(_graph(chainrule.draw(network["loss"], group_affine=False)))
    ops = [name for name, node in nodes.items() if node.get("class").strip('"') == "op"]
    assert len(ops) == 8


def test_an_image_suffix_other_than_svg_or_png_is_refused(
    network: dict[str, Tensor], tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match=r"net\.pdf.*\.svg or \.png"):
        chainrule.draw(network["loss"], path=tmp_path / "net.pdf")
    assert not (tmp_path / "net.dot").exists()


def test_a_quote_in_a_leaf_name_keeps_the_dot_text_valid(rng: np.random.Generator) -> None:
    weight = chainrule.tensor(rng.normal(size=3), requires_grad=True, name='w "a"')
    (leaf,) = _graph(chainrule.draw((weight * 2.0).sum())).get_node('"w \\"a\\""')
    assert leaf.get("label") == '"w \\"a\\"\\n(3,)"'


def _leaf_label(drawing: str, name: str) -> str:
    return str(_nodes(_graph(drawing))[name].get_label()).strip('"')


def test_a_grad_from_an_earlier_backward_is_not_shown_as_this_graphs() -> None:
    w = chainrule.tensor(np.array([1.0, 2.0]), requires_grad=True, name="w")
    (w * 100).sum().backward()  # w.grad = [100, 100], |grad| = 141
    loss = (w * w).sum()  # dloss/dw = 2w = [2, 4], of norm 4.47
    label = _leaf_label(chainrule.draw(loss), "w")
    assert "|dloss/dw| = 4.47" in label
    assert "|grad| = 141 (from an earlier backward" in label
    assert not label.split("\\n")[2].startswith("|grad|")


def test_a_grad_accumulated_over_two_backwards_is_not_shown_as_this_graphs() -> None:
    w = chainrule.tensor(np.array([1.0, 2.0]), requires_grad=True, name="w")
    (w * 100).sum().backward()
    loss = (w * 3).sum()
    loss.backward()  # w.grad = [103, 103]; this graph's gradient is [3, 3]
    label = _leaf_label(chainrule.draw(loss), "w")
    assert "|dloss/dw| = 4.24" in label
    assert ".grad differs: |grad| = 146" in label


def test_this_graphs_own_grad_is_shown_as_grad() -> None:
    w = chainrule.tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True, name="w")
    loss = (w * w).sum()
    loss.backward()
    label = _leaf_label(chainrule.draw(loss), "w")
    assert label.split("\\n")[2] == "|grad| = 4.47"
    assert "differs" not in label


def test_this_graphs_own_nan_grad_is_not_called_an_earlier_one() -> None:
    w = chainrule.tensor(np.array([1.0, np.nan]), requires_grad=True, name="w")
    loss = (w * w).sum()
    loss.backward()  # w.grad = [2, nan], this graph's own
    label = _leaf_label(chainrule.draw(loss), "w")
    assert label.split("\\n")[2].startswith("|grad| = ")
    assert "differs" not in label


def _rendered_lines(drawing: chainrule.explanation.Drawing) -> list[list[str]]:
    """The text lines of each node as Graphviz renders them (SVG <text> per line), runs of
    spaces read as one."""
    svg = drawing.to_svg()
    assert svg is not None, "Graphviz's dot is installed in CI"
    root = ElementTree.fromstring(svg)
    namespace = "{http://www.w3.org/2000/svg}"
    return [
        [" ".join((text.text or "").split()) for text in group.iter(f"{namespace}text")]
        for group in root.iter(f"{namespace}g")
        if "node" in group.get("class", "").split()
    ]


def test_a_backslash_in_a_name_is_drawn_as_a_backslash() -> None:
    weight = chainrule.tensor(np.ones(3), requires_grad=True, name="w\\")
    lines = _rendered_lines(chainrule.draw((weight * 2.0).sum()))
    assert ["w\\", "(3,)"] in lines
    assert ["u1 = w\\ * 2", "mul (3,)"] in lines


def test_a_number_in_the_graph_never_shares_a_node_with_a_tensor_named_const() -> None:
    weight = chainrule.tensor(np.ones(3), requires_grad=True, name="w")
    const2 = chainrule.tensor(np.ones(3), name="const2")
    const1 = chainrule.tensor(np.ones(3), name="const1")
    graph = _graph(chainrule.draw(((weight * 2.0) * const2 * const1).sum()))
    nodes = _nodes(graph)
    labels = sorted(
        str(node.get_label()).strip('"').split("\\n")[0].split(" = ")[0] for node in nodes.values()
    )
    assert labels == ["2", "const1", "const2", "loss", "u1", "u2", "u3", "w"]
    assert len(graph.get_nodes()) == len(nodes) + 2  # the node and edge defaults
    (literal,) = [key for key, node in nodes.items() if node.get_label().startswith('"2\\n')]
    assert literal not in ("const1", "const2")
    assert set(_edges(graph)) == {
        ("w", "u1"),
        (literal, "u1"),
        ("u1", "u2"),
        ("const2", "u2"),
        ("u2", "u3"),
        ("const1", "u3"),
        ("u3", "loss"),
    }


def test_a_parameter_named_like_a_number_is_a_parameter_not_a_literal() -> None:
    weight = chainrule.tensor(np.ones(3), requires_grad=True, name="1e3")
    loss = (weight * 2.0).sum()
    assert chainrule.explain(loss, weight).leaves == (
        chainrule.explanation.Leaf("1e3", (3,), "parameter"),
    )
    nodes = _nodes(_graph(chainrule.draw(loss)))
    assert nodes["1e3"].get("class").strip('"') == "parameter"
