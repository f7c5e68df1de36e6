"""Random problems for the exercises: fresh shapes (always including N = 1, n_hidden = 1 and
n_out > 1), the networks' arrays on them, and the true gradients from `chainrule.manual`.

Each network is run forward and backward with the hand-derived engine, so every value a
learner's function receives is what the tutorial's forward pass stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from chainrule import manual

Array = npt.NDArray[Any]

Shapes = dict[str, int]
"""Sizes by name: N (examples), n_in, n_hidden, n_hidden2 (the deep network's second hidden
layer), n_out (outputs, also the number of classes of the cross-entropy exercise)."""


def draw_shapes(rng: np.random.Generator) -> tuple[Shapes, ...]:
    """Four shape sets, checked in this order: a general one where N, n_in, n_hidden, n_hidden2
    and n_out are distinct and >= 3 (so a transpose, a factor N, n_out or 2 can be told
    apart), then N = 1, then n_hidden = n_hidden2 = 1, then n_out = 1 (the tutorial's)."""
    general = [int(size) for size in rng.choice(np.arange(3, 10), size=5, replace=False)]

    def small(low: int, high: int) -> int:
        return int(rng.integers(low, high + 1))

    names = ("N", "n_in", "n_hidden", "n_hidden2", "n_out")
    return (
        dict(zip(names, general, strict=True)),
        {
            "N": 1,
            "n_in": small(2, 6),
            "n_hidden": small(2, 6),
            "n_hidden2": small(2, 5),
            "n_out": small(2, 4),
        },
        {
            "N": small(2, 6),
            "n_in": small(2, 6),
            "n_hidden": 1,
            "n_hidden2": 1,
            "n_out": small(2, 4),
        },
        {
            "N": small(2, 6),
            "n_in": small(2, 6),
            "n_hidden": small(2, 6),
            "n_hidden2": small(2, 5),
            "n_out": 1,
        },
    )


@dataclass(frozen=True)
class Problem:
    """One network on one shape set: `values` holds every array by its tutorial name (inputs,
    parameters, intermediates and the upstream gradients dloss/d(name) as `d<name>`), `grads`
    the true gradients dloss/d(name) from `chainrule.manual`, and `magnitudes` the size of
    each gradient's terms, entry by entry (see `magnitude`)."""

    shapes: Shapes
    values: dict[str, Array]
    grads: dict[str, Array]
    magnitudes: dict[str, Array]


def magnitude(problem: Problem, name: str) -> Array:
    """The sum of the absolute values of the terms that make each entry of dloss/d(name): the
    gradient's own chain with every factor replaced by its absolute value (masks kept).

    A sum of terms computed in floating point is off by up to about (number of roundings) *
    eps * (sum of |terms|), not * |sum|: where terms cancel, as p - onehot in cross-entropy
    or a batch sum of errors of both signs, a right answer in float32 differs from the
    float64 truth far beyond a tolerance relative to the entry itself."""
    return problem.magnitudes[name]


def _mixed_mask(pre_activation: Array) -> bool:
    """At least one active unit, and at least one inactive unit when there are several, so a
    mask taken from the wrong tensor shows."""
    active = pre_activation > 0
    return bool(active.any() and (active.size == 1 or not active.all()))


def tutorial_problem(shapes: Shapes, rng: np.random.Generator) -> Problem:
    """The tutorial network u1 = x @ w1 + b1, u2 = relu(u1), u3 = u2 @ w2 + b2, u4 = y - u3,
    u5 = u4**2, loss = mean(u5), with its cache and `manual.backward`'s gradients."""
    n_examples, n_in, n_hidden, n_out = (
        shapes[name] for name in ("N", "n_in", "n_hidden", "n_out")
    )
    while True:
        params = manual.init_params(n_in, n_hidden, n_out, rng=rng)
        params["b1"] = 0.5 * rng.standard_normal(n_hidden)
        params["b2"] = 0.5 * rng.standard_normal(n_out)
        x = rng.standard_normal((n_examples, n_in))
        y = rng.standard_normal((n_examples, n_out))
        _, cache = manual.forward(x, y, params)
        if _mixed_mask(cache["u1"]):
            break
    grads = manual.backward(cache)
    upstream = {f"d{name}": grads[name] for name in ("u1", "u2", "u3", "u4")}
    return Problem(shapes, {**cache, **upstream}, grads, _tutorial_magnitudes(cache, upstream))


def _tutorial_magnitudes(cache: dict[str, Array], upstream: dict[str, Array]) -> dict[str, Array]:
    """|terms| of each tutorial gradient, from u4 (dloss/du3 = -2 u4 / u4.size) or from the
    given dloss/du2, as the exercise's function starts."""
    mask = cache["u1"] > 0
    du3 = 2 * np.abs(cache["u4"]) / cache["u4"].size
    du2 = du3 @ np.abs(cache["w2"]).T
    given_du1 = np.abs(upstream["du2"]) * mask
    return {
        "w1": np.abs(cache["x"]).T @ (du2 * mask),
        "x": given_du1 @ np.abs(cache["w1"]).T,
        "b1": given_du1.sum(axis=0),
        "w2": np.abs(cache["u2"]).T @ du3,
        "b2": du3.sum(axis=0),
        "u2": du2,
    }


def deep_problem(shapes: Shapes, rng: np.random.Generator) -> Problem:
    """A 3-layer MLP z1 = x @ w1 + b1, a1 = relu(z1), z2 = a1 @ w2 + b2, a2 = relu(z2),
    z3 = a2 @ w3 + b3, loss = mean((y - z3)**2), run with `manual`'s layers."""
    n_examples, n_in, n_hidden, n_hidden2, n_out = (
        shapes[name] for name in ("N", "n_in", "n_hidden", "n_hidden2", "n_out")
    )
    while True:
        first = manual.Linear(n_in, n_hidden, rng=rng)
        middle = manual.Linear(n_hidden, n_hidden2, rng=rng)
        last = manual.Linear(n_hidden2, n_out, rng=rng)
        for layer in (first, middle, last):
            layer.bias = 0.5 * rng.standard_normal(layer.out_features)
        x = rng.standard_normal((n_examples, n_in))
        y = rng.standard_normal((n_examples, n_out))
        model = manual.Sequential(first, manual.ReLU(), middle, manual.ReLU(), last)
        z1 = first.forward(x)
        a1 = model.layers[1].forward(z1)
        z2 = middle.forward(a1)
        if _mixed_mask(z2):
            break
    z3 = last.forward(model.layers[3].forward(z2))
    criterion = manual.MSE()
    criterion.forward(z3, y)
    grad_z3 = criterion.backward()
    model.backward(grad_z3)
    values = {
        "x": x,
        "y": y,
        "w1": first.weight,
        "w2": middle.weight,
        "w3": last.weight,
        "z1": z1,
        "a1": a1,
        "z2": z2,
        "z3": z3,
        "dz3": grad_z3,
    }
    dz2 = (np.abs(grad_z3) @ np.abs(last.weight).T) * (z2 > 0)
    return Problem(
        shapes,
        values,
        {"w2": middle.gradients()["weight"]},
        {"w2": np.abs(a1).T @ dz2},
    )


def cross_entropy_problem(shapes: Shapes, rng: np.random.Generator) -> Problem:
    """Logits (N, n_classes) with n_classes = max(n_out, 2), integer targets (N,) of two
    classes at least when N > 1, and `manual.SoftmaxCrossEntropy`'s gradient
    (softmax - onehot) / N."""
    n_examples, n_classes = shapes["N"], max(shapes["n_out"], 2)
    logits = 2.0 * rng.standard_normal((n_examples, n_classes))
    while True:
        targets = rng.integers(0, n_classes, size=n_examples)
        # Two classes at least among several examples: with one class only, p[:, targets] -= 1
        # (every row's target columns) is the one-hot, and the slip would pass.
        if n_examples == 1 or len(np.unique(targets)) > 1:
            break
    criterion = manual.SoftmaxCrossEntropy()
    criterion.forward(logits, targets)
    values = {"logits": logits, "targets": targets}
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    softmax = shifted / shifted.sum(axis=1, keepdims=True)
    return Problem(
        {"N": n_examples, "n_classes": n_classes},
        values,
        {"logits": criterion.backward()},
        {"logits": (softmax + np.eye(n_classes)[targets]) / n_examples},
    )
