"""Matrix products with NumPy's `matmul` semantics: 1-D, 2-D and batched operands."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.primitives.base import Grads, Primitive, Saved


def _product(a: Any, b: Any) -> Any:
    """a @ b, as a broadcast multiply when the inner dimension is 1 (an outer product):
    BLAS is several times slower than an element-wise multiply there."""
    if a.ndim == 2 and b.ndim == 2 and a.shape[1] == 1:
        return a * b
    return a @ b


def _swap_last(a: Any) -> Any:
    return a.swapaxes(-1, -2)


class MatMul(Primitive):
    """z = x @ y;  dL/dx = grad_out @ y^T,  dL/dy = x^T @ grad_out (over the last two axes).

    A 1-D x is a row (1, k) and a 1-D y a column (k, 1), as in NumPy; batch axes broadcast,
    and the engine sums the gradient over any batch axes an input was broadcast along.
    """

    name = "matmul"

    @staticmethod
    def forward(x: Any, y: Any) -> tuple[Any, Saved]:
        return _product(x, y), (x, y)

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        x, y = saved
        x_row = x.reshape((1, x.shape[0])) if x.ndim == 1 else x
        y_col = y.reshape((y.shape[0], 1)) if y.ndim == 1 else y
        # Restore the axes NumPy dropped for 1-D operands: y's column first, then x's row.
        grad = grad_out
        if y.ndim == 1:
            grad = grad.reshape((*grad.shape, 1))
        if x.ndim == 1:
            grad = grad.reshape((*grad.shape[:-1], 1, grad.shape[-1]))
        grad_x = grad_y = None
        if needs[0]:
            grad_x = _product(grad, _swap_last(y_col))
            if x.ndim == 1:
                grad_x = grad_x.reshape((*grad_x.shape[:-2], x.shape[0]))
        if needs[1]:
            grad_y = _product(_swap_last(x_row), grad)
            if y.ndim == 1:
                grad_y = grad_y.reshape(grad_y.shape[:-1])
        return grad_x, grad_y


def matmul_shape_error(x_shape: tuple[int, ...], y_shape: tuple[int, ...]) -> str | None:
    """Why `x @ y` is invalid for these shapes, or None when it is valid.

    Called on every recorded product, so the valid 1-D and 2-D case returns before any
    message is formatted or batch dimensions are broadcast.
    """
    if not x_shape or not y_shape:
        return (f"matmul: {x_shape} @ {y_shape}: both operands need at least one dimension; "
                "use * for scalars")
    inner_x = x_shape[-1]
    inner_y = y_shape[0] if len(y_shape) == 1 else y_shape[-2]
    if inner_x != inner_y:
        return (
            f"matmul: {x_shape} @ {y_shape}: inner dims {inner_x} and {inner_y} differ; the "
            "last axis of the left operand must match the second-to-last axis of the right "
            "one (transpose one?)"
        )
    if len(x_shape) <= 2 and len(y_shape) <= 2:
        return None
    try:
        np.broadcast_shapes(x_shape[:-2], y_shape[:-2])
    except ValueError:
        return (f"matmul: {x_shape} @ {y_shape}: batch dims {x_shape[:-2]} and {y_shape[:-2]} "
                "do not broadcast")
    return None
