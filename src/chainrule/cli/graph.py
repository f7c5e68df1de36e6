"""`chainrule graph`: draw the tutorial network's graph (DOT, and SVG/PNG with Graphviz)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from chainrule.cli._common import describe_os_error, nonnegative_int


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("graph", help="draw the tutorial network's graph")
    parser.add_argument("--out", default="graph.svg",
                        help="image to write (.svg or .png); the .dot file goes beside it")
    parser.add_argument("--wrt", default="w1", choices=("w1", "b1", "w2", "b2"),
                        help="highlight the path to this parameter (default w1)")
    parser.add_argument("--seed", type=nonnegative_int("--seed"), default=0,
                        help="seed of the random network")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    import chainrule
    from chainrule.explanation import tutorial_network

    network = tutorial_network(rng=np.random.default_rng(args.seed))
    network["loss"].backward()
    try:
        drawing = chainrule.draw(network["loss"], wrt=network[args.wrt], path=args.out)
    except ValueError as error:
        print(f"chainrule graph: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        raise  # stdout's reader went away: main() ends quietly with 141
    except OSError as error:
        print(f"chainrule graph: {describe_os_error(error)}", file=sys.stderr)
        return 2
    print(drawing.message)
    return 0
