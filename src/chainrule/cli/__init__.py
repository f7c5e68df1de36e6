"""The `chainrule` command line: one subcommand per module in this package.

Each command module exposes `add_parser(subparsers)`, which registers its arguments and sets
`run` (a function of the parsed arguments returning an exit status) as the default handler.
Heavy imports (scikit-learn, matplotlib) happen inside `run`, so `chainrule --help` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from types import ModuleType

from chainrule import __version__
from chainrule.cli import evaluate, exercises, explain, graph, train, verify

COMMANDS: tuple[ModuleType, ...] = (train, evaluate, verify, explain, graph, exercises)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chainrule",
        description="Backpropagation made concrete: the chain rule by hand and by machine.",
    )
    parser.add_argument("--version", action="version", version=f"chainrule {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with `argv` (default: `sys.argv[1:]`) and return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    status: int = args.run(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
