"""Broadcasting, in one place: the rule that decides the shape two inputs broadcast to, and
its reverse, which sums a gradient back to an input's shape. No rule repeats either: the
engine applies `sum_to_shape` to every input of an op that `broadcasts`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.backends import namespace


def broadcast_shapes(op: str, *shapes: tuple[int, ...]) -> tuple[int, ...]:
    """The shape `shapes` broadcast to under NumPy's rule (align the trailing axes; each pair
    of sizes is equal or one of them is 1); a ValueError naming `op` and the shapes if they
    do not."""
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        shown = " and ".join(str(shape) for shape in shapes)
        raise ValueError(
            f"{op}: shapes {shown} cannot broadcast; trailing dimensions must be equal or 1 "
            "(reshape one, e.g. y.reshape(-1, 1))"
        ) from None


def sum_to_shape(grad: Any, shape: tuple[int, ...]) -> Any:
    """Sum `grad` over the axes that broadcasting added or stretched, giving `shape`.

    This is the one place broadcasting is undone: if x of shape (3, 1) met (4,) and gave
    (3, 4), dL/dx is dL/dz summed over axis 1 and kept as (3, 1).
    """
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    xp = namespace(grad)
    if shape and grad.shape[lead:] == shape:
        # Only leading axes were added (a bias): a plain sum has the shape and owns its data.
        axes = tuple(range(lead))
        return grad.sum(axis=axes) if xp is np else xp.sum(grad, axis=axes)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, size in enumerate(shape) if size == 1 and grad.shape[lead + i] != 1
    )
    # NumPy arrays and Tensors reduce with their methods (a Tensor's are recorded); other
    # libraries' arrays with their namespace, since the standard's arrays have no methods.
    if xp is np:
        if axes:
            grad = grad.sum(axis=axes, keepdims=True)
        return grad.reshape(shape)
    if axes:
        grad = xp.sum(grad, axis=axes, keepdims=True)
    return xp.reshape(grad, shape)
