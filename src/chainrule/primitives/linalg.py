"""Matrix products with NumPy's `matmul` semantics: 1-D, 2-D and batched operands.

The rules compute in their inputs' array namespace (chainrule.backends) with the array API
standard's functions and operators; `forward_into`/`vjp_into` are NumPy's compiled kernels.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.backends import namespace
from chainrule.primitives.base import Grads, Outs, Primitive, Saved, reads_the_others
from chainrule.primitives.reading import Rule, linear_map
from chainrule.primitives.reduction import reduced, reshaped


def _product(a: Any, b: Any) -> Any:
    """a @ b, as a broadcast multiply when the inner dimension is 1 (an outer product):
    BLAS is several times slower than an element-wise multiply there."""
    if a.ndim == 2 and b.ndim == 2 and a.shape[1] == 1:
        return a * b
    return a @ b


def product_into(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> np.ndarray:
    """a @ b into out, as `_product` computes it (a broadcast multiply for inner dim 1)."""
    if a.shape[1] == 1:
        np.multiply(a, b, out=out)
    else:
        np.matmul(a, b, out=out)
    return out


def _swap_last(a: Any) -> Any:
    """a with its last two axes swapped (`.T` is the standard's transpose of a matrix only)."""
    if a.ndim == 2:
        return a.T
    return namespace(a).permute_dims(a, (*range(a.ndim - 2), a.ndim - 1, a.ndim - 2))


class MatMul(Primitive):
    """z = x @ y;  dL/dx = grad_out @ y^T,  dL/dy = x^T @ grad_out (over the last two axes).

    A 1-D x is a row (1, k) and a 1-D y a column (k, 1), as in NumPy; batch axes broadcast,
    and the engine sums the gradient over any batch axes an input was broadcast along.
    """

    name = "matmul"
    function = "matmul"
    method = "__matmul__"
    numpy = ("matmul",)
    reading = Rule(
        "$a @ $b",
        "$a $b",
        (
            linear_map("$left_rule", "$left_rule_latex"),
            linear_map("$right_rule", "$right_rule_latex"),
        ),
    )

    reads = reads_the_others

    @staticmethod
    def forward(x: Any, y: Any) -> tuple[Any, Saved]:
        return _product(x, y), (x, y)

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        x, y = saved
        x_row = reshaped(x, (1, x.shape[0])) if x.ndim == 1 else x
        y_col = reshaped(y, (y.shape[0], 1)) if y.ndim == 1 else y
        # Restore the axes NumPy dropped for 1-D operands: y's column first, then x's row.
        grad = grad_out
        if y.ndim == 1:
            grad = reshaped(grad, (*grad.shape, 1))
        if x.ndim == 1:
            grad = reshaped(grad, (*grad.shape[:-1], 1, grad.shape[-1]))
        grad_x = grad_y = None
        if needs[0]:
            grad_x = _product(grad, _swap_last(y_col))
            if x.ndim == 1:
                grad_x = reshaped(grad_x, (*grad_x.shape[:-2], x.shape[0]))
        if needs[1]:
            grad_y = _product(_swap_last(x_row), grad)
            if y.ndim == 1:
                grad_y = reshaped(grad_y, grad_y.shape[:-1])
        return grad_x, grad_y

    @staticmethod
    def forward_into(x: np.ndarray, y: np.ndarray, *, out: np.ndarray) -> tuple[np.ndarray, Saved]:
        """2-D operands only (the compiler checks)."""
        return product_into(x, y, out), (x, y)

    @staticmethod
    def vjp_into(saved: Saved, grad_out: np.ndarray, needs: tuple[bool, ...], outs: Outs) -> Grads:
        """2-D operands only: grad_out @ y.T into outs[0], x.T @ grad_out into outs[1]."""
        x, y = saved
        out_x, out_y = outs
        grad_x = grad_y = None
        if needs[0]:
            grad_x = (
                _product(grad_out, y.T) if out_x is None else product_into(grad_out, y.T, out_x)
            )
        if needs[1]:
            grad_y = (
                _product(x.T, grad_out) if out_y is None else product_into(x.T, grad_out, out_y)
            )
        return grad_x, grad_y


def matmul_shape_error(x_shape: tuple[int, ...], y_shape: tuple[int, ...]) -> str | None:
    """Why `x @ y` is invalid for these shapes, or None when it is valid.

    Called on every recorded product, so the valid 1-D and 2-D case returns before any
    message is formatted or batch dimensions are broadcast.
    """
    if not x_shape or not y_shape:
        return (
            f"matmul: {x_shape} @ {y_shape}: both operands need at least one dimension; "
            "use * for scalars"
        )
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
        return (
            f"matmul: {x_shape} @ {y_shape}: batch dims {x_shape[:-2]} and {y_shape[:-2]} "
            "do not broadcast"
        )
    return None


AFFINE = Rule(
    "$a @ $b + $c",
    r"$a $b + $c",
    (
        linear_map("$left_rule", "$left_rule_latex"),
        linear_map("$right_rule", "$right_rule_latex"),
        linear_map("$bias_rule", "$bias_rule_latex"),
    ),
)
"""x @ w + b read as one step: the tutorial's substitution for matmul then add (explain
groups the two recorded ops under this reading too)."""


def reads_the_others_not_b(needs: tuple[bool, ...]) -> tuple[bool, ...]:
    """`Primitive.reads` of x @ w + b: x's gradient reads w, w's reads x, b's reads nothing."""
    return needs[1], needs[0], False


def _linear_shapes(x: Any, w: Any, b: Any) -> str:
    return (
        f"linear: input {x.shape} @ weight {w.shape} + bias {b.shape}: weight must be "
        "(in_features, out_features) with in_features the input's last dimension, and bias "
        "(out_features,); if a parameter's .data was replaced, give it an array of its old shape"
    )


class Linear(Primitive):
    """z = x @ w + b for x (..., in), w (in, out), b (out,), as one op (an affine layer);
    dL/dx = grad_out @ w.T,  dL/dw = x.T @ grad_out and dL/db = grad_out summed, both over
    every leading axis of x.

    Fused because it halves the recorded ops of a dense network and skips the engine's
    broadcast reduction for the bias; tested against matmul followed by add.
    """

    name = "linear"
    reading = AFFINE
    reads = reads_the_others_not_b

    @staticmethod
    def forward(x: Any, w: Any, b: Any) -> tuple[Any, Saved]:
        # The callers check the shapes they are given, but a parameter's `.data` can be
        # replaced later. The vjp assumes w 2-D and b 1-D (it sums b's gradient to (out,)):
        # checked here; sizes that disagree fail in the product or the sum, named below.
        # (Reading the shapes themselves costs ~1% of a small dense step; ndim does not.)
        if b.ndim != 1 or w.ndim != 2:
            raise ValueError(_linear_shapes(x, w, b))
        try:
            # `_product(x, w)`, inline (the eager step's hot path); x * w only for (N, 1)
            # @ (1, out), where it is the same outer product.
            out = x * w if x.ndim == 2 and x.shape[1] == 1 == w.shape[0] else x @ w
            if isinstance(out, np.ndarray) and out.dtype == b.dtype:
                out += b  # the product is a fresh array: adding in place saves an allocation
            else:
                out = out + b
        except ValueError:
            raise ValueError(_linear_shapes(x, w, b)) from None
        return out, (x, w)

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        x, w = saved
        grad_x = _product(grad_out, w.T) if needs[0] else None
        grad_w = grad_b = None
        rows = grad_out if grad_out.ndim == 2 else reshaped(grad_out, (-1, grad_out.shape[-1]))
        if needs[1]:
            inputs = x if x.ndim == 2 else reshaped(x, (-1, x.shape[-1]))
            grad_w = _product(inputs.T, rows)
        if needs[2]:
            # An ndarray's own sum directly: the eager step's hot path, one Python call.
            grad_b = rows.sum(axis=0) if isinstance(rows, np.ndarray) else reduced(rows, "sum", 0)
        return grad_x, grad_w, grad_b

    @staticmethod
    def forward_into(
        x: np.ndarray, w: np.ndarray, b: np.ndarray, *, out: np.ndarray
    ) -> tuple[np.ndarray, Saved]:
        """2-D operands only (the compiler checks)."""
        product_into(x, w, out)
        out += b
        return out, (x, w)

    @staticmethod
    def vjp_into(saved: Saved, grad_out: np.ndarray, needs: tuple[bool, ...], outs: Outs) -> Grads:
        """2-D operands only: grad_out @ w.T into outs[0], x.T @ grad_out into outs[1] and
        grad_out summed over rows into outs[2] (the same reduction as `rows.sum(axis=0)`)."""
        x, w = saved
        out_x, out_w, out_b = outs
        grad_x = grad_w = grad_b = None
        # `_product` and `product_into`, inline (the eager step's hot path: an unneeded
        # input's gradient is common, a computed input's slot is not): both operands 2-D.
        outer = grad_out.shape[1] == 1
        if needs[0]:
            if out_x is None:
                grad_x = grad_out * w.T if outer else grad_out @ w.T
            else:
                grad_x = product_into(grad_out, w.T, out_x)
        if needs[1]:
            if out_w is None:
                grad_w = x.T * grad_out if x.shape[0] == 1 else x.T @ grad_out
            elif x.shape[0] == 1:
                grad_w = np.multiply(x.T, grad_out, out=out_w)
            else:
                grad_w = np.matmul(x.T, grad_out, out=out_w)
        if needs[2]:
            grad_b = (
                grad_out.sum(axis=0) if out_b is None else np.add.reduce(grad_out, 0, out=out_b)
            )
        return grad_x, grad_w, grad_b
