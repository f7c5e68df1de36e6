"""What every subcommand shares: option types that name the accepted range, one-line errors
for file-system failures, and the check that the `cli` extra is installed."""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chainrule.nn import Module
    from chainrule.tensor import Tensor

INSTALL_EXTRAS = 'pip install "chainrule[cli]"'

# The import name of each optional package and what the command line uses it for.
EXTRAS: dict[str, str] = {
    "matplotlib": "the plots",
    "sklearn": "the bundled 8x8 digits (scikit-learn)",
    "tqdm": "the progress bar",
}


def missing_extras(modules: Iterable[str]) -> str | None:
    """None when every module in `modules` can be imported; otherwise a one-line message
    naming the missing ones and the install command. Looks modules up without importing
    them, so a command fails before its work, not after it."""
    missing = [module for module in modules if importlib.util.find_spec(module) is None]
    if not missing:
        return None
    needs = ", ".join(f"{module} (for {EXTRAS.get(module, 'this command')})" for module in missing)
    return f"needs {needs}, which is not installed; install it with: {INSTALL_EXTRAS}"


LIBRARY_PREFIXES = ("train: ", "explore: ", "explain: ", "draw: ")
"""The openings of messages raised by the library functions the commands call (the function
that raised them); the command's own prefix stands in their place."""


def report_error(command: str, message: object) -> None:
    """Print ``chainrule COMMAND: message`` on stderr, with one prefix: a library message's
    own opening (``explore: ``, ``draw: ``, ``train: ``) is dropped, so that no line reads
    ``chainrule explore: explore: ...``."""
    import sys

    text = str(message)
    for prefix in LIBRARY_PREFIXES:
        text = text.removeprefix(prefix)
    print(f"chainrule {command}: {text}", file=sys.stderr)


def not_lead_rank(command: str) -> int | None:
    """Under mpiexec, the exit status of a rank other than 0 of a command that writes
    files, serves or prints, and is not split across ranks (as `chainrule evaluate`): 0,
    ending at once, so that one process writes each file and prints each line; 2 with the
    launcher's error on stderr when its rank variables are unusable; None on rank 0 or
    without a launcher."""
    import sys

    from chainrule.distributed.launcher import launched_world

    try:
        rank, _ = launched_world()
    except ValueError as error:
        print(f"chainrule {command}: {error}", file=sys.stderr)
        return 2
    return None if rank == 0 else 0


def describe_os_error(error: OSError) -> str:
    """'PATH: reason' for a failed file operation (the OS's words), or the message when the
    error names no path."""
    if error.strerror is None:
        return str(error)
    if error.filename is None:
        return error.strerror
    target = f" -> {error.filename2}" if error.filename2 is not None else ""
    return f"{error.filename}{target}: {error.strerror}"


def probe_writable(folder: Path, files: Iterable[str]) -> None:
    """Create `folder` (and its parents) and write and delete a scratch file in it, and check
    that none of `files` in it is a folder: raises the OSError a real write would meet, so a
    run fails before its first epoch instead of after its last."""
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-probe-"):
        pass
    for name in files:
        path = folder / name
        if path.is_dir():
            raise IsADirectoryError(21, os.strerror(21), str(path))


def nonnegative_int(option: str) -> Callable[[str], int]:
    """An argparse type: an integer >= 0, else an error naming `option`, the value and the
    range."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = -1
        if value < 0:
            raise argparse.ArgumentTypeError(f"{option} must be an integer >= 0, got {text!r}")
        return value

    return parse


def positive_int(option: str) -> Callable[[str], int]:
    """An argparse type: an integer >= 1, else an error naming `option`, the value and the
    range."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 1:
            raise argparse.ArgumentTypeError(f"{option} must be an integer >= 1, got {text!r}")
        return value

    return parse


def port_number(option: str) -> Callable[[str], int]:
    """An argparse type: a TCP port, an integer from 0 to 65535, else an error naming
    `option`, the value and the range."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = -1
        if not 0 <= value <= 65535:
            raise argparse.ArgumentTypeError(
                f"{option} must be a port from 0 to 65535 (0: a free one), got {text!r}"
            )
        return value

    return parse


def float_in(option: str, low: float, high: float) -> Callable[[str], float]:
    """An argparse type: a finite float in [low, high], else an error naming `option`, the
    value and the range."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and low <= value <= high):
            raise argparse.ArgumentTypeError(
                f"{option} must be a finite number from {low:g} to {high:g}, got {text!r}"
            )
        return value

    return parse


DATA_HINT = (
    "pass --data with where the run's data are now (a folder of MNIST-format IDX files) or a "
    "named set (digits, fashion-mnist, mnist)"
)
"""What explore, explain and graph add to an error about a run's data: the option that fixes
it."""


def add_data_option(parser: Any) -> None:
    """The `--data NAME|DIR` option of the commands that read a run's test split."""
    parser.add_argument(
        "--data",
        metavar="NAME|DIR",
        help="for a RUN: read this data set's test split instead of the run's (as when its "
        "folder moved)",
    )


def refuse_data_without_run(args: argparse.Namespace, command: str) -> None:
    """A usage error (exit 2) for `--data` given without a RUN: it names the data a run is
    read with, and the tutorial network reads the bundled digits, so it would be ignored."""
    if args.data is None or args.run_folder is not None:
        return
    reporter: argparse.ArgumentParser = args.command_parser
    reporter.error(
        f"--data {args.data} reads a trained run's test split, and no RUN was given; give the "
        f"run folder (chainrule {command} RUN --data {args.data}), or drop --data for the "
        "tutorial network on the bundled digits"
    )


# The options `explain` and `graph` read only with a RUN, or only without one: (option, why
# this call would not read it), for `refuse_unread`.
RUN_ONLY = (
    "--examples",
    "sizes a RUN's batch of test examples, and no RUN was given (the tutorial network has its "
    "own batch); give the run folder, or drop --examples",
)
TUTORIAL_ONLY = (
    "--seed",
    "draws the tutorial network's weights, and a RUN's come from its checkpoint; drop --seed, "
    "or the RUN",
)


def refuse_unread(args: argparse.Namespace, unread: Iterable[tuple[str, str]]) -> None:
    """A usage error (exit 2) for the first option of `unread`, (option, why this call does
    not read it), that was given: an option left at its default is None."""
    reporter: argparse.ArgumentParser = args.command_parser
    for option, why in unread:
        if getattr(args, option.removeprefix("--").replace("-", "_")) is not None:
            reporter.error(f"{option} {why}")


def report_run_error(command: str, error: Exception, data: str | None) -> None:
    """`report_error` for run_loss's errors: one about the run's own data (no --data given)
    hints at --data."""
    from chainrule.exploration.run import RunDataChanged, RunDataError

    if isinstance(error, RunDataError) and not isinstance(error, RunDataChanged) and data is None:
        report_error(command, f"{error}; {DATA_HINT}")
    else:
        report_error(command, error)


def add_network_options(parser: Any) -> None:
    """--examples, --seed and --data of the commands that show the tutorial network or a RUN's
    network on a batch of its test data (explain, graph)."""
    parser.add_argument(
        "--examples",
        type=positive_int("--examples"),
        default=None,
        help="for a RUN: test examples in the batch (default 8)",
    )
    parser.add_argument(
        "--seed",
        type=nonnegative_int("--seed"),
        default=None,
        help="tutorial network: seed of its random weights (default 0)",
    )
    add_data_option(parser)


def start_network_command(args: argparse.Namespace, command: str) -> int | None:
    """The checks explain and graph make before any work: --data, --examples or --seed where
    they would not be read (usage errors), and the rank under mpiexec (an exit status for the
    ranks that end at once, None for the one that goes on)."""
    refuse_data_without_run(args, command)
    refuse_unread(args, [RUN_ONLY if args.run_folder is None else TUTORIAL_ONLY])
    return not_lead_rank(command)


def load_run_network(args: argparse.Namespace, command: str) -> tuple[Module, Tensor] | None:
    """The RUN's model and its loss on --examples test examples (default 8), or None once the
    reason it could not be loaded is reported."""
    from chainrule.exploration.run import run_loss
    from chainrule.train import CheckpointError

    try:
        return run_loss(
            args.run_folder,
            examples=8 if args.examples is None else args.examples,
            data=args.data,
        )
    except (CheckpointError, ValueError) as error:
        report_run_error(command, error, args.data)
        return None
