"""`mpiexec -n 2 chainrule explain` and `chainrule verify`: rank 0 alone prints, as with
`explore` and `graph`; the other ranks end at once, so the output appears once."""

from __future__ import annotations

import pytest
from mpi_helpers import Launch

from chainrule.cli import main

COMMANDS = {
    "explain": (["explain", "--wrt", "b2"], "The chain rule for dloss/db2"),
    "verify": (["verify", "--samples", "3"], "The tutorial network on scikit-learn's"),
}
"""Each command, short options, and the opening of what it prints."""


def _run(*arguments: str) -> str:
    return f"import sys\nfrom chainrule.cli import main\nsys.exit(main({list(arguments)!r}))\n"


@pytest.mark.parametrize("command", list(COMMANDS))
def test_only_rank_0_prints_under_mpiexec(launch: Launch, command: str) -> None:
    argv, opening = COMMANDS[command]
    result = launch(2, "-c", _run(*argv))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(opening) == 1, result.stdout
    assert result.stdout.startswith(opening), result.stdout


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_rank_other_than_0_prints_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    monkeypatch.setenv("PMI_RANK", "1")
    monkeypatch.setenv("PMI_SIZE", "2")
    assert main(COMMANDS[command][0]) == 0
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize("command", list(COMMANDS))
def test_unusable_rank_variables_are_a_one_line_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    monkeypatch.setenv("PMI_RANK", "2")
    monkeypatch.setenv("PMI_SIZE", "2")
    assert main(COMMANDS[command][0]) == 2
    captured = capsys.readouterr()
    (line,) = captured.err.splitlines()
    assert line.startswith(f"chainrule {command}: chainrule.distributed: PMI_RANK=2")
    assert captured.out == ""
