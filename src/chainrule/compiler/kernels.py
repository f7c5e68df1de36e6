"""Buffer-writing versions of the hot primitives, for compiled replays.

Each kernel computes exactly what its primitive computes, with the same NumPy calls given
`out=`, so replays stay bit-identical to eager execution; the difference is that the output
lands in an array the program allocated once and reuses on every replay, instead of a fresh
one that the allocator (for arrays past 128 KiB, the kernel's page faults) must provide.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule import primitives as P

ForwardKernel = Callable[..., tuple[np.ndarray, Any]]
VjpKernel = Callable[[Any, np.ndarray, tuple[bool, ...], np.ndarray], tuple[Any, ...]]


def product_into(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> np.ndarray:
    """a @ b into out, as the primitives compute it (a broadcast multiply for inner dim 1)."""
    if a.shape[1] == 1:
        np.multiply(a, b, out=out)
    else:
        np.matmul(a, b, out=out)
    return out


def _linear(x: np.ndarray, w: np.ndarray, b: np.ndarray, *, out: np.ndarray) -> tuple[
    np.ndarray, Any
]:
    product_into(x, w, out)
    out += b
    return out, (x, w)


def _matmul(x: np.ndarray, y: np.ndarray, *, out: np.ndarray) -> tuple[np.ndarray, Any]:
    return product_into(x, y, out), (x, y)


def _add(x: np.ndarray, y: np.ndarray, *, out: np.ndarray) -> tuple[np.ndarray, Any]:
    return np.add(x, y, out=out), None


def _sub(x: np.ndarray, y: np.ndarray, *, out: np.ndarray) -> tuple[np.ndarray, Any]:
    return np.subtract(x, y, out=out), None


def _mul(x: np.ndarray, y: np.ndarray, *, out: np.ndarray) -> tuple[np.ndarray, Any]:
    return np.multiply(x, y, out=out), (x, y)


def _relu(x: np.ndarray, *, out: np.ndarray) -> tuple[np.ndarray, Any]:
    mask = x > 0
    return np.maximum(x, 0, out=out), mask


FORWARD: dict[type[P.Primitive], ForwardKernel] = {
    P.Linear: _linear,
    P.MatMul: _matmul,
    P.Add: _add,
    P.Sub: _sub,
    P.Mul: _mul,
    P.ReLU: _relu,
}
"""Forward kernels; MatMul and Linear only for 2-D operands (checked by the program)."""


def _linear_vjp(saved: Any, grad_out: np.ndarray, needs: tuple[bool, ...],
                out: np.ndarray) -> tuple[Any, ...]:
    w = saved[1]
    _, grad_w, grad_b = P.Linear.vjp(saved, grad_out, (False, needs[1], needs[2]))
    return product_into(grad_out, w.T, out), grad_w, grad_b


def _matmul_vjp(saved: Any, grad_out: np.ndarray, needs: tuple[bool, ...],
                out: np.ndarray) -> tuple[Any, ...]:
    y = saved[1]
    _, grad_y = P.MatMul.vjp(saved, grad_out, (False, needs[1]))
    return product_into(grad_out, y.T, out), grad_y


def _relu_vjp(saved: Any, grad_out: np.ndarray, needs: tuple[bool, ...],
              out: np.ndarray) -> tuple[Any, ...]:
    return (np.multiply(grad_out, saved, out=out),)


VJP: dict[type[P.Primitive], VjpKernel] = {
    P.Linear: _linear_vjp,
    P.MatMul: _matmul_vjp,
    P.ReLU: _relu_vjp,
}
"""Backward kernels writing the gradient of the first input (an activation) into a buffer;
the parameters' gradients stay fresh arrays, since they are handed out as `.grad`."""
