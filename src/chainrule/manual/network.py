"""The tutorial network, forward and backward, one named intermediate per line.

    u1 = x @ w1 + b1;  u2 = relu(u1);  u3 = u2 @ w2 + b2;  u4 = y - u3;  u5 = u4 ** 2;
    loss = mean(u5) over all N * n_out entries.

`backward` walks the same lines in reverse, applying the chain rule once per line.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from chainrule._types import FloatArray
from chainrule.manual.validation import check_inputs

Cache = dict[str, FloatArray]
"""What `forward` keeps for `backward`: x, y, w1, b1, w2, b2 and the intermediates u1 .. u5."""


def forward(
    x: npt.ArrayLike, y: npt.ArrayLike, params: Mapping[str, npt.ArrayLike]
) -> tuple[float, Cache]:
    """The loss of the tutorial network and the cache its backward pass needs.

    Shapes: x (N, n_in), y (N, n_out), params as from `init_params`. Inputs are validated
    (see `chainrule.manual.validation`) and computed in their common float dtype. The cache
    holds x and the parameters themselves where they already have that dtype (no copy): write
    into them only after `backward(cache)`, or its gradients change unseen.
    """
    x_array, y_array, weights = check_inputs(x, y, params)
    w1, b1, w2, b2 = weights["w1"], weights["b1"], weights["w2"], weights["b2"]
    u1 = x_array @ w1 + b1
    u2 = np.maximum(u1, 0)
    u3 = u2 @ w2 + b2
    u4 = y_array - u3
    u5 = u4**2
    loss = float(u5.mean())
    cache: Cache = {
        "x": x_array,
        "y": y_array,
        **weights,
        "u1": u1,
        "u2": u2,
        "u3": u3,
        "u4": u4,
        "u5": u5,
    }
    return loss, cache


def backward(cache: Mapping[str, FloatArray]) -> dict[str, FloatArray]:
    """dloss/d(name) for x, w1, b1, w2, b2 and u1 .. u4, each the shape of what it differentiates.

    The chain rule, one step per forward line, each gradient computed once and reused:

        dloss/du5 = 1 / (N * n_out)                  (the same for every entry)
        dloss/du4 = dloss/du5 * 2 * u4
        dloss/du3 = -dloss/du4                       (u4 = y - u3, so du4/du3 = -1)
        dloss/dw2 = u2.T @ dloss/du3,   dloss/db2 = sum over rows of dloss/du3
        dloss/du2 = dloss/du3 @ w2.T
        dloss/du1 = dloss/du2 * [u1 > 0]             (ReLU passes gradient where it was active)
        dloss/dw1 = x.T @ dloss/du1,    dloss/db1 = sum over rows of dloss/du1
        dloss/dx  = dloss/du1 @ w1.T

    Every product is a matrix product: no (N, n_in, n_hidden) outer products are formed.
    The ReLU mask [u1 > 0] differs from the engine's only at NaN, which the engine passes
    through (see manual.ReLU).
    """
    x, w1, w2 = cache["x"], cache["w1"], cache["w2"]
    u1, u2, u4, u5 = cache["u1"], cache["u2"], cache["u4"], cache["u5"]
    grad_u5 = 1.0 / u5.size
    grad_u4 = grad_u5 * 2 * u4
    grad_u3 = -grad_u4
    grad_w2 = u2.T @ grad_u3
    grad_b2 = grad_u3.sum(axis=0)
    grad_u2 = times_transpose(grad_u3, w2)
    grad_u1 = grad_u2 * (u1 > 0)
    grad_w1 = x.T @ grad_u1
    grad_b1 = grad_u1.sum(axis=0)
    grad_x = times_transpose(grad_u1, w1)
    return {
        "x": grad_x,
        "w1": grad_w1,
        "b1": grad_b1,
        "w2": grad_w2,
        "b2": grad_b2,
        "u1": grad_u1,
        "u2": grad_u2,
        "u3": grad_u3,
        "u4": grad_u4,
    }


def times_transpose(grad_out: FloatArray, weight: FloatArray) -> FloatArray:
    """grad_out @ weight.T, the gradient flowing back through `... @ weight`.

    With inner dimension 1 (one output, as in the tutorial) the product is an outer product,
    and a broadcast multiply gives the same numbers faster than a BLAS call (see
    benchmarks/bench_times_transpose.py).
    """
    grad_in: FloatArray = grad_out * weight.T if weight.shape[1] == 1 else grad_out @ weight.T
    return grad_in
