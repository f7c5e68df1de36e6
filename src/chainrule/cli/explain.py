"""`chainrule explain [RUN]`: the chain rule for the tutorial network (or a trained run's
network on a batch of its test data), written out for one tensor.

Under mpiexec rank 0 alone prints it; the others end at once."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from chainrule.cli._common import (
    RUN_ONLY,
    TUTORIAL_ONLY,
    add_data_option,
    nonnegative_int,
    not_lead_rank,
    positive_int,
    refuse_data_without_run,
    refuse_unread,
    report_error,
    report_run_error,
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
    parser.add_argument(
        "--examples",
        type=positive_int("--examples"),
        default=None,
        help="for a RUN: test examples in the batch (default 8)",
    )
    parser.add_argument("--format", choices=("text", "markdown", "latex"), default="text")
    parser.add_argument(
        "--seed",
        type=nonnegative_int("--seed"),
        default=None,
        help="tutorial network: seed of its random weights (default 0)",
    )
    add_data_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    import chainrule
    from chainrule.explanation import tutorial_network

    refuse_data_without_run(args, "explain")
    refuse_unread(args, [RUN_ONLY if args.run_folder is None else TUTORIAL_ONLY])
    ended = not_lead_rank("explain")
    if ended is not None:
        return ended
    if args.run_folder is not None:
        from chainrule.exploration.run import run_loss
        from chainrule.train import CheckpointError

        try:
            model, loss = run_loss(
                args.run_folder,
                examples=8 if args.examples is None else args.examples,
                data=args.data,
            )
        except (CheckpointError, ValueError) as error:
            report_run_error("explain", error, args.data)
            return 2
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
