"""The `chainrule` command line: one subcommand per module in this package.

Each command module exposes `add_parser(subparsers)`, which registers its arguments and sets
`run` (a function of the parsed arguments returning an exit status) as the default handler.
Heavy imports (scikit-learn, matplotlib) happen inside `run`, so `chainrule --help` stays fast.
Ctrl-C anywhere exits with status 130 and one line; a closed stdout (`chainrule train | head
-1`) ends the command quietly with status 141 (128 + SIGPIPE), as shell tools report it.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any, NoReturn

from chainrule import __version__
from chainrule.cli import evaluate, exercises, explain, explore, graph, train, verify

COMMANDS: tuple[ModuleType, ...] = (train, evaluate, verify, explain, explore, graph, exercises)

INTERRUPTED = 130
"""The exit status after Ctrl-C (128 + SIGINT), as shells report it."""
BROKEN_PIPE = 141
"""The exit status when stdout's reader went away (128 + SIGPIPE), as shells report it."""

NEGATIVE_NUMBER = re.compile(
    r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^-(inf|infinity|nan)$", re.IGNORECASE
)
"""Arguments argparse should take as values, not options: -1, -1.5, -.5, -1e-6, -inf. Its own
pattern misses exponents, so `--eps -1e-6` was read as an unknown option."""


COMMAND_FOR = {
    "draw": "graph",
    "eval": "evaluate",
    "gradcheck": "verify",
    "check": "exercises check",
}
"""Commands a newcomer types from the Python API's names or habit, and the one that does it."""


class CommandParser(argparse.ArgumentParser):
    """argparse with one-line errors (`chainrule train: error: ...` and a hint to --help,
    not the whole usage) that reads negative numbers, exponents included, as values."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = NEGATIVE_NUMBER

    def error(self, message: str) -> NoReturn:
        mistyped = re.search(r"argument COMMAND: invalid choice: '([^']*)'", message)
        if mistyped is not None and mistyped.group(1) in COMMAND_FOR:
            message += f"; for that, run 'chainrule {COMMAND_FOR[mistyped.group(1)]}'"
        self.exit(2, f"{self.prog}: error: {message}\nrun '{self.prog} --help' for the options\n")


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="chainrule",
        description="Backpropagation made concrete: the chain rule by hand and by machine.",
    )
    parser.add_argument("--version", action="version", version=f"chainrule {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(subparsers)
    for command_parser in subparsers.choices.values():
        command_parser.set_defaults(command_parser=command_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with `argv` (default: `sys.argv[1:]`) and return the exit status."""
    try:
        parser = build_parser()
        args, unknown = parser.parse_known_args(argv)
        if unknown:
            # Reported by the subcommand, whose options they were meant to be.
            reporter = getattr(args, "command_parser", parser)
            reporter.error(f"unrecognized arguments: {' '.join(unknown)}")
        if args.command is None:
            parser.print_help()
            return 2
        status: int = args.run(args)
        sys.stdout.flush()
    except KeyboardInterrupt:
        print("\nchainrule: interrupted", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:
        _discard_stdout()
        return BROKEN_PIPE
    return status


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush of the unwritten rest
    does not fail again (and print a traceback) on exit."""
    try:
        stdout_fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, stdout_fd)
    os.close(devnull)


if __name__ == "__main__":
    sys.exit(main())
