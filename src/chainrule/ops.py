"""The ops as functions, `chainrule.exp(x)` beside `x.exp()`, taking Tensors or array-likes.

Each returns a Tensor; see the Tensor method of the same name for the derivative.
"""

from __future__ import annotations

from typing import Any

import numpy.typing as npt

from chainrule.primitives.reduction import Axis
from chainrule.tensor import (
    Tensor,
    as_tensor,
    concatenate,
    matmul,
    maximum,
    minimum,
    stack,
    where,
)


def tensor(
    data: Any,
    *,
    requires_grad: bool = False,
    dtype: npt.DTypeLike | None = None,
    name: str | None = None,
) -> Tensor:
    """A new Tensor. NumPy float arrays keep their dtype (and are shared, not copied); Python
    numbers, lists and integer data become float32 unless `dtype` says otherwise."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, name=name)


def exp(x: Any) -> Tensor:
    return as_tensor(x).exp()


def log(x: Any) -> Tensor:
    return as_tensor(x).log()


def sqrt(x: Any) -> Tensor:
    return as_tensor(x).sqrt()


def abs(x: Any) -> Tensor:
    return as_tensor(x).abs()


def tanh(x: Any) -> Tensor:
    return as_tensor(x).tanh()


def sigmoid(x: Any) -> Tensor:
    return as_tensor(x).sigmoid()


def relu(x: Any) -> Tensor:
    return as_tensor(x).relu()


def sum(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    return as_tensor(x).sum(axis=axis, keepdims=keepdims)


def mean(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    return as_tensor(x).mean(axis=axis, keepdims=keepdims)


def max(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    return as_tensor(x).max(axis=axis, keepdims=keepdims)


def min(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    return as_tensor(x).min(axis=axis, keepdims=keepdims)


def var(x: Any, axis: Axis = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
    return as_tensor(x).var(axis=axis, keepdims=keepdims, ddof=ddof)


def reshape(x: Any, shape: tuple[int, ...]) -> Tensor:
    return as_tensor(x).reshape(shape)


def transpose(x: Any, axes: tuple[int, ...] | None = None) -> Tensor:
    return as_tensor(x).transpose(*(axes or ()))


def clip(x: Any, min: float | None = None, max: float | None = None) -> Tensor:
    return as_tensor(x).clip(min, max)


def logsumexp(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    return as_tensor(x).logsumexp(axis=axis, keepdims=keepdims)


def softmax(x: Any, axis: int = -1) -> Tensor:
    return as_tensor(x).softmax(axis=axis)


def log_softmax(x: Any, axis: int = -1) -> Tensor:
    return as_tensor(x).log_softmax(axis=axis)


__all__ = [
    "abs",
    "clip",
    "concatenate",
    "exp",
    "log",
    "log_softmax",
    "logsumexp",
    "matmul",
    "max",
    "maximum",
    "mean",
    "min",
    "minimum",
    "relu",
    "reshape",
    "sigmoid",
    "softmax",
    "sqrt",
    "stack",
    "sum",
    "tanh",
    "tensor",
    "transpose",
    "var",
    "where",
]
