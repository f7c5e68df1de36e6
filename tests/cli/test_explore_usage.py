"""Usage errors of explore, explain and graph: an option that only a RUN reads, given without
one, and a --port outside 0-65535 or already taken, each refused in one line that says what to
give instead (not ignored, not a traceback)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chainrule.cli import main


def exit_status(argv: list[str]) -> int:
    """main's status, or the status argparse exits with."""
    try:
        return main(argv)
    except SystemExit as exited:
        return int(exited.code or 0)


@pytest.mark.parametrize("command", ["explore", "explain", "graph"])
def test_data_without_a_run_is_a_usage_error_that_says_what_to_give(
    command: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Before: --data was read by nothing and the tutorial network shown on the digits.
    monkeypatch.chdir(tmp_path)
    assert exit_status([command, "--data", "fashion-mnist"]) == 2
    assert list(tmp_path.iterdir()) == []
    captured = capsys.readouterr()
    assert captured.out == ""
    first = captured.err.splitlines()[0]
    assert first.startswith(f"chainrule {command}: error: --data fashion-mnist reads a trained")
    assert f"give the run folder (chainrule {command} RUN --data fashion-mnist)" in first
