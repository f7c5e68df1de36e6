"""Usage errors of explore, explain and graph: an option that only a RUN reads, given without
one, and a --port outside 0-65535 or already taken, each refused in one line that says what to
give instead (not ignored, not a traceback)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
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


@pytest.mark.parametrize("port", ["65536", "70000", "-1"])
def test_a_port_outside_0_to_65535_is_a_usage_error_naming_the_range(
    port: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: 70000 reached socket.bind and ended in an OverflowError traceback.
    assert exit_status(["explore", "--serve", "--port", port]) == 2
    first = capsys.readouterr().err.splitlines()[0]
    assert first == (
        "chainrule explore: error: argument --port: --port must be a port from 0 to 65535 "
        f"(0: a free one), got '{port}'"
    )


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port on 127.0.0.1 that another socket listens on."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


def test_a_port_in_use_is_one_line_naming_the_port_and_the_fix(
    taken_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: "chainrule explore: Address already in use", naming neither the port nor a fix.
    argv = ["explore", "--serve", "--port", str(taken_port), "--examples", "2", "--hidden", "2"]
    assert exit_status([*argv, "--train-steps", "1"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"chainrule explore: port {taken_port} on 127.0.0.1 is already in use; choose another "
        "port, or port 0 for a free one (--port 0 on the command line)\n"
    )


@pytest.mark.parametrize("run_folder", [None, "a-run"])
def test_a_taken_port_is_said_before_the_page_is_built(
    run_folder: str | None,
    taken_port: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Before: the network was trained and the page built (tens of seconds for a large
    # --train-steps or a run's checkpoint) and only then was the port found taken.
    import chainrule.exploration
    import chainrule.exploration.run

    built: list[str] = []

    def build(*args: object, **kwargs: object) -> None:
        built.append("page")
        raise AssertionError("the page was built before the port was taken")

    monkeypatch.setattr(chainrule.exploration, "tutorial_exploration", build)
    monkeypatch.setattr(chainrule.exploration.run, "run_exploration", build)
    folder = [] if run_folder is None else [run_folder]
    assert exit_status(["explore", *folder, "--serve", "--port", str(taken_port)]) == 2
    assert built == []
    assert capsys.readouterr().err.startswith(f"chainrule explore: port {taken_port} on ")


def test_a_page_that_cannot_be_built_frees_the_port_it_took(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    assert exit_status(["explore", "no-such-run", "--serve", "--port", str(port)]) == 2
    assert "no-such-run" in capsys.readouterr().err
    with socket.socket() as again:  # bound again: explore closed its listening socket
        again.bind(("127.0.0.1", port))


def test_the_python_server_names_a_bad_or_taken_port(taken_port: int) -> None:
    from chainrule.exploration.server import PortUnavailableError, make_server

    with pytest.raises(ValueError, match=r"^explore: port 70000 is not a TCP port; choose one"):
        make_server("<p>page</p>", "{}", port=70000)
    with pytest.raises(PortUnavailableError, match=f"^explore: port {taken_port} on 127.0.0.1 is"):
        make_server("<p>page</p>", "{}", port=taken_port)


UNREAD = {
    "explore RUN --hidden": (
        ["explore", "no-such-run", "--hidden", "4"],
        "--hidden shapes the tutorial network, and a RUN's network comes from its checkpoint; "
        "drop --hidden, or the RUN",
    ),
    "explore RUN --train-steps": (
        ["explore", "no-such-run", "--train-steps", "3"],
        "--train-steps shapes the tutorial network",
    ),
    "explore RUN --seed": (["explore", "no-such-run", "--seed", "1"], "--seed shapes the"),
    "explore --port": (
        ["explore", "--port", "8000", "--examples", "2", "--hidden", "2", "--train-steps", "1"],
        "--port is where --serve listens, and --serve was not given; add --serve, or drop --port",
    ),
    "explore --serve --out": (
        ["explore", "--serve", "--port", "{taken}", "--out", "page.html"],
        "--out names the page written without --serve, and --serve writes none; drop one",
    ),
    "explain --examples": (
        ["explain", "--examples", "3"],
        "--examples sizes a RUN's batch of test examples, and no RUN was given",
    ),
    "graph --examples": (["graph", "--examples", "3"], "--examples sizes a RUN's batch"),
    "explain RUN --seed": (
        ["explain", "no-such-run", "--seed", "1"],
        "--seed draws the tutorial network's weights, and a RUN's come from its checkpoint",
    ),
    "graph RUN --seed": (["graph", "no-such-run", "--seed", "1"], "--seed draws the tutorial"),
}


@pytest.mark.parametrize("case", list(UNREAD))
def test_an_option_this_call_would_not_read_is_a_usage_error(
    case: str,
    taken_port: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Before: each was read by nothing (a RUN's model ignored --hidden, the tutorial network
    # --examples, a written page --port), and the command went on as if it were not given.
    argv, message = UNREAD[case]
    monkeypatch.chdir(tmp_path)
    command = argv[0]
    assert exit_status([arg.format(taken=taken_port) for arg in argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"chainrule {command}: error: {message}")
    assert list(tmp_path.iterdir()) == []


def test_more_examples_than_the_digits_hold_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: a ValueError traceback from numpy's reshape (size 1797 into shape (2000, 1)).
    out = tmp_path / "page.html"
    argv = ["explore", "--examples", "2000", "--hidden", "2", "--train-steps", "1"]
    assert exit_status([*argv, "--out", str(out)]) == 2
    assert capsys.readouterr().err == (
        "chainrule explore: 2000 examples asked for, and the bundled digits hold 1797; choose "
        "from 1 to 1797 (--examples on the command line)\n"
    )
    assert not out.exists()
