"""The tutorial network built from chainrule tensors, every tensor named as the tutorial
names it, for `chainrule explain` and `chainrule graph`:

    u1 = x @ w1 + b1;  u2 = relu(u1);  u3 = u2 @ w2 + b2;  u4 = y - u3;  u5 = u4**2;
    loss = mean(u5)
"""

from __future__ import annotations

import numpy as np

from chainrule import ops
from chainrule.tensor import Tensor


def tutorial_network(
    n: int = 4, n_in: int = 3, n_hidden: int = 5, n_out: int = 1, *, rng: np.random.Generator
) -> dict[str, Tensor]:
    """x (n, n_in), y (n, n_out), parameters w1, b1, w2, b2 (requiring grad), and the
    intermediates u1 .. u5 and loss, in float64, by name."""
    for label, size in (("n", n), ("n_in", n_in), ("n_hidden", n_hidden), ("n_out", n_out)):
        if size < 1:
            raise ValueError(f"tutorial_network: {label} = {size}; every size must be >= 1")
    tensors = {
        "x": ops.tensor(rng.normal(size=(n, n_in)), name="x"),
        "y": ops.tensor(rng.normal(size=(n, n_out)), name="y"),
        "w1": ops.tensor(
            rng.normal(size=(n_in, n_hidden)) * np.sqrt(2 / n_in), requires_grad=True, name="w1"
        ),
        "b1": ops.tensor(rng.normal(size=(n_hidden,)) * 0.1, requires_grad=True, name="b1"),
        "w2": ops.tensor(
            rng.normal(size=(n_hidden, n_out)) * np.sqrt(2 / n_hidden),
            requires_grad=True,
            name="w2",
        ),
        "b2": ops.tensor(rng.normal(size=(n_out,)) * 0.1, requires_grad=True, name="b2"),
    }
    tensors["u1"] = tensors["x"] @ tensors["w1"] + tensors["b1"]
    tensors["u2"] = ops.relu(tensors["u1"])
    tensors["u3"] = tensors["u2"] @ tensors["w2"] + tensors["b2"]
    tensors["u4"] = tensors["y"] - tensors["u3"]
    tensors["u5"] = tensors["u4"] ** 2
    tensors["loss"] = ops.mean(tensors["u5"])
    for name in ("u1", "u2", "u3", "u4", "u5", "loss"):
        tensors[name].name = name
    return tensors
