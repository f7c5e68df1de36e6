"""The tutorial network on a batch of the bundled 8x8 digits, with everything the page shows
besides the graph: the digits and w1's columns as images, the ReLU mask, the hand-derived,
autograd and closed-form gradients side by side, the classic mistakes ("break it") with what
`diagnose` says of each, and a short recorded training run for the scrubber.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from chainrule import manual, ops
from chainrule._types import FloatArray
from chainrule.check import diagnose
from chainrule.exploration.data import Json, graph_data, matrix
from chainrule.tensor import Tensor

PARAMETERS = ("w1", "b1", "w2", "b2")

Grads = dict[str, FloatArray]


def digits_batch(
    n: int, n_hidden: int, *, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray, dict[str, FloatArray]]:
    """x (n, 64): the first n digits, pixels in [0, 1]; y (n, 1): each digit's label / 9,
    the tutorial's regression target; He-initialised parameters with small random biases.
    A ValueError when n is not from 1 to the number of digits (1797)."""
    from chainrule.data.digits import load_digits

    images, labels = load_digits()
    if not 1 <= n <= len(images):
        raise ValueError(
            f"explore: {n} examples asked for, and the bundled digits hold {len(images)}; "
            f"choose from 1 to {len(images)} (--examples on the command line)"
        )
    x = images[:n]
    y = (labels[:n] / 9.0).reshape(n, 1)
    params = manual.init_params(x.shape[1], n_hidden, 1, rng=rng)
    params["b1"] = 0.1 * rng.standard_normal(n_hidden)
    params["b2"] = 0.1 * rng.standard_normal(1)
    return x, y, params


def tensors_for(x: FloatArray, y: FloatArray, params: dict[str, FloatArray]) -> dict[str, Tensor]:
    """The tutorial's forward pass in chainrule tensors, every tensor named as the tutorial
    names it."""
    tensors = {"x": ops.tensor(x, name="x"), "y": ops.tensor(y, name="y")}
    for name in PARAMETERS:
        tensors[name] = ops.tensor(params[name].copy(), requires_grad=True, name=name)
    tensors["u1"] = tensors["x"] @ tensors["w1"] + tensors["b1"]
    tensors["u2"] = ops.relu(tensors["u1"])
    tensors["u3"] = tensors["u2"] @ tensors["w2"] + tensors["b2"]
    tensors["u4"] = tensors["y"] - tensors["u3"]
    tensors["u5"] = tensors["u4"] ** 2
    tensors["loss"] = ops.mean(tensors["u5"])
    for name in ("u1", "u2", "u3", "u4", "u5", "loss"):
        tensors[name].name = name
    return tensors


def _broken_backward(
    cache: dict[str, FloatArray],
    *,
    sign: float = -1.0,
    scale_u5: bool = True,
    two: float = 2.0,
    mask_from: str = "u1",
) -> Grads:
    """`manual.backward` with one knob per classic mistake (the defaults give it exactly)."""
    x, w2, u4, u5 = cache["x"], cache["w2"], cache["u4"], cache["u5"]
    grad_u5 = 1.0 / u5.size if scale_u5 else 1.0
    grad_u4 = grad_u5 * two * u4
    grad_u3 = sign * grad_u4
    grad_u2 = grad_u3 @ w2.T
    mask = cache["u1"] > 0 if mask_from == "u1" else grad_u2 > 0
    grad_u1 = grad_u2 * mask
    return {
        "u1": grad_u1,
        "w1": x.T @ grad_u1,
        "b1": grad_u1.sum(axis=0),
        "w2": cache["u2"].T @ grad_u3,
        "b2": grad_u3.sum(axis=0),
    }


MISTAKES: dict[str, tuple[str, str, Callable[[dict[str, FloatArray]], Grads]]] = {
    "sign": (
        "du4/du3 = +1 instead of -1 (u4 = y - u3)",
        "w2",
        lambda cache: _broken_backward(cache, sign=1.0),
    ),
    "sum": (
        "a sum for the mean: dloss/du5 = 1 instead of 1/(N·n_out)",
        "w2",
        lambda cache: _broken_backward(cache, scale_u5=False),
    ),
    "two": (
        "a missing 2: du5/du4 = u4 instead of 2·u4",
        "w2",
        lambda cache: _broken_backward(cache, two=1.0),
    ),
    "transpose": (
        "a transpose: dloss/dw1 = (x.T @ dloss/du1).T",
        "w1",
        lambda cache: {**_broken_backward(cache), "w1": _broken_backward(cache)["w1"].T},
    ),
    "mask": (
        "the mask from the wrong tensor: [dloss/du2 > 0] instead of [u1 > 0]",
        "u1",
        lambda cache: _broken_backward(cache, mask_from="grad_u2"),
    ),
}
"""Each classic mistake: (what it is, the parameter whose gradient it shows, the broken
backward pass)."""


def break_it(cache: dict[str, FloatArray], true_grads: Grads) -> list[Json]:
    """Every mistake in MISTAKES: the broken gradient, the true one and `diagnose`'s verdict."""
    n, n_out = cache["u5"].shape
    choices: list[Json] = []
    for key, (label, parameter, broken_backward) in MISTAKES.items():
        broken = broken_backward(cache)[parameter]
        verdict = diagnose(broken, true_grads[parameter], n=n, n_out=n_out)
        choices.append(
            {
                "key": key,
                "label": label,
                "parameter": parameter,
                "broken": matrix(broken),
                "true": matrix(true_grads[parameter]),
                "diagnosis": str(verdict),
                "kind": verdict.kind.name,
            }
        )
    return choices


def record_training(
    x: FloatArray, y: FloatArray, params: dict[str, FloatArray], *, steps: int, lr: float
) -> list[Json]:
    """Plain gradient descent with `manual.forward`/`backward` on this batch: the loss, the
    weights and their gradients at every step (step 0 is before any update)."""
    current = {name: value.copy() for name, value in params.items()}
    frames: list[Json] = []
    for step in range(steps + 1):
        loss, cache = manual.forward(x, y, current)
        grads = manual.backward(cache)
        frames.append(
            {
                "step": step,
                "loss": loss,
                "weights": {name: matrix(current[name]) for name in PARAMETERS},
                "grads": {name: matrix(grads[name]) for name in PARAMETERS},
            }
        )
        for name in PARAMETERS:
            current[name] = current[name] - lr * grads[name]
    return frames


def tutorial_data(
    *,
    n: int = 8,
    n_hidden: int = 16,
    train_steps: int = 30,
    lr: float = 0.1,
    rng: np.random.Generator,
) -> Json:
    """Everything the page shows for the tutorial network on `n` digits."""
    x, y, params = digits_batch(n, n_hidden, rng=rng)
    tensors = tensors_for(x, y, params)
    data = graph_data(tensors["loss"], [tensors[name] for name in PARAMETERS], rng=rng)
    _, cache = manual.forward(x, y, params)
    hand = manual.backward(cache)
    tensors["loss"].backward()
    autograd: Grads = {}
    for name in PARAMETERS:
        grad = tensors[name].grad
        assert grad is not None
        autograd[name] = np.asarray(grad.data if isinstance(grad, Tensor) else grad)
    closed = manual.closed_form_grads(x, y, params)
    u1 = cache["u1"]
    data["tutorial"] = {
        "digits": [matrix(row.reshape(8, 8)) for row in x],
        "labels": [round(9 * float(v)) for v in y[:, 0]],
        "w1_tiles": [matrix(params["w1"][:, j].reshape(8, 8)) for j in range(n_hidden)],
        "relu_mask": matrix((u1 > 0).astype(np.float64)),
        "dead_units": int(np.sum(~np.any(u1 > 0, axis=0))),
        "n_hidden": n_hidden,
        "sides": [
            {
                "name": name,
                "manual": matrix(hand[name]),
                "autograd": matrix(autograd[name]),
                "closed_form": matrix(closed[name]),
                "max_diff": float(
                    max(
                        np.max(np.abs(hand[name] - autograd[name])),
                        np.max(np.abs(closed[name] - autograd[name])),
                    )
                ),
            }
            for name in PARAMETERS
        ],
        "break_it": break_it(cache, hand),
        "train": record_training(x, y, params, steps=train_steps, lr=lr),
    }
    return data
