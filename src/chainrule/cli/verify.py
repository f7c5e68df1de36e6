"""`chainrule verify`: the hand-derived gradients of the tutorial network, checked two ways.

On scikit-learn's 8x8 digits (64 inputs, 50 hidden units, 1 output regressing the label) the
step-by-step chain rule is checked against finite differences and against the closed-form
formulas. Exit status 0 when everything agrees, 1 otherwise, with a diagnosis of each
disagreement (a factor N, a flipped sign, a transpose, ...).

Under mpiexec rank 0 alone checks and prints; the others end at once.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from chainrule import manual
from chainrule._types import FloatArray
from chainrule.check import (
    Comparison,
    Diagnosis,
    GradcheckReport,
    compare,
    diagnose,
    diagnose_swaps,
    gradcheck,
)
from chainrule.cli._common import (
    float_in,
    missing_extras,
    nonnegative_int,
    not_lead_rank,
    positive_int,
)

CHECKED = ("x", "w1", "b1", "w2", "b2")
N_HIDDEN = 50
MIN_EPS, MAX_EPS = 1e-12, 1.0
"""The --eps range: below 1e-12 a step on entries of size ~1 is lost to float64 rounding
(the difference is noise); above 1 it is no longer a derivative."""

Backward = Callable[[Mapping[str, FloatArray]], Mapping[str, FloatArray]]


@dataclass(frozen=True)
class Verification:
    """The loss, the finite-difference report, the chain-vs-closed-form comparisons and, for
    each comparison that is not close, a diagnosis of the chain's gradient against the
    closed form's (by name)."""

    loss: float
    report: GradcheckReport
    comparisons: tuple[Comparison, ...]
    diagnoses: Mapping[str, Diagnosis]

    @property
    def ok(self) -> bool:
        return self.report.ok and all(comparison.close for comparison in self.comparisons)

    @property
    def failing(self) -> tuple[str, ...]:
        """Names that disagree somewhere, in CHECKED order."""
        unresolved = {row.name for row in self.report.rows if row.status == "UNRESOLVED"}
        bad = (set(self.report.failing) - unresolved) | {
            c.name for c in self.comparisons if not c.close
        }
        return tuple(name for name in CHECKED if name in bad)

    @property
    def unresolved(self) -> tuple[str, ...]:
        """Names whose finite differences were too noisy to verify them (and that do not
        disagree elsewhere), in CHECKED order: not verified, so not ok either."""
        noisy = {row.name for row in self.report.rows if row.status == "UNRESOLVED"}
        return tuple(name for name in CHECKED if name in noisy and name not in self.failing)


def verify_network(
    x: FloatArray,
    y: FloatArray,
    params: Mapping[str, FloatArray],
    *,
    backward: Backward = manual.backward,
    max_entries: int = 200,
    eps: float = 1e-6,
    rng: np.random.Generator,
) -> Verification:
    """Check `backward`'s gradients of x, w1, b1, w2, b2 by finite differences and against
    `manual.closed_form_grads`. `backward` is a parameter so that a broken one can be shown
    to fail."""
    loss, cache = manual.forward(x, y, params)
    grads = backward(cache)
    chain = {name: grads[name] for name in CHECKED}

    def loss_fn(arrays: Mapping[str, FloatArray]) -> float:
        return manual.forward(arrays["x"], arrays["y"], arrays)[0]

    report = gradcheck(
        loss_fn,
        {"y": y, **{name: cache[name] for name in CHECKED}},
        chain,
        eps=eps,
        max_entries=max_entries,
        rng=rng,
        n=len(x),
        n_out=y.shape[1],
    )
    closed = manual.closed_form_grads(x, y, params)
    comparisons = tuple(compare(name, chain[name], closed[name]) for name in CHECKED)
    # Two gradients returned under each other's names are named as a pair, as gradcheck
    # names them; alone, each looks like a wrong gradient or a shape to fix by reshaping.
    swaps = diagnose_swaps(chain, closed)
    diagnoses = {
        c.name: swaps.get(c.name)
        or diagnose(chain[c.name], closed[c.name], n=len(x), n_out=y.shape[1])
        for c in comparisons
        if not c.close
    }
    return Verification(loss, report, comparisons, diagnoses)


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "verify",
        help="check the hand-derived gradients against finite differences and the closed form",
        description=__doc__,
    )
    parser.add_argument(
        "--seed", type=nonnegative_int("--seed"), default=0, help="seed for weights and sampling"
    )
    parser.add_argument(
        "--samples",
        type=positive_int("--samples"),
        default=200,
        metavar="N",
        help="entries checked per array by finite differences (default 200)",
    )
    parser.add_argument(
        "--eps",
        type=float_in("--eps", MIN_EPS, MAX_EPS),
        default=1e-6,
        help=f"finite-difference step, {MIN_EPS:g} to {MAX_EPS:g} (default 1e-6)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from chainrule.data import load_digits

    ended = not_lead_rank("verify")
    if ended is not None:
        return ended
    missing = missing_extras(["sklearn"])
    if missing is not None:
        print(f"chainrule verify: {missing}", file=sys.stderr)
        return 2

    images, labels = load_digits()
    x = images
    y = labels.astype(np.float64).reshape(-1, 1)
    rng = np.random.default_rng(args.seed)
    params = manual.init_params(x.shape[1], N_HIDDEN, 1, rng=rng)
    result = verify_network(x, y, params, max_entries=args.samples, eps=args.eps, rng=rng)
    print(format_verification(result, x.shape, N_HIDDEN))
    return 0 if result.ok else 1


def format_verification(result: Verification, x_shape: tuple[int, ...], n_hidden: int) -> str:
    n_examples, n_in = x_shape
    lines = [
        f"The tutorial network on scikit-learn's 8x8 digits: {n_examples} images, {n_in} "
        f"inputs, {n_hidden} hidden units, 1 output (the digit's label)",
        "  u1 = x @ w1 + b1, u2 = relu(u1), u3 = u2 @ w2 + b2, u4 = y - u3, u5 = u4**2, "
        "loss = mean(u5)",
        f"  loss at initialisation: {result.loss:.6g}",
        "",
        f"Step-by-step chain rule vs central finite differences (float64, "
        f"eps={result.report.eps:g}):",
        *("  " + line for line in str(result.report).splitlines()),
        "",
        "Step-by-step chain rule vs the closed-form formulas:",
        *(f"  {comparison}" for comparison in result.comparisons),
        *(f"  diagnosis of {name}: {diagnosis}" for name, diagnosis in result.diagnoses.items()),
        "",
    ]
    if result.ok:
        lines.append(
            "All agree: the hand-derived gradients of x, w1, b1, w2, b2 match finite "
            "differences and the closed form."
        )
    if result.unresolved:
        lines.append(
            f"UNRESOLVED in {', '.join(result.unresolved)}: central differences with "
            f"eps={result.report.eps:g} are too noisy for a loss of "
            f"{result.loss:.3g} to verify these gradients; use a larger --eps, "
            "such as the default 1e-6."
        )
    if result.failing:
        lines.append(
            f"DISAGREEMENT in {', '.join(result.failing)}: the hand-derived gradients do not match."
        )
    return "\n".join(lines)
