"""`chainrule graph [RUN]`: draw the tutorial network's graph (or a trained run's network on a
batch of its test data) as DOT, and SVG/PNG with Graphviz.

Under mpiexec rank 0 alone draws and writes the files; the others end at once."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from chainrule.cli._common import (
    add_network_options,
    describe_os_error,
    load_run_network,
    report_error,
    start_network_command,
)

TUTORIAL_PARAMETERS = ("w1", "b1", "w2", "b2")


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "graph", help="draw the tutorial network's graph", description=__doc__
    )
    parser.add_argument(
        "run_folder",
        nargs="?",
        metavar="RUN",
        help="a run folder from `chainrule train` (default: the tutorial network)",
    )
    parser.add_argument(
        "--out",
        default="graph.svg",
        help="image to write (.svg or .png; default graph.svg); the .dot file goes beside it",
    )
    parser.add_argument(
        "--wrt",
        default=None,
        help="highlight the path to this parameter: w1, b1, w2 or b2 (default "
        "w1), or for a RUN one by its path, e.g. 0.weight (the default)",
    )
    add_network_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    import chainrule
    from chainrule.explanation import tutorial_network
    from chainrule.tensor import Tensor

    ended = start_network_command(args, "graph")
    if ended is not None:
        return ended
    if args.run_folder is not None:
        loaded = load_run_network(args, "graph")
        if loaded is None:
            return 2
        model, loss = loaded
        parameters: dict[str, Tensor] = dict(model.named_parameters())
        choices: tuple[str, ...] = tuple(parameters)
    else:
        network = tutorial_network(rng=np.random.default_rng(0 if args.seed is None else args.seed))
        loss = network["loss"]
        parameters = {name: network[name] for name in TUTORIAL_PARAMETERS}
        choices = TUTORIAL_PARAMETERS
    wrt = args.wrt if args.wrt is not None else choices[0]
    if wrt not in parameters:
        print(
            f"chainrule graph: --wrt {wrt!r} is not a parameter here; choose one of "
            f"{', '.join(choices)}",
            file=sys.stderr,
        )
        return 2
    loss.backward()
    try:
        drawing = chainrule.draw(loss, wrt=parameters[wrt], path=args.out)
    except ValueError as error:
        report_error("graph", error)
        return 2
    except BrokenPipeError:
        raise  # stdout's reader went away: main() ends quietly with 141
    except OSError as error:
        report_error("graph", describe_os_error(error))
        return 2
    print(drawing.message)
    return 0
