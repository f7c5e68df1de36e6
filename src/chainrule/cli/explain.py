"""`chainrule explain`: the chain rule for the tutorial network, written out for one tensor."""

from __future__ import annotations

import argparse
from typing import Any

from chainrule.cli._common import nonnegative_int

WRT_CHOICES = ("w1", "b1", "x", "w2", "b2", "u2")


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "explain", help="write out dloss/d(wrt) for the tutorial network, link by link")
    parser.add_argument("--wrt", choices=WRT_CHOICES, default="w1",
                        help="the tensor to differentiate with respect to (default w1)")
    parser.add_argument("--format", choices=("text", "markdown", "latex"), default="text")
    parser.add_argument("--seed", type=nonnegative_int("--seed"), default=0,
                        help="seed of the random network")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    import chainrule
    from chainrule.explanation import tutorial_network

    network = tutorial_network(rng=np.random.default_rng(args.seed))
    if args.wrt == "x":
        network["x"].requires_grad_()
    explanation = chainrule.explain(network["loss"], network[args.wrt])
    if args.format == "markdown":
        print(explanation.to_markdown(), end="")
    elif args.format == "latex":
        print(explanation.to_latex(), end="")
    else:
        print(explanation, end="")
    return 0 if explanation.passed else 1
