"""More reductions, the scans, sorting and the integer- and bool-valued reductions, as Tensor
methods: prod, std, norm, cumsum, cumprod, logcumsumexp, sort, argsort, topk, argmax, argmin,
any and all. std, norm, sort and topk are built from primitives (sort and topk gather with
the order found from the values, so their gradients scatter back to where each value came
from); the argument names are NumPy's, the gradients PyTorch's. Attached to Tensor when
chainrule.ops is imported.
"""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from chainrule import primitives as P
from chainrule.dtypes import numpy_dtype
from chainrule.modes import STATE
from chainrule.ops.composites import refuse_spread_positionals
from chainrule.ops.reductions import _check_axes, _reduce
from chainrule.placement import device_of_tensor, move, to_numpy
from chainrule.primitives.reduction import Axis
from chainrule.tensor import Tensor, attach_methods

Order = float | str | None


def _refuse_while_tracing(self: Tensor, op: str) -> None:
    """Under chainrule.compile's tracing, refuse an op whose result depends on the order of
    the values (indices, a selection): the trace would keep the first call's order."""
    if STATE.tracer is not None:
        STATE.tracer.refuse_conversion(
            self, op, f"; {op} picks entries by their values, which a replay cannot redo"
        )


def _one_axis(op: str, axis: int, ndim: int) -> int:
    """`axis` checked and made non-negative, for an op along one axis of a tensor with at
    least one dimension."""
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError(f"{op}: axis must be one integer, got {axis!r}")
    _check_axes(op, int(axis), ndim)
    return int(axis) % builtins.max(ndim, 1)


def prod(self: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Product over `axis` (all by default);  d/dx_i = product of the other entries (zeros
    handled as PyTorch: one zero gets the product of the others, two or more give 0)."""
    return _reduce(self, P.Prod, axis, keepdims)


def std(
    self: Tensor, axis: Axis = None, *after_axis: object, keepdims: bool = False, ddof: int = 0
) -> Tensor:
    """sqrt(var(x)) over `axis`, divided by n - ddof inside (NumPy's default ddof=0;
    PyTorch's correction=1 is ddof=1);  d/dx_i = (x_i - mean) / ((n - ddof) std), and 0
    where the values do not spread (std = 0), as PyTorch. keepdims and ddof are keyword-only
    (x.std(1, True) is PyTorch's unbiased std, so it is refused rather than read as keepdims).

    float16 and float32 go through float64, as PyTorch accumulates them: the squares of a
    float32 spread of 1e-25 underflow to 0 and those of 3e38 overflow, where the std does not.
    """
    refuse_spread_positionals("std", after_axis)
    axis = _check_axes("std", axis, self.ndim)
    if self.dtype in (np.float16, np.float32):
        wide = std(self.astype(np.float64), axis, keepdims=keepdims, ddof=ddof)
        return wide.astype(self.dtype)
    count = 1
    for a in P.normalize_axes(axis, self.ndim):
        count *= self.shape[a]
    if count - ddof <= 0:
        raise ValueError(f"std: {count} values with ddof={ddof} leave no degrees of freedom")
    centered = self - self.mean(axis=axis, keepdims=True)
    return _norm2(centered, axis, keepdims) / float(np.sqrt(count - ddof))


def _constant(values: Any, dtype: Any = None, like: Tensor | None = None) -> Tensor:
    """A constant tensor of exactly these values and dtype (no float32 default applied), in
    `like`'s library and on its device (an index found from a tensor on array_api_strict's
    device1 stays there, as torch.argmax's stays on the input's device)."""
    array = np.asarray(values, dtype=dtype)
    if like is not None and type(like._data) is not np.ndarray:
        moved = move(array, device_of_tensor(like))  # JAX without x64 keeps int32
        return Tensor(moved, dtype=numpy_dtype(moved.dtype))
    return Tensor(array, dtype=array.dtype)


def _norm2(x: Tensor, axis: Axis, keepdims: bool) -> Tensor:
    return Tensor._apply(P.Norm2, (x,), {"axis": axis, "keepdims": keepdims})


def _count_nonzero(x: Tensor, axis: Axis, keepdims: bool) -> Tensor:
    """The "0-norm": how many entries are not 0 (NaN and inf count, as NumPy and PyTorch).
    Built from |sign(x)| so that it stays on x's graph with gradient 0 everywhere, as
    torch.linalg.vector_norm(x, 0): a detached count would make backward() refuse it."""
    from chainrule.ops import where

    _refuse_while_tracing(x, "norm with ord=0")
    nonzero = x.sign().abs()
    is_nan = x._data != x._data
    if to_numpy(is_nan).any():  # sign(NaN) is NaN; a NaN entry is not 0, so it counts 1
        nonzero = where(is_nan, 1.0, nonzero)
    return nonzero.sum(axis=axis, keepdims=keepdims)


def _vector_norm(x: Tensor, ord: Order, axis: Axis, keepdims: bool) -> Tensor:
    if ord is None or ord == 2:
        return _norm2(x, axis, keepdims)
    if ord == 1:
        return x.abs().sum(axis=axis, keepdims=keepdims)
    if ord in (np.inf, -np.inf) and isinstance(axis, int) and x.shape[axis] == 0:
        raise ValueError(
            f"norm: ord={ord!r} is the {'largest' if ord > 0 else 'smallest'} |x|, and the "
            f"tensor of shape {x.shape} has no values along axis {axis}; it has no such norm"
        )
    if ord == np.inf:
        return x.abs().max(axis=axis, keepdims=keepdims)
    if ord == -np.inf:
        return x.abs().min(axis=axis, keepdims=keepdims)
    if ord == 0:
        return _count_nonzero(x, axis, keepdims)
    if isinstance(ord, (int, float)) and not isinstance(ord, bool) and not np.isnan(ord):
        return Tensor._apply(P.PNorm, (x,), {"ord": float(ord), "axis": axis, "keepdims": keepdims})
    raise ValueError(
        f"norm: ord={ord!r} is not a vector norm chainrule computes; use None or 2, 1, "
        "np.inf, -np.inf, 0 or another real number p (not NaN)"
    )


def _matrix_norm(x: Tensor, ord: Order, axes: tuple[int, int], keepdims: bool) -> Tensor:
    rows, cols = axes
    if ord is None or ord == "fro":
        return _norm2(x, axes, keepdims)
    if ord in (1, -1, np.inf, -np.inf):
        # 1: the largest column sum of |x| (sum over rows); inf: the largest row sum.
        summed, other = (rows, cols) if ord in (1, -1) else (cols, rows)
        sums = x.abs().sum(axis=summed, keepdims=True)
        if ord in (-1, -np.inf):
            if x.shape[other] == 0:
                raise ValueError(
                    f"norm: ord={ord!r} is the smallest {'column' if ord == -1 else 'row'} "
                    f"sum of |x|, and the matrix of shape {x.shape} has none; it has no such norm"
                )
            pick = sums.min
        else:
            # With no columns (rows) the largest of nothing is 0, as NumPy and PyTorch: a sum
            # over the empty axis gives those zeros, with their (empty) gradient.
            pick = sums.max if x.shape[other] else sums.sum
        out = pick(axis=other, keepdims=True)
        if keepdims:
            return out
        return out.reshape(tuple(n for a, n in enumerate(x.shape) if a not in axes))
    raise ValueError(
        f"norm: ord={ord!r} is not a matrix norm chainrule computes; use None or 'fro', 1, "
        "-1, np.inf or -np.inf (2 and 'nuc' need singular values)"
    )


def norm(self: Tensor, ord: Order = None, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """np.linalg.norm: with axis=None and ord=None the 2-norm of all entries; a vector
    p-norm over one axis (ord None/2, 1, inf, -inf, 0, any real p); a matrix norm over two axes
    or of a 2-D tensor (ord None/'fro', 1, -1, inf, -inf). The 2-norm's gradient is x / norm,
    and 0 at x = 0, as PyTorch's subgradient."""
    if self.dtype.kind != "f":  # every norm of integers is a float: float32, as PyTorch's
        return norm(
            Tensor._apply(P.Cast, (self,), {"dtype": np.dtype(np.float32)}), ord, axis, keepdims
        )
    if axis is None:
        if ord is None:
            return _vector_norm(self, None, None, keepdims)
        if self.ndim == 1:
            return _vector_norm(self, ord, 0, keepdims)
        if self.ndim == 2:
            return _matrix_norm(self, ord, (0, 1), keepdims)
        raise ValueError(
            f"norm: ord={ord!r} with axis=None needs a 1-D or 2-D tensor, got shape "
            f"{self.shape}; give axis= (one axis for a vector norm, two for a matrix norm)"
        )
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    _check_axes("norm", axes, self.ndim, distinct=False)  # its own message says why
    if len(axes) == 1:
        return _vector_norm(self, ord, int(axes[0]), keepdims)
    if len(axes) == 2 and axes[0] % self.ndim != axes[1] % self.ndim:
        pair = (int(axes[0]) % self.ndim, int(axes[1]) % self.ndim)
        return _matrix_norm(self, ord, pair, keepdims)
    raise ValueError(
        f"norm: axis={axis!r} must be one axis (a vector norm) or two different axes (a "
        "matrix norm)"
    )


def _scan(self: Tensor, primitive: type[P.Primitive], axis: int | None) -> Tensor:
    """`primitive` along `axis`; axis=None scans the flattened values (as NumPy), and a 0-d
    tensor takes axis 0 or -1 and stays 0-d (as PyTorch)."""
    if axis is None:
        flat = self if self.ndim == 1 else self.reshape(-1)
        return Tensor._apply(primitive, (flat,), {"axis": 0})
    along = _one_axis(primitive.name, axis, self.ndim)
    if self.ndim == 0:
        return Tensor._apply(primitive, (self.reshape(1),), {"axis": 0}).reshape(())
    return Tensor._apply(primitive, (self,), {"axis": along})


def cumsum(self: Tensor, axis: int | None = None) -> Tensor:
    """Running sum along `axis` (of the flattened values by default, as NumPy);
    d/dx_i = sum_{k >= i} grad_out_k."""
    return _scan(self, P.CumSum, axis)


def cumprod(self: Tensor, axis: int | None = None) -> Tensor:
    """Running product along `axis` (of the flattened values by default, as NumPy);
    d/dx_i = sum_{k >= i} grad_out_k prod_{j <= k, j != i} x_j (zeros included)."""
    return _scan(self, P.CumProd, axis)


def logcumsumexp(self: Tensor, axis: int | None = None) -> Tensor:
    """log of the running sum of exp along `axis` (flattened by default), without overflow;
    d/dx_i = sum_{k >= i} grad_out_k exp(x_i - out_k)."""
    return _scan(self, P.LogCumSumExp, axis)


def _arg_reduce(self: Tensor, op: str, axis: int | None, keepdims: bool) -> Tensor:
    _refuse_while_tracing(self, op)
    along = None if axis is None else _one_axis(op, axis, self.ndim)
    if self.size == 0 and (along is None or self.ndim == 0 or self.shape[along] == 0):
        where = "" if along is None else f" along axis {axis}"
        raise ValueError(f"{op}: the tensor is empty (shape {self.shape}){where}; it has no {op}")
    values = self.detach().numpy()
    function = np.argmax if op == "argmax" else np.argmin
    if along is None:
        index = function(values.reshape(-1))
        shape = (1,) * self.ndim if keepdims else ()
        return _constant(np.reshape(index, shape), np.int64, self)
    if self.ndim == 0:
        return _constant(0, np.int64, self)
    return _constant(function(values, axis=along, keepdims=keepdims), np.int64, self)


def argmax(self: Tensor, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """The int64 index of the largest value along `axis` (of the flattened values by
    default); the first one where values tie, as NumPy and PyTorch. No gradient."""
    return _arg_reduce(self, "argmax", axis, keepdims)


def argmin(self: Tensor, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """The int64 index of the smallest value along `axis` (of the flattened values by
    default); the first one where values tie. No gradient."""
    return _arg_reduce(self, "argmin", axis, keepdims)


def _order(values: np.ndarray, axis: int, descending: bool) -> np.ndarray:
    """The stable sorting order along `axis`: tied values keep their original order, in
    either direction (PyTorch's stable=True)."""
    if not descending:
        return np.argsort(values, axis=axis, kind="stable")
    size = values.shape[axis]
    flipped = np.flip(values, axis=axis)
    order: np.ndarray = size - 1 - np.flip(np.argsort(flipped, axis=axis, kind="stable"), axis=axis)
    return order


def _gather(self: Tensor, order: np.ndarray, axis: int) -> Tensor:
    """self's entries at `order` along `axis` (take_along_axis), recorded as indexing, so the
    gradient is scattered back to the original positions."""
    index = tuple(
        order if dim == axis else np.arange(size).reshape((-1,) + (1,) * (self.ndim - dim - 1))
        for dim, size in enumerate(self.shape)
    )
    return self[index]


def _sorting_axis(self: Tensor, op: str, axis: int | None) -> tuple[Tensor, int]:
    """The tensor to sort and its axis: flattened for axis=None (as NumPy), one entry long
    for a 0-d tensor."""
    if axis is None:
        return self.reshape(-1), 0
    along = _one_axis(op, axis, self.ndim)
    return (self.reshape(1), 0) if self.ndim == 0 else (self, along)


def sort(self: Tensor, axis: int | None = -1, descending: bool = False) -> Tensor:
    """The values sorted along `axis` (last by default; flattened for axis=None, as np.sort),
    ascending unless `descending`; ties keep their order. A new tensor (ndarray.sort sorts in
    place); each value's gradient goes back to the position it came from."""
    _refuse_while_tracing(self, "sort")
    target, along = _sorting_axis(self, "sort", axis)
    out = _gather(target, _order(target.detach().numpy(), along, descending), along)
    return out.reshape(()) if self.ndim == 0 and axis is not None else out


def argsort(self: Tensor, axis: int | None = -1, descending: bool = False) -> Tensor:
    """The int64 indices that sort the values along `axis` (stable: ties keep their order).
    No gradient."""
    _refuse_while_tracing(self, "argsort")
    target, along = _sorting_axis(self, "argsort", axis)
    order = _order(target.detach().numpy(), along, descending)
    shaped = order.reshape(()) if self.ndim == 0 and axis is not None else order
    return _constant(shaped, np.int64, self)


def topk(
    self: Tensor, k: int, axis: int = -1, largest: bool = True, sorted: bool = True
) -> tuple[Tensor, Tensor]:
    """(values, indices) of the k largest entries along `axis` (the k smallest when
    `largest=False`), as torch.topk: sorted from the largest (smallest) unless
    `sorted=False`, which keeps them in index order. Of tied values, the earlier index is
    taken first. The values' gradient flows back to the selected positions."""
    _refuse_while_tracing(self, "topk")
    target, along = _sorting_axis(self, "topk", axis)
    size = target.shape[along]
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k <= size:
        raise ValueError(
            f"topk: k={k!r} must be an integer from 0 to {size}, the size of axis {axis} of "
            f"the tensor of shape {self.shape}"
        )
    order = _order(target.detach().numpy(), along, largest)
    chosen = np.take(order, np.arange(int(k)), axis=along)
    if not sorted:
        chosen = np.sort(chosen, axis=along)
    values = _gather(target, chosen, along)
    indices = _constant(chosen, np.int64, self)
    if self.ndim == 0:
        return values.reshape(()), indices.reshape(())
    return values, indices


def _logical(self: Tensor, op: str, axis: Axis, keepdims: bool) -> Tensor:
    _refuse_while_tracing(self, op)
    axis = _check_axes(op, axis, self.ndim)
    function = np.any if op == "any" else np.all
    values = function(self.detach().numpy(), axis=axis, keepdims=keepdims)
    return _constant(values, np.bool_, self)


def any(self: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Whether any value along `axis` is nonzero: a bool tensor, no gradient."""
    return _logical(self, "any", axis, keepdims)


def all(self: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Whether every value along `axis` is nonzero: a bool tensor, no gradient."""
    return _logical(self, "all", axis, keepdims)


attach_methods(
    prod,
    std,
    norm,
    cumsum,
    cumprod,
    logcumsumexp,
    argmax,
    argmin,
    sort,
    argsort,
    topk,
    any,
    all,
)
