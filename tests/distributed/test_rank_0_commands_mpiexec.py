"""`mpiexec -n 2 chainrule explain`, `verify` and `exercises`: rank 0 alone prints (and
writes), as with `explore` and `graph`; the other ranks end at once, so the output appears
once and a starter file is written once."""

from __future__ import annotations

from pathlib import Path

import pytest
from mpi_helpers import Launch

from chainrule.cli import main

COMMANDS = {
    "explain": (["explain", "--wrt", "b2"], "The chain rule for dloss/db2"),
    "verify": (["verify", "--samples", "3"], "The tutorial network on scikit-learn's"),
    "exercises init": (["exercises", "init", "{tmp}"], "wrote {tmp}"),
    "exercises check": (["exercises", "check", "--solution", "b2"], "dloss/db2 (u3 = u2 @ w2"),
}
"""Each command with short options ({tmp}: a fresh folder), and the opening of its output."""


def _argv(command: str, tmp_path: Path) -> list[str]:
    return [arg.replace("{tmp}", str(tmp_path)) for arg in COMMANDS[command][0]]


def _run(*arguments: str) -> str:
    return f"import sys\nfrom chainrule.cli import main\nsys.exit(main({list(arguments)!r}))\n"


@pytest.mark.parametrize("command", list(COMMANDS))
def test_only_rank_0_prints_under_mpiexec(launch: Launch, tmp_path: Path, command: str) -> None:
    opening = COMMANDS[command][1].replace("{tmp}", str(tmp_path))
    result = launch(2, "-c", _run(*_argv(command, tmp_path)))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(opening) == 1, result.stdout
    assert result.stdout.startswith(opening), result.stdout


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_rank_other_than_0_prints_and_writes_nothing(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    command: str,
) -> None:
    monkeypatch.setenv("PMI_RANK", "1")
    monkeypatch.setenv("PMI_SIZE", "2")
    assert main(_argv(command, tmp_path)) == 0
    assert capsys.readouterr() == ("", "")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", list(COMMANDS))
def test_unusable_rank_variables_are_a_one_line_error(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    command: str,
) -> None:
    monkeypatch.setenv("PMI_RANK", "2")
    monkeypatch.setenv("PMI_SIZE", "2")
    assert main(_argv(command, tmp_path)) == 2
    captured = capsys.readouterr()
    (line,) = captured.err.splitlines()
    assert line.startswith(f"chainrule {command}: chainrule.distributed: PMI_RANK=2")
    assert captured.out == ""
