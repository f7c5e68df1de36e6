"""The `chainrule explain` and `chainrule graph` commands."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from chainrule.cli import main


def test_explain_prints_the_derivation_for_w1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain"]) == 0
    out = capsys.readouterr().out
    assert "u1   = x @ w1 + b1" in out
    assert "dloss/dw1 = dloss/du5 · du5/du4 · du4/du3 · du3/du2 · du2/du1 · du1/dw1" in out


def test_explain_renders_latex_for_b2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "--wrt", "b2", "--format", "latex"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(r"\begin{aligned}")
    assert r"\partial b_{2}" in out


def test_graph_writes_the_dot_file_and_says_what_it_did(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["graph", "--out", str(tmp_path / "net.svg")]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "net.dot").is_file()
    if shutil.which("dot") is not None:
        assert (tmp_path / "net.svg").read_text().lstrip().startswith("<?xml")
    else:
        assert "apt-get install graphviz" in out


def test_graph_out_in_a_missing_folder_creates_it(tmp_path: Path) -> None:
    out = tmp_path / "figures" / "net.png"
    assert main(["graph", "--out", str(out)]) == 0
    assert (tmp_path / "figures" / "net.dot").is_file()
    if shutil.which("dot") is not None:
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_explain_of_a_run_parameter_the_loss_does_not_reach_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import numpy as np

    import chainrule as cr
    from chainrule.exploration import run as exploration_run

    def run_loss(folder: str, *, examples: int) -> tuple[cr.nn.Module, cr.Tensor]:
        model = cr.nn.Sequential(cr.nn.Linear(3, 2))
        model.unused = cr.nn.Parameter(np.ones(4))  # a parameter no forward reads
        x = cr.tensor(np.ones((examples, 3)))
        return model, model(x).sum()

    monkeypatch.setattr(exploration_run, "run_loss", run_loss)
    assert main(["explain", "some-run", "--wrt", "unused"]) == 2
    captured = capsys.readouterr()
    assert "dloss/d" not in captured.out
    assert "'unused' is not in the graph of the output" in captured.err
