"""`chainrule explain [RUN]`: the chain rule for the tutorial network (or a trained run's
network on a batch of its test data), written out for one tensor.

Under mpiexec rank 0 alone prints it; the others end at once."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from chainrule.cli._common import (
    add_network_options,
    load_run_network,
    report_error,
    start_network_command,
)

WRT_CHOICES = ("w1", "b1", "x", "w2", "b2", "u2")


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "explain",
        help="write out dloss/d(wrt) for the tutorial network, link by link",
        description=__doc__,
    )
    parser.add_argument(
        "run_folder",
        nargs="?",
        metavar="RUN",
        help="a run folder from `chainrule train` (default: the tutorial network)",
    )
    parser.add_argument(
        "--wrt",
        default=None,
        help=f"the tensor to differentiate with respect to: one of "
        f"{', '.join(WRT_CHOICES)} (default w1), or for a RUN a "
        "parameter by its path, e.g. 0.weight (the default)",
    )
    parser.add_argument("--format", choices=("text", "markdown", "latex"), default="text")
    add_network_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    import chainrule
    from chainrule.explanation import tutorial_network

    ended = start_network_command(args, "explain")
    if ended is not None:
        return ended
    if args.run_folder is not None:
        loaded = load_run_network(args, "explain")
        if loaded is None:
            return 2
        model, loss = loaded
        parameters = dict(model.named_parameters())
        wrt = args.wrt if args.wrt is not None else next(iter(parameters))
        if wrt not in parameters:
            print(
                f"chainrule explain: --wrt {wrt!r} is not a parameter of the run; choose "
                f"one of {', '.join(parameters)}",
                file=sys.stderr,
            )
            return 2
        try:
            explanation = chainrule.explain(loss, parameters[wrt])
        except ValueError as error:  # a parameter the loss does not reach, or a frozen one
            report_error("explain", error)
            return 2
    else:
        wrt = args.wrt if args.wrt is not None else "w1"
        if wrt not in WRT_CHOICES:
            print(
                f"chainrule explain: --wrt {wrt!r} is not in the tutorial network; choose "
                f"one of {', '.join(WRT_CHOICES)}",
                file=sys.stderr,
            )
            return 2
        network = tutorial_network(rng=np.random.default_rng(0 if args.seed is None else args.seed))
        if wrt == "x":
            network["x"].requires_grad_()
        explanation = chainrule.explain(network["loss"], network[wrt])
    if args.format == "markdown":
        print(explanation.to_markdown(), end="")
    elif args.format == "latex":
        print(explanation.to_latex(), end="")
    else:
        print(explanation, end="")
    return 0 if explanation.passed else 1
