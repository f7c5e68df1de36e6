"""The ops a PyTorch or NumPy user reaches for first that had no name here yet: chunk,
unbind, round(decimals), amax/amin, bmm, mm, addmm, baddbmm, put_along_axis and scatter (out
of place), clone, narrow, expand_as, matmul as a method, and nan_to_num. All but nan_to_num
(a primitive of its own, primitives/vocabulary.py) are composites of existing ops (views,
Round, Max, MatMul, ScatterAdd), so their derivatives come from those. Attached to Tensor
when chainrule.ops is imported."""

from __future__ import annotations

import math
import operator
from typing import Any

import numpy as np

from chainrule import primitives as P
from chainrule.ops.operators import _operand
from chainrule.ops.operators import matmul as _matmul
from chainrule.ops.reductions import max as _max
from chainrule.ops.reductions import min as _min
from chainrule.ops.shaping_more import (
    _along_index,
    _axis,
    _check_in_range,
    _integers,
    _read_as_settings,
)
from chainrule.primitives.reduction import Axis
from chainrule.tensor import Tensor, _raw, as_tensor, attach_methods


def _count(op: str, what: str, value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{op}: {what} must be an int, got {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{op}: {what} must be an int, got {value!r}") from None


def chunk(self: Tensor, chunks: int, dim: int = 0) -> list[Tensor]:
    """torch.chunk: views of ceil(n / chunks) entries along `dim` (n its size), the last one
    shorter, so there may be fewer than `chunks` parts (5 entries in 4 chunks: 2, 2, 1).
    Their gradients add up to the gradient of the whole."""
    count = _count("chunk", "chunks", chunks)
    if count <= 0:
        raise ValueError(f"chunk: chunks must be a positive int, got {count}")
    if self.ndim == 0:
        raise ValueError("chunk: a 0-d tensor has no axis to cut; reshape it to (1,) first")
    along = _axis("chunk", dim, self.ndim)
    size = self.shape[along]
    step = math.ceil(size / count)
    before: tuple[Any, ...] = (slice(None),) * along
    if step == 0:  # an empty axis: torch returns `chunks` empty parts
        empty = (*before, slice(0, 0))
        return [self[empty] for _ in range(count)]
    parts = [(*before, slice(start, start + step)) for start in range(0, size, step)]
    return [self[part] for part in parts]


def unbind(self: Tensor, dim: int = 0) -> tuple[Tensor, ...]:
    """torch.unbind: the slices x[..., i, ...] along `dim`, each without that axis;
    their gradients add up to the gradient of the whole."""
    if self.ndim == 0:
        raise ValueError("unbind: a 0-d tensor has no axis to unbind along")
    along = _axis("unbind", dim, self.ndim)
    before: tuple[Any, ...] = (slice(None),) * along
    slices = [(*before, i) for i in range(self.shape[along])]
    return tuple(self[part] for part in slices)


def round(self: Tensor, decimals: int = 0) -> Tensor:
    digits = _count("round", "decimals", decimals)
    if digits == 0:
        return Tensor._apply(P.Round, (self,), {})
    if self.dtype.kind != "f":
        raise TypeError(
            f"round: decimals={digits} needs a floating tensor, got {self.dtype} (as "
            "torch.round); convert it first (x.astype(np.float64).round(decimals))"
        )
    # float16 is scaled in float32, as torch computes half: 1234.5 * 100 overflows float16
    # and 25 * 1000 is not exact in it.
    source = self.astype(np.float32) if self.dtype == np.float16 else self
    scale = source.dtype.type(10.0 ** abs(digits))
    if digits > 0:
        rounded: Tensor = Tensor._apply(P.Round, (source * scale,), {}) / scale
    else:
        rounded = Tensor._apply(P.Round, (source / scale,), {}) * scale
    return rounded.astype(self.dtype)


def _torch_dims(dim: Axis | list[int]) -> Axis:
    """torch's dim: a list is a tuple, and () or [] (torch.amax's default) means every axis,
    where NumPy's axis=() reduces none."""
    if isinstance(dim, (list, tuple)):
        return tuple(dim) if len(dim) else None
    return dim


def amax(self: Tensor, dim: Axis | list[int] = None, keepdim: bool = False) -> Tensor:
    """torch.amax: the largest value over `dim` (all axes when None or ()); tied entries share
    the gradient equally, as torch.amax (torch.max(dim) instead sends it all to one index)."""
    return _max(self, _torch_dims(dim), keepdim)


def amin(self: Tensor, dim: Axis | list[int] = None, keepdim: bool = False) -> Tensor:
    """torch.amin: the smallest value over `dim` (all axes when None or ()); tied entries
    share the gradient equally."""
    return _min(self, _torch_dims(dim), keepdim)


def _check_batched(op: str, left: Tensor, right: Tensor) -> None:
    if left.ndim != 3 or right.ndim != 3:
        raise ValueError(
            f"{op}: needs two 3-D tensors (b, n, m) and (b, m, p), got shapes {left.shape} "
            f"and {right.shape}; use matmul for other ranks (it broadcasts the batch)"
        )
    if left.shape[0] != right.shape[0] or left.shape[2] != right.shape[1]:
        raise ValueError(
            f"{op}: shapes {left.shape} and {right.shape} do not fit (b, n, m) @ (b, m, p): "
            "the batch sizes and the inner sizes must agree"
        )


def bmm(self: Tensor, mat2: Any) -> Tensor:
    """torch.bmm: z[b] = x[b] @ y[b] for 3-D x (b, n, m) and y (b, m, p), without
    broadcasting;  dL/dx[b] = grad_out[b] @ y[b].T, dL/dy[b] = x[b].T @ grad_out[b]."""
    _check_batched("bmm", self, as_tensor(mat2))
    return _matmul(self, mat2)  # a list or number takes self's dtype, as with @


def _scaled(op: str, beta: float, input: Any, alpha: float, product: Tensor) -> Tensor:
    base = _operand(input, product)  # a number or list takes the product's dtype, as with +
    try:
        # to the product's shape, not with it: a larger input would widen the result
        fits = np.broadcast_shapes(base.shape, product.shape) == product.shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(
            f"{op}: input of shape {base.shape} does not broadcast to the product's shape "
            f"{product.shape}, as torch requires; give an input of at most that shape"
        )
    scaled_product = product if alpha == 1 else product * alpha
    if beta == 0:
        # input ignored, its NaN and inf included, with a zero gradient, as torch does
        return scaled_product + base.masked_fill(np.ones(base.shape, dtype=bool), 0.0)
    return (base if beta == 1 else base * beta) + scaled_product


def addmm(input: Any, mat1: Any, mat2: Any, *, beta: float = 1, alpha: float = 1) -> Tensor:
    """torch.addmm: beta * input + alpha * (mat1 @ mat2) for 2-D mat1 (n, m), mat2 (m, p) and
    input broadcasting to (n, p); with beta = 0 input is ignored (its NaNs too)."""
    left, right = as_tensor(mat1), as_tensor(mat2)
    if left.ndim != 2 or right.ndim != 2 or left.shape[1] != right.shape[0]:
        raise ValueError(
            f"addmm: needs 2-D mat1 (n, m) and mat2 (m, p), got shapes {left.shape} and "
            f"{right.shape}"
        )
    return _scaled("addmm", beta, input, alpha, _matmul(mat1, mat2))


def baddbmm(input: Any, batch1: Any, batch2: Any, *, beta: float = 1, alpha: float = 1) -> Tensor:
    """torch.baddbmm: beta * input + alpha * bmm(batch1, batch2), input broadcasting to
    (b, n, p); with beta = 0 input is ignored (its NaNs too)."""
    _check_batched("baddbmm", as_tensor(batch1), as_tensor(batch2))
    return _scaled("baddbmm", beta, input, alpha, _matmul(batch1, batch2))


def put_along_axis(self: Tensor, indices: Any, values: Any, axis: int | None) -> Tensor:
    """np.put_along_axis out of place: a copy of x with out[..., indices[..., j, ...], ...] =
    values[..., j, ...] along `axis` (indices broadcast against x on the other axes, values
    against the indices). The gradient to x is grad_out where nothing was written, 0 where
    something was; to values, grad_out at the written positions (summed where values
    broadcast). A position written twice is refused: NumPy keeps the last write, which leaves
    the gradient ill-defined. chainrule's tensors are not changed in place by this op; assign
    the result (x = chainrule.put_along_axis(x, ...))."""
    # The positions written are a mask made from the indices' values (below): a compiled
    # step's trace holds for these indices only.
    _read_as_settings("put_along_axis", indices)
    index = _integers("put_along_axis", "indices", indices)
    if axis is None:
        if index.ndim != 1:
            raise ValueError(
                f"put_along_axis: with axis=None the indices must be 1-D, got shape {index.shape}"
            )
        flat = put_along_axis(self.reshape(-1), index, values, 0)
        return flat.reshape(self.shape)
    if self.ndim == 0:
        raise ValueError(
            "put_along_axis: a 0-d tensor has no axis to write along; reshape it to (1,) first"
        )
    along = _axis("put_along_axis", axis, self.ndim)
    return _put("put_along_axis", self, index, values, along, self.shape)


def scatter(self: Tensor, dim: int, index: Any, src: Any) -> Tensor:
    """torch.scatter out of place: a copy of x with out[index[i][j]][j] = src[i][j] for
    dim 0 (and so on; src a tensor of at least index's sizes, or a number), index no larger
    than x along the other axes. Gradients as put_along_axis; a position written twice is
    refused (PyTorch leaves which write wins undefined)."""
    if self.ndim == 0:
        raise ValueError(
            "scatter: a 0-d tensor has no axis to write along; reshape it to (1,) first"
        )
    _read_as_settings("scatter", index)  # as put_along_axis: the mask comes from its values
    positions = _integers("scatter", "index", index)
    along = _axis("scatter", dim, self.ndim)
    if isinstance(src, Tensor):
        source: Tensor | None = src
    else:  # an array is a src, a number torch's `value`
        source = Tensor(np.asarray(src, self.dtype)) if np.ndim(src) else None
    if positions.ndim != self.ndim or (source is not None and source.ndim != self.ndim):
        raise ValueError(
            f"scatter: tensor {self.shape}, index {positions.shape} and src "
            f"{None if source is None else source.shape} need the same number of dimensions"
        )
    too_big = [
        d
        for d in range(positions.ndim)
        if (source is not None and positions.shape[d] > source.shape[d])
        or (d != along and positions.shape[d] > self.shape[d])
    ]
    if too_big:
        raise ValueError(
            f"scatter: index of shape {positions.shape} is larger than src or the tensor "
            f"{self.shape} along axis {too_big[0]}; index may not exceed src anywhere, nor the "
            "tensor along the axes other than dim"
        )
    values = src if source is None else source[tuple(slice(0, n) for n in positions.shape)]
    return _put("scatter", self, positions, values, along, positions.shape)


def _put(op: str, self: Tensor, index: np.ndarray, values: Any, along: int, sizes: Any) -> Tensor:
    """x with `values` written at `index` along `along` and positions 0..sizes[d]-1 along the
    other axes: a ScatterAdd of the values into zeros, added to x with those positions
    zeroed."""
    if index.ndim != self.ndim:
        raise ValueError(
            f"{op}: indices of shape {index.shape} need as many dimensions as the "
            f"tensor (shape {self.shape})"
        )
    _check_in_range(op, index, self.shape[along], along, self.shape)
    positions = _along_index(along, index, sizes)
    try:
        written_shape = np.broadcast_shapes(*(part.shape for part in positions))
    except ValueError:
        raise ValueError(
            f"{op}: indices of shape {index.shape} do not fit the tensor of shape "
            f"{self.shape} along the axes other than {along}"
        ) from None
    linear = np.ravel_multi_index(
        tuple(np.broadcast_to(part, written_shape) for part in positions), self.shape, mode="wrap"
    )
    if np.unique(linear).size != linear.size:
        raise ValueError(
            f"{op}: indices write one position of axis {along} more than once; NumPy keeps "
            "the last write and PyTorch an undefined one, which leaves the gradient "
            "ill-defined, so give each position at most once, or add with scatter_add"
        )
    source = values if isinstance(values, Tensor) else Tensor(np.asarray(values, self.dtype))
    if source.dtype != self.dtype:
        source = source.astype(self.dtype)
    try:
        np.broadcast_shapes(source.shape, written_shape)
        spread = source.broadcast_to(written_shape)
    except ValueError:
        raise ValueError(
            f"{op}: values of shape {source.shape} do not broadcast to the "
            f"written positions' shape {written_shape}"
        ) from None
    written = np.zeros(self.shape, dtype=bool)
    written[positions] = True
    placed = Tensor._apply(P.ScatterAdd, (spread,), {"shape": self.shape, "index": positions})
    return self.masked_fill(written, 0.0) + placed


def matmul(self: Tensor, other: Any) -> Tensor:
    """x @ other, as torch.Tensor.matmul."""
    return _matmul(self, other)


def mm(self: Tensor, mat2: Any) -> Tensor:
    """torch.mm: x @ y for 2-D x (n, m) and y (m, p) only (no broadcasting)."""
    right = as_tensor(mat2)
    if self.ndim != 2 or right.ndim != 2 or self.shape[1] != right.shape[0]:
        raise ValueError(
            f"mm: needs 2-D tensors (n, m) and (m, p), got shapes {self.shape} and "
            f"{right.shape}; use matmul for other ranks"
        )
    return _matmul(self, mat2)


def clone(self: Tensor) -> Tensor:
    """A copy of x in new memory, in the graph: dz/dx = 1, as torch.clone (-0.0 and NaN
    kept). An integer or bool tensor keeps its dtype (x * 1 would make bool int64)."""
    if self.dtype.kind != "f":
        return Tensor._apply(P.Cast, (self,), {"dtype": self.dtype})
    return self * 1


def narrow(self: Tensor, dim: int, start: int, length: int) -> Tensor:
    """torch.narrow: the view x[..., start:start + length, ...] along `dim`."""
    along = _axis("narrow", dim, self.ndim)
    size = self.shape[along]
    first, count = _count("narrow", "start", start), _count("narrow", "length", length)
    first = first + size if first < 0 else first
    if not 0 <= first <= size or count < 0 or first + count > size:
        raise ValueError(
            f"narrow: start {start} and length {length} do not fit axis {along} of size {size} "
            f"(tensor shape {self.shape}); need 0 <= start and start + length <= {size}"
        )
    window = (*(slice(None),) * along, slice(first, first + count))
    return self[window]


def expand_as(self: Tensor, other: Any) -> Tensor:
    """torch.expand_as: x broadcast to other's shape (a read-only view); the gradient sums
    back over the broadcast axes."""
    return self.broadcast_to(as_tensor(other).shape)


def nan_to_num(
    self: Tensor, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None
) -> Tensor:
    """torch.nan_to_num (np.nan_to_num): NaN -> `nan`, +inf -> `posinf` and -inf ->
    `neginf` (by default the dtype's largest and smallest finite values);  dz/dx = [x finite],
    as PyTorch. Integer tensors, which hold no NaN, come back as a copy."""
    if self.dtype.kind != "f":
        return clone(self)
    limits = np.finfo(self.dtype)
    given = {
        "nan": nan,
        "posinf": limits.max if posinf is None else posinf,
        "neginf": limits.min if neginf is None else neginf,
    }
    with np.errstate(over="ignore"):  # a value past the dtype's range becomes inf, as torch
        values = {key: float(np.asarray(value, self.dtype)) for key, value in given.items()}
    return Tensor._apply(P.NanToNum, (self,), values)


def view(self: Tensor, *shape: Any) -> Tensor:
    """torch's view: the same values in a new shape (one entry may be -1) sharing x's memory,
    so an in-place change of either shows in both; refused where NumPy's reshape would have
    to copy (a transposed tensor), as torch refuses: use reshape there. dz/dx = reshape back."""
    if len(shape) == 1 and isinstance(shape[0], (type, np.dtype, str)):
        raise TypeError(
            f"view: torch's view(dtype), which reinterprets the bytes, is not supported (got "
            f"{shape[0]!r}); give a shape, or convert the values with astype"
        )
    out = self.reshape(*shape)
    data, base = _raw(out), _raw(self)
    copied = (
        isinstance(data, np.ndarray)
        and isinstance(base, np.ndarray)
        and data.size > 0
        and not np.shares_memory(data, base)
    )
    if copied:
        raise ValueError(
            f"view: a tensor of shape {self.shape} and strides {base.strides} cannot be "
            f"viewed in shape {out.shape} without copying; use reshape, which copies where it "
            "must"
        )
    return out


def view_as(self: Tensor, other: Any) -> Tensor:
    """x.view(other.shape), as torch's view_as."""
    return view(self, as_tensor(other).shape)


round.__doc__ = P.Round.__doc__  # the rule's formula states decimals too
attach_methods(
    chunk,
    unbind,
    round,
    amax,
    amin,
    bmm,
    put_along_axis,
    scatter,
    matmul,
    mm,
    clone,
    narrow,
    expand_as,
    nan_to_num,
    view,
    view_as,
)
