"""Calling a primitive from inside another rule.

Rules run on arrays in an ordinary backward pass and on Tensors when the backward pass is
itself recorded (`create_graph=True`). `call` picks the matching path, so a rule that needs
another primitive (the backward of indexing is a scatter) is written once.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.primitives.base import Primitive


def is_array(value: Any) -> bool:
    """True for a NumPy array or a NumPy scalar: the plain path, not a recorded Tensor.

    NumPy returns a scalar (np.float64) where an operation on 0-d arrays yields one value,
    so a rule can meet one wherever it meets an array.
    """
    return isinstance(value, (np.ndarray, np.generic))


def call(primitive: type[Primitive], *inputs: Any, **params: Any) -> Any:
    """`primitive`'s output on arrays, or the recorded op when any input is a Tensor."""
    for value in inputs:
        if not is_array(value):
            # Tensors expose `apply`, which records the op on the graph.
            return type(value).apply(primitive, *inputs, **params)
    return np.asarray(primitive.forward(*inputs, **params)[0])


def sum_to_shape(grad: Any, shape: tuple[int, ...]) -> Any:
    """Sum `grad` over the axes that broadcasting added or stretched, giving `shape`.

    This is the one place broadcasting is undone: if x of shape (3, 1) met (4,) and gave
    (3, 4), dL/dx is dL/dz summed over axis 1 and kept as (3, 1).
    """
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    if shape and grad.shape[lead:] == shape:
        # Only leading axes were added (a bias): a plain sum has the shape and owns its data.
        return grad.sum(axis=tuple(range(lead)))
    axes = tuple(range(lead)) + tuple(
        lead + i for i, size in enumerate(shape) if size == 1 and grad.shape[lead + i] != 1
    )
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)
