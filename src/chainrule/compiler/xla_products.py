"""Matrix products in the form XLA's CPU compiler runs fastest, for compile(backend="xla").

The XLA program calls each recorded op's own vjp rule (`xla.py`), save for the products'
weight gradient, which `vjp_rule` swaps in from here: the same math, another form of dot.
Measured with jaxlib 0.10.2 on one core (benchmarks/results/session-2026-11-30-d/
xla-w1-notes.txt): XLA sends x^T @ grad_out (a dot contracting both operands' rows) to Eigen
with a transposed operand, ~50% slower than OpenBLAS for W1's (50000, 784)^T @ (50000, 50).
Only on XLA's CPU backend: on a GPU the products' own rules are used (not measured there).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chainrule.primitives import Primitive
from chainrule.primitives.base import Grads, Saved
from chainrule.primitives.linalg import Linear, MatMul

NARROW_COLUMNS = 64
"""The widest gradient (columns of grad_out) emitted as (grad_out^T @ x)^T: measured 0.23-1.0x
the time up to 64 columns, about even at 128 (0.96-0.97x), slower from 256 on (1.03-2.1x)."""


def emits_transposed(x_shape: tuple[int, ...], grad_shape: tuple[int, ...]) -> bool:
    """Whether x^T @ grad_out, for x (rows, k) and grad_out (rows, n), is emitted as
    (grad_out^T @ x)^T: for a narrow gradient (n <= NARROW_COLUMNS and n < k) over more than
    one row, where XLA's dot producing (n, k) runs faster than the one producing (k, n)."""
    rows, k = x_shape
    n = grad_shape[1]
    return rows > 1 and n <= NARROW_COLUMNS and n < k


def weight_gradient(x: Any, grad_out: Any) -> Any:
    """dL/dw = x^T @ grad_out, for 2-D JAX arrays x (rows, k) and grad_out (rows, n),
    computed as (grad_out^T @ x)^T where `emits_transposed` says so. The optimization
    barrier keeps XLA's simplifier from folding the transpose back into the dot (it rewrites
    transpose(dot(a, b)) as dot(b, a), the slow form)."""
    if not emits_transposed(x.shape, grad_out.shape):
        return x.T @ grad_out
    from jax.lax import optimization_barrier  # here: xla.py says first when JAX is missing

    barrier: Callable[[Any], Any] = optimization_barrier
    return barrier(grad_out.T @ x).T


def _matmul_vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
    """MatMul's vjp, its dL/dy = x^T @ grad_out by `weight_gradient` for 2-D operands."""
    x, y = saved
    if not (needs[1] and x.ndim == y.ndim == 2 and emits_transposed(x.shape, grad_out.shape)):
        return MatMul.vjp(saved, grad_out, needs)
    grad_x, _ = MatMul.vjp(saved, grad_out, (needs[0], False))
    return grad_x, weight_gradient(x, grad_out)


def _linear_vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
    """Linear's vjp, its dL/dw = x^T @ grad_out by `weight_gradient` for a 2-D x."""
    x = saved[0]
    if not (needs[1] and x.ndim == 2 and emits_transposed(x.shape, grad_out.shape)):
        return Linear.vjp(saved, grad_out, needs)
    grad_x, _, grad_b = Linear.vjp(saved, grad_out, (needs[0], False, needs[2]))
    return grad_x, weight_gradient(x, grad_out), grad_b


_VJPS: dict[type[Primitive], Callable[[Saved, Any, tuple[bool, ...]], Grads]] = {
    MatMul: _matmul_vjp,
    Linear: _linear_vjp,
}


def vjp_rule(primitive: type[Primitive]) -> Callable[[Saved, Any, tuple[bool, ...]], Grads]:
    """The vjp the XLA program calls for `primitive`: its own, or for the products the same
    rule with the weight gradient in XLA's faster form when JAX computes on its CPU backend."""
    import jax  # here: xla.py says first when JAX is missing

    if jax.default_backend() != "cpu":
        return primitive.vjp
    return _VJPS.get(primitive, primitive.vjp)
