"""The buffer-writing kernels of the hot primitives, for compiled replays, as the primitives
declare them (`Primitive.forward_into`, `Primitive.vjp_into`).

Each kernel computes exactly what its primitive computes, with the same NumPy calls given
`out=`, so replays stay bit-identical to eager execution; the output lands in an array the
program allocated once and reuses on every replay, instead of a fresh one that the allocator
(for arrays past 128 KiB, the kernel's page faults) must provide.
"""

from __future__ import annotations

from chainrule import primitives as P
from chainrule.primitives.base import ForwardKernel, VjpKernel
from chainrule.primitives.linalg import product_into

__all__ = ["FORWARD", "VJP", "ForwardKernel", "VjpKernel", "product_into"]

FORWARD: dict[type[P.Primitive], ForwardKernel] = {
    primitive: primitive.forward_into
    for primitive in P.PRIMITIVES
    if primitive.forward_into is not None
}
"""Forward kernels; MatMul and Linear only for 2-D operands (checked by the program)."""

VJP: dict[type[P.Primitive], VjpKernel] = {
    primitive: primitive.vjp_into for primitive in P.PRIMITIVES if primitive.vjp_into is not None
}
"""Backward kernels writing the gradient of the first input (an activation) into a buffer;
the parameters' gradients stay fresh arrays, since they are handed out as `.grad`."""
