"""Calling a primitive from inside another rule.

Rules run on arrays in an ordinary backward pass and on Tensors when the backward pass is
itself recorded (`create_graph=True`). `call` picks the matching path, so a rule that needs
another primitive (the backward of indexing is a scatter) is written once. (`sum_to_shape`
lives in `chainrule.primitives.broadcast` and is importable from here as before.)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.backends import is_recording, namespace
from chainrule.primitives.base import Primitive
from chainrule.primitives.broadcast import sum_to_shape as sum_to_shape


def is_array(value: Any) -> bool:
    """True for a plain value, not a recorded Tensor: an array of any library (NumPy, CuPy,
    JAX), a NumPy scalar or a Python number.

    NumPy returns a scalar (np.float64) where an operation on 0-d arrays yields one value,
    so a rule can meet one wherever it meets an array.
    """
    return not is_recording(value)


def call(primitive: type[Primitive], *inputs: Any, **params: Any) -> Any:
    """`primitive`'s output on arrays (of any library), or the recorded op when any input is
    a Tensor."""
    for value in inputs:
        if is_recording(value):
            # Tensors expose `apply`, which records the op on the graph.
            return type(value).apply(primitive, *inputs, **params)
    out = primitive.forward(*inputs, **params)[0]
    # NumPy may return a scalar (np.float64) for a 0-d result: made a 0-d array again.
    return np.asarray(out) if namespace(out) is np else out
