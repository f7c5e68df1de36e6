"""Tensor methods of the linear algebra ops (x.dot(y), x.trace(), x.diagonal(), x.tril(), ...),
each the function of the same name in chainrule.ops.linalg with the tensor first. Attached to
Tensor when chainrule.ops is imported.
"""

from __future__ import annotations

from typing import Any

from chainrule.ops import linalg
from chainrule.tensor import Tensor, attach_methods


def dot(self: Tensor, b: Any) -> Tensor:
    """np.dot(self, b): see chainrule.dot."""
    return linalg.dot(self, b)


def inner(self: Tensor, b: Any) -> Tensor:
    """np.inner(self, b): the sum over the last axes of both; see chainrule.inner."""
    return linalg.inner(self, b)


def outer(self: Tensor, b: Any) -> Tensor:
    """np.outer(self, b): out[i, j] = self.ravel()[i] * b.ravel()[j]; see chainrule.outer."""
    return linalg.outer(self, b)


def kron(self: Tensor, b: Any) -> Tensor:
    """np.kron(self, b), the Kronecker product; see chainrule.kron."""
    return linalg.kron(self, b)


def trace(self: Tensor, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
    """The sum of the diagonal over axis1 and axis2; see chainrule.trace."""
    return linalg.trace(self, offset, axis1, axis2)


def diagonal(self: Tensor, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
    """The diagonal over axis1 and axis2, as the last axis (a read-only view, as NumPy's);
    see chainrule.diagonal."""
    return linalg.diagonal(self, offset, axis1, axis2)


def diag(self: Tensor, k: int = 0) -> Tensor:
    """The matrix with this vector on diagonal k, or this matrix's diagonal k; see
    chainrule.diag."""
    return linalg.diag(self, k)


def tril(self: Tensor, k: int = 0) -> Tensor:
    """The entries on and below diagonal k of the last two axes, the others 0."""
    return linalg.tril(self, k)


def triu(self: Tensor, k: int = 0) -> Tensor:
    """The entries on and above diagonal k of the last two axes, the others 0."""
    return linalg.triu(self, k)


attach_methods(
    dot,
    inner,
    outer,
    kron,
    trace,
    diagonal,
    diag,
    tril,
    triu,
)
