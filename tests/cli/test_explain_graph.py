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

    def run_loss(
        folder: str, *, examples: int, data: str | None = None
    ) -> tuple[cr.nn.Module, cr.Tensor]:
        model = cr.nn.Sequential(cr.nn.Linear(3, 2))
        model.unused = cr.nn.Parameter(np.ones(4))  # a parameter no forward reads
        x = cr.tensor(np.ones((examples, 3)))
        return model, model(x).sum()

    monkeypatch.setattr(exploration_run, "run_loss", run_loss)
    assert main(["explain", "some-run", "--wrt", "unused"]) == 2
    captured = capsys.readouterr()
    assert "dloss/d" not in captured.out
    assert "'unused' is not in the graph of the output" in captured.err


@pytest.fixture(scope="module")
def moved_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run whose data folder has gone since it was trained (its config names the folder)."""
    import json

    folder = tmp_path_factory.mktemp("moved") / "run"
    small = ["--model", "mlp", "--hidden", "8", "--batch-size", "64", "--no-progress"]
    assert main(["train", *small, "--epochs", "1", "--out", str(folder)]) == 0
    meta_path = folder / "checkpoint.json"
    stored = json.loads(meta_path.read_text())
    stored["meta"]["config"]["data"] = str(folder.parent / "idx-files-moved-away")
    meta_path.write_text(json.dumps(stored))
    return folder


@pytest.mark.parametrize(
    "command",
    [["explain"], ["graph", "--out", "{tmp}/g.svg"], ["explore", "--out", "{tmp}/e.html"]],
)
def test_a_run_whose_data_folder_is_gone_is_refused_with_a_hint_at_data(
    moved_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    # Before: "train: --data '...' is neither digits, ... nor a folder" from explore,
    # explain and graph, which had no --data option to fix it with.
    capsys.readouterr()
    name, *options = command
    options = [option.format(tmp=tmp_path) for option in options]
    assert main([name, str(moved_run), *options]) == 2
    error = capsys.readouterr().err
    assert "idx-files-moved-away, which is gone; pass --data with where the run's data" in error
    assert "train:" not in error


def test_data_reads_the_run_with_the_data_given(
    moved_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["explain", str(moved_run), "--data", "digits"]) == 0
    assert "dloss/d" in capsys.readouterr().out


def test_data_that_cannot_be_loaded_is_named_without_the_hint(
    moved_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["graph", str(moved_run), "--data", str(tmp_path), "--out", "-"]) == 2
    error = capsys.readouterr().err
    assert f"the data ({tmp_path}) cannot be loaded: load_mnist: could not find" in error
    assert "pass --data with" not in error
