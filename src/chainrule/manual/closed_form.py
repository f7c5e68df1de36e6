"""The tutorial network's gradients as fully expanded formulas, independent of `backward`.

With the error e = u3 - y = relu(x @ w1 + b1) @ w2 + b2 - y, the ReLU indicator
a = [x @ w1 + b1 > 0] and c = 2 / (N * n_out), the chain rule multiplies out to one line per
gradient. Agreement with the step-by-step chain checks both derivations.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy.typing as npt

from chainrule._types import FloatArray
from chainrule.manual.validation import check_inputs


def closed_form_grads(
    x: npt.ArrayLike, y: npt.ArrayLike, params: Mapping[str, npt.ArrayLike]
) -> dict[str, FloatArray]:
    """dloss/d(name) for x, w1, b1, w2, b2 from the expanded formulas:

        dL/dw2 = c * relu(z).T @ e                   z = x @ w1 + b1
        dL/db2 = c * sum_i e_i
        dL/dw1 = c * x.T @ ((e @ w2.T) * a)
        dL/db1 = c * sum_i ((e @ w2.T) * a)_i
        dL/dx  = c * ((e @ w2.T) * a) @ w1.T

    It runs its own forward computation and shares no code with `forward`/`backward` beyond
    input validation.
    """
    x_array, y_array, weights = check_inputs(x, y, params)
    w1, b1, w2, b2 = weights["w1"], weights["b1"], weights["w2"], weights["b2"]
    z = x_array @ w1 + b1
    a = (z > 0).astype(z.dtype)
    e = (z * a) @ w2 + b2 - y_array
    c = 2.0 / e.size
    return {
        "x": c * ((e @ w2.T) * a) @ w1.T,
        "w1": c * x_array.T @ ((e @ w2.T) * a),
        "b1": c * ((e @ w2.T) * a).sum(axis=0),
        "w2": c * (z * a).T @ e,
        "b2": c * e.sum(axis=0),
    }
