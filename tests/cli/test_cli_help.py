"""What `chainrule <command> --help` shows matches the README: each command has a description
(its module's docstring), and every option the README writes after `chainrule <command>` is
one of that command's options."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule.cli import build_parser

README = Path(__file__).resolve().parents[2] / "README.md"


def _commands() -> dict[str, argparse.ArgumentParser]:
    """Each command's parser by its name as typed, `exercises init` and `check` included."""
    found: dict[str, argparse.ArgumentParser] = {}

    def walk(parser: argparse.ArgumentParser, prefix: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    found[f"{prefix}{name}"] = child
                    walk(child, f"{prefix}{name} ")

    walk(build_parser(), "")
    return found


COMMANDS = _commands()


def _readme_uses() -> list[tuple[str, str]]:
    """(command, option) for every --option the README writes after `chainrule <command>` on
    one line, up to the end of its code span or a comment."""
    names = "|".join(sorted(map(re.escape, COMMANDS), key=len, reverse=True))
    uses = []
    for match in re.finditer(rf"chainrule ({names})\b([^`#\n]*)", README.read_text()):
        command = match.group(1)
        uses += [(command, option) for option in re.findall(r"--[a-z][a-z0-9-]*", match.group(2))]
    return sorted(set(uses))


def test_every_command_is_listed() -> None:
    assert {"train", "evaluate", "verify", "explain", "explore", "graph"} <= set(COMMANDS)
    assert {"exercises init", "exercises check"} <= set(COMMANDS)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_describes_itself_in_its_help(command: str) -> None:
    parser = COMMANDS[command]
    assert parser.description, f"chainrule {command} --help shows no description"


def test_the_readme_shows_options_of_most_commands() -> None:
    assert {command for command, _ in _readme_uses()} >= {"train", "explain", "graph", "explore"}


@pytest.mark.parametrize(("command", "option"), _readme_uses())
def test_each_option_the_readme_shows_is_in_the_commands_help(command: str, option: str) -> None:
    options = {string for action in COMMANDS[command]._actions for string in action.option_strings}
    assert option in options, f"README shows `chainrule {command} {option}`"


def test_train_compile_help_says_how_many_eager_traces_a_batch_shape_costs() -> None:
    """`--compile`'s help: each batch shape is traced twice (the second checks the first),
    as `chainrule.compile` does; then replays."""
    (action,) = [a for a in COMMANDS["train"]._actions if "--compile" in a.option_strings]
    assert "twice" in (action.help or "")
    weight = cr.tensor(np.ones(3), requires_grad=True)
    step = cr.compile(lambda x: (weight * x).sum())
    for _ in range(4):
        step(np.arange(3.0))
    assert step.traces == 2
