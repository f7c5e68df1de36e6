"""Calling the loss of a gradient check: on read-only arrays (a loss that writes into one
is refused), as a float64 value, and giving the same value twice at one point (a random
loss is refused)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping

import numpy as np

from chainrule._types import Float64Array
from chainrule.check.numerical import IN_PLACE_HINT, float64_value, is_write_error, read_only

LossFunction = Callable[[Mapping[str, Float64Array]], float]
"""Called with every named array (float64 copies, one of them perturbed); returns the loss."""


def evaluate(loss_fn: LossFunction, arrays: dict[str, Float64Array]) -> float:
    """loss_fn(arrays) with every array read-only; a ValueError naming the arrays it wrote
    into (found by running it once more on copies) when it writes into one: the point would
    move for every later evaluation, and a check at a moved point can pass a wrong gradient
    (an in-place clip puts entries on its kinks, which excuse any gradient there)."""
    with read_only(*arrays.values()):
        try:
            return loss_fn(arrays)
        except ValueError as error:
            if not is_write_error(error):
                raise
            refusal = str(error)
    copies = {key: value.copy() for key, value in arrays.items()}
    with contextlib.suppress(Exception):  # only which copies it writes into matters
        loss_fn(copies)
    written = [
        key
        for key, value in arrays.items()
        if not np.array_equal(copies[key], value, equal_nan=True)
    ]
    named = (
        f"the array {written[0]!r}"
        if len(written) == 1
        else f"the arrays {', '.join(map(repr, written))}"
        if written
        else "one of its arrays"
    )
    raise ValueError(f"gradcheck: loss_fn wrote into {named} ({refusal}); {IN_PLACE_HINT}")


def loss_value(loss: float, eps: float) -> float:
    """The loss at the point as a float (`float64_value`, worded for gradcheck's loss_fn)."""
    return float64_value(loss, eps, owner="gradcheck", function="loss_fn", value="the loss")


REPEAT_ULPS = 2
"""How far, in ulps of f(x), two evaluations of the loss at the same point may differ (a
reduction's rounding) before the loss is refused as random."""


def require_deterministic(first: float, second: float) -> None:
    """A ValueError when two evaluations of the loss at the same point differ by more than
    REPEAT_ULPS: central differences of a random loss (dropout drawn inside it) measure the
    randomness, and every entry looked like a kink (KINKS ONLY, unexplained) or a failure."""
    if abs(second - first) <= REPEAT_ULPS * np.finfo(np.float64).eps * abs(first):
        return
    raise ValueError(
        f"gradcheck: loss_fn gave {first!r} and then {second!r} at the same point; finite "
        "differences of a random loss measure its randomness, not its slope. Make it "
        "deterministic: draw the dropout mask or noise once outside loss_fn, or seed a new "
        "generator inside it at each call (np.random.default_rng(0))"
    )
