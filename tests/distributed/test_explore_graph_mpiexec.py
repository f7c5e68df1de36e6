"""`mpiexec -n 2 chainrule explore` and `chainrule graph`: rank 0 alone builds, prints and
writes the page or the drawing, as `chainrule evaluate` and `chainrule train` have rank 0
alone write; the other ranks end at once."""

from __future__ import annotations

from pathlib import Path

import pytest
from mpi_helpers import Launch

from chainrule.cli import main

EXPLORE = ["explore", "--examples", "4", "--hidden", "3", "--train-steps", "2"]


def _run(*arguments: str) -> str:
    return f"import sys\nfrom chainrule.cli import main\nsys.exit(main({list(arguments)!r}))\n"


@pytest.mark.parametrize(
    ("command", "written"),
    [(EXPLORE, ["page.html"]), (["graph"], ["graph.dot"])],
)
def test_only_rank_0_writes_under_mpiexec(
    tmp_path: Path, launch: Launch, command: list[str], written: list[str]
) -> None:
    out = tmp_path / ("page.html" if command[0] == "explore" else "graph.svg")
    result = launch(2, "-c", _run(*command, "--out", str(out)))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("wrote ") == 1, result.stdout
    assert all((tmp_path / name).stat().st_size > 0 for name in written)


@pytest.mark.parametrize("command", [EXPLORE, ["graph"]])
def test_a_rank_other_than_0_writes_nothing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
) -> None:
    monkeypatch.setenv("PMI_RANK", "1")
    monkeypatch.setenv("PMI_SIZE", "2")
    assert main([*command, "--out", str(tmp_path / "out.svg")]) == 0
    assert list(tmp_path.iterdir()) == []
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("command", [EXPLORE, ["graph"]])
def test_unusable_rank_variables_are_a_one_line_error(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
) -> None:
    monkeypatch.setenv("PMI_RANK", "2")
    monkeypatch.setenv("PMI_SIZE", "2")
    assert main([*command, "--out", str(tmp_path / "out.svg")]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"chainrule {command[0]}: chainrule.distributed: PMI_RANK=2")
    assert list(tmp_path.iterdir()) == []
