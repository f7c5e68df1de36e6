"""`chainrule explore [RUN]`: the tutorial network on the bundled digits (or a trained run's
network on a batch of its test data, at its checkpoint), forward and backward, stepped through
in one self-contained HTML page (or served on 127.0.0.1 with --serve).

Under mpiexec rank 0 alone builds, writes (or serves) the page; the others end at once."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from chainrule.cli._common import (
    add_data_option,
    describe_os_error,
    missing_extras,
    nonnegative_int,
    not_lead_rank,
    port_number,
    positive_int,
    refuse_data_without_run,
    refuse_unread,
    report_error,
    report_run_error,
)

if TYPE_CHECKING:
    from chainrule.exploration import Exploration

TUTORIAL_OPTIONS = ("--hidden", "--train-steps", "--seed")
OUT_UNREAD = "names the page written without --serve, and --serve writes none; drop one"
PORT_UNREAD = "is where --serve listens, and --serve was not given; add --serve, or drop --port"


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "explore",
        help="write an HTML page stepping through the tutorial network's passes",
        description=__doc__,
    )
    parser.add_argument(
        "run_folder",
        nargs="?",
        metavar="RUN",
        help="a run folder from `chainrule train` (default: the tutorial network)",
    )
    parser.add_argument(
        "--out",
        default=None,
        help="the page to write (default explore.html); opened by nothing",
    )
    parser.add_argument(
        "--serve",
        action="store_true",
        help="serve the page on 127.0.0.1 (a free port, printed) until Ctrl-C "
        "instead of writing it",
    )
    parser.add_argument(
        "--port",
        type=port_number("--port"),
        default=None,
        help="port for --serve (default 0: a free one)",
    )
    parser.add_argument(
        "--examples",
        type=positive_int("--examples"),
        default=8,
        help="examples in the batch (default 8)",
    )
    parser.add_argument(
        "--hidden",
        type=positive_int("--hidden"),
        default=None,
        help="tutorial network: hidden units (default 16)",
    )
    parser.add_argument(
        "--train-steps",
        type=nonnegative_int("--train-steps"),
        default=None,
        help="tutorial network: gradient-descent steps recorded for the scrubber (default 30)",
    )
    parser.add_argument(
        "--seed",
        type=nonnegative_int("--seed"),
        default=None,
        help="tutorial network: seed of the initial weights (default 0)",
    )
    add_data_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from chainrule.exploration.page import embed_json
    from chainrule.exploration.server import PageServer, bind_server

    refuse_data_without_run(args, "explore")
    unread = [
        (
            option,
            f"shapes the tutorial network, and a RUN's network comes from its checkpoint; "
            f"drop {option}, or the RUN",
        )
        for option in TUTORIAL_OPTIONS
        if args.run_folder is not None
    ]
    unread.append(("--out", OUT_UNREAD) if args.serve else ("--port", PORT_UNREAD))
    refuse_unread(args, unread)
    ended = not_lead_rank("explore")
    if ended is not None:
        return ended
    server: PageServer | None = None
    if args.serve:  # the port first: a taken one is said before the page is built
        try:
            server = bind_server(0 if args.port is None else args.port)
        except OSError as error:
            report_error("explore", describe_os_error(error))
            return 2
    try:
        exploration = build_exploration(args)
    except BuildFailed:
        if server is not None:
            server.server_close()
        return 2
    if server is not None:
        server.publish(exploration.html, embed_json(exploration.data))
        server.serve_until_interrupted(lambda line: print(line, flush=True))
        return 0
    try:
        path = exploration.save("explore.html" if args.out is None else args.out)
    except OSError as error:
        report_error("explore", describe_os_error(error))
        return 2
    size = path.stat().st_size
    print(f"wrote {path} ({size / 1e6:.1f} MB); open it in a browser")
    return 0


class BuildFailed(Exception):
    """The page could not be built; the reason has been reported."""


def build_exploration(args: argparse.Namespace) -> Exploration:
    """The run's exploration, or the tutorial network's; BuildFailed once the error is
    reported."""
    from chainrule.exploration import tutorial_exploration
    from chainrule.exploration.run import run_exploration
    from chainrule.train import CheckpointError

    if args.run_folder is not None:
        try:
            return run_exploration(args.run_folder, examples=args.examples, data=args.data)
        except (CheckpointError, ValueError) as error:
            report_run_error("explore", error, args.data)
            raise BuildFailed from None
    missing = missing_extras(["sklearn"])
    if missing:
        report_error("explore", missing)
        raise BuildFailed
    try:
        return tutorial_exploration(
            n=args.examples,
            n_hidden=16 if args.hidden is None else args.hidden,
            train_steps=30 if args.train_steps is None else args.train_steps,
            seed=0 if args.seed is None else args.seed,
        )
    except ValueError as error:  # more examples than the digits hold
        report_error("explore", error)
        raise BuildFailed from None
