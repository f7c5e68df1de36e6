"""More reductions and the scans: prod over NumPy-style `axis`/`keepdims`, and cumsum, cumprod
and logcumsumexp along one axis. Each vjp is written with array API calls on the inputs'
namespace (and these primitives themselves), so it runs on arrays of any library and, recorded,
on Tensors: second order for free.

Zeros get PyTorch's gradients, computed without dividing by them. On NumPy a rule first looks
for zeros (or an overflowing spread) and takes the cheaper formula when there are none; on
other libraries it takes the formula that is right everywhere, with no branch on the values,
so `jax.jit` can trace it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.backends import creation_device, is_numpy, namespace
from chainrule.primitives.base import Grads, Primitive, Saved, plain_values
from chainrule.primitives.call import call, is_array
from chainrule.primitives.reading import Rule, entrywise, linear_map
from chainrule.primitives.reduction import Axis, keepdims_shape, normalize_axes


def _widened(xp: Any, x: Any) -> Any:
    """float16 as float32, other dtypes as they are: a norm's powers of float16 entries
    overflow past |x| = 256 (squares) and vanish below 6e-5, where the norm itself is a
    float16 (torch computes half's norms in float32 too)."""
    half = getattr(xp, "float16", None)  # the array API standard has no float16
    return xp.astype(x, xp.float32) if half is not None and x.dtype == half else x


def _reverse(x: Any, axis: int) -> Any:
    """x reversed along `axis` (a view; works on arrays and Tensors alike)."""
    return x[(slice(None),) * (axis % x.ndim) + (slice(None, None, -1), ...)]


def _swap(x: Any, axis: int, other: int) -> Any:
    """x with axes `axis` and `other` exchanged (NumPy's swapaxes, in the standard)."""
    order = list(range(x.ndim))
    order[axis], order[other] = order[other], order[axis]
    return namespace(x).permute_dims(x, tuple(order))


def _later(xp: Any, size: int, like: Any) -> Any:
    """The (size, size) mask of k >= i, i the row and k the column, on `like`'s device."""
    steps = xp.arange(size, device=creation_device(like))
    return steps[:, None] <= steps[None, :]


def _running(scan: Any, x: Any, axis: int) -> Any:
    """np.cumsum or np.cumprod of x along axis, a float16 or float32 array's accumulated in
    float64 and rounded once, as PyTorch's CPU kernels: a float32 running sum of 1e8, 1,
    -1e8 loses the 1, and a running product of 1e30, 1e30, 1e-30 overflows."""
    if isinstance(x, np.ndarray) and x.dtype in (np.float16, np.float32):
        return scan(x, axis=axis, dtype=np.float64).astype(x.dtype)
    return scan(x, axis=axis)


def _reverse_cumsum(x: Any, axis: int) -> Any:
    """sum_{k >= i} x_k along axis: the transpose of a cumulative sum."""
    return _reverse(call(CumSum, _reverse(x, axis), axis=axis), axis)


class Prod(Primitive):
    """z = product of x over axis;  dz/dx_i = product of the other x_j (no division).

    Without zeros that is z / x_i. With zeros it is the product of prefix and suffix
    products, as PyTorch: one zero gets the product of the others, the rest get 0.
    """

    name = "prod"
    function = "prod"
    method = "prod"
    reading = Rule(
        "prod($a$axis_arg)",
        r"\textstyle\prod$axis_sub $a",
        (entrywise("prod($a$axis_kept) / $a (product of the others)", r"\prod_{j \ne i} ${a}_j"),),
    )

    @staticmethod
    def forward(x: Any, *, axis: Axis, keepdims: bool) -> tuple[Any, Saved]:
        out = namespace(x).prod(x, axis=axis, keepdims=keepdims)
        return out, (x, out, axis, keepdims)

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        x, out, axis, keepdims = saved
        axes = normalize_axes(axis, x.ndim)
        kept_shape = keepdims_shape(x.shape, axes)
        xp = namespace(x, grad_out)
        grad = grad_out if keepdims else xp.reshape(grad_out, kept_shape)
        if math.prod(x.shape) == 0:
            return (x * 0,)
        if is_numpy(xp) and np.all(plain_values(x) != 0):
            product = out if keepdims else xp.reshape(out, kept_shape)
            return (grad * (product / x),)
        return (grad * _product_of_others(x, axes),)


def _product_of_others(x: Any, axes: tuple[int, ...]) -> Any:
    """prod_{j != i} x_j over the reduced axes, for each i: the product of exclusive prefix
    and suffix products along the reduced entries laid out in one last axis."""
    xp = namespace(x)
    kept = tuple(a for a in range(x.ndim) if a not in axes)
    order = kept + axes
    kept_sizes = tuple(x.shape[a] for a in kept)
    count = 1
    for a in axes:
        count *= x.shape[a]
    rows = xp.reshape(xp.permute_dims(x, order), (*kept_sizes, count))
    raw = plain_values(x)
    ones = xp.ones((*kept_sizes, 1), dtype=raw.dtype, device=creation_device(raw))
    before = call(CumProd, xp.concat([ones, rows[..., :-1]], axis=-1), axis=-1)
    after = _reverse(
        call(CumProd, xp.concat([ones, _reverse(rows, -1)[..., :-1]], axis=-1), axis=-1),
        -1,
    )
    others = xp.reshape(before * after, tuple(x.shape[a] for a in order))
    return xp.permute_dims(others, tuple(order.index(a) for a in range(x.ndim)))


class Norm2(Primitive):
    """z = sqrt(sum of x**2 over axis), the 2-norm (Frobenius for a matrix);
    dz/dx_i = x_i / z, and 0 where z = 0 (PyTorch's subgradient at the origin)."""

    name = "norm2"
    reading = Rule(
        "norm2($a$axis_arg)",
        r"\lVert $a \rVert_2$axis_along",
        (
            entrywise(
                "$a / norm2($a$axis_kept) (0 where that is 0)",
                r"\frac{$a}{\lVert $a \rVert_2}$axis_along",
            ),
        ),
    )
    saves_output = True

    @staticmethod
    def forward(x: Any, *, axis: Axis, keepdims: bool) -> tuple[Any, Saved]:
        if is_array(x):
            xp = namespace(x)
            wide = _widened(xp, x)
            out = xp.astype(xp.sqrt(xp.sum(wide * wide, axis=axis, keepdims=keepdims)), x.dtype)
        else:  # a recorded replay on Tensors: this op, so its own gradient at 0 is used
            out = call(Norm2, x, axis=axis, keepdims=keepdims)
        return out, (x, out, axis, keepdims)

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        x, out, axis, keepdims = saved
        xp = namespace(x, grad_out)
        kept_shape = keepdims_shape(x.shape, normalize_axes(axis, x.ndim))
        norm = out if keepdims else xp.reshape(out, kept_shape)
        grad = grad_out if keepdims else xp.reshape(grad_out, kept_shape)
        zero = plain_values(norm) == 0
        if is_numpy(xp) and not zero.any():
            return (grad * x / norm,)
        return (xp.where(zero, 0.0, grad * x / xp.where(zero, 1.0, norm)),)


class PNorm(Primitive):
    """z = (sum of |x|**p over axis)**(1/p), the vector p-norm for real p other than 0, 1, 2
    and +-inf (p < 1 included, as torch.linalg.vector_norm: negative p gives 0 where an entry
    is 0);  dz/dx_i = sign(x_i) |x_i|**(p-1) / z**(p-1), and 0 where z = 0 or, for p < 1,
    where x_i = 0 (as PyTorch; spelled as powers, these give 0 * inf)."""

    name = "pnorm"
    reading = Rule(
        "pnorm($a, ord=$ord$axis_arg)",
        r"\lVert $a \rVert_p$axis_along",
        (
            entrywise(
                "sign($a) |$a|**(p-1) / pnorm($a, ord=$ord$axis_kept)**(p-1) (0 where that is 0)",
                r"\frac{\operatorname{sign}($a)\,|$a|^{p-1}}{\lVert $a \rVert_p^{p-1}}$axis_along",
            ),
        ),
    )
    saves_output = True

    @staticmethod
    def forward(x: Any, *, ord: float, axis: Axis, keepdims: bool) -> tuple[Any, Saved]:
        if is_array(x):
            xp = namespace(x)
            with np.errstate(divide="ignore"):  # 0 ** p for p < 0: inf, and the norm 0
                powers = xp.abs(_widened(xp, x)) ** ord
                total = xp.sum(powers, axis=axis, keepdims=keepdims) ** (1 / ord)
            out = xp.astype(total, x.dtype)
        else:  # a recorded replay on Tensors: this op, so its own gradient at 0 is used
            out = call(PNorm, x, ord=ord, axis=axis, keepdims=keepdims)
        return out, (x, out, ord, axis, keepdims)

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        x, out, ord, axis, keepdims = saved
        xp = namespace(x, grad_out)
        kept_shape = keepdims_shape(x.shape, normalize_axes(axis, x.ndim))
        norm = out if keepdims else xp.reshape(out, kept_shape)
        grad = grad_out if keepdims else xp.reshape(grad_out, kept_shape)
        # (|x| / z)**(p-1) rather than |x|**(p-1) / z**(p-1): the ratio is at most 1, where
        # the powers overflow (float16 past |x| = 256 for p = 3) and give inf / inf.
        zero = plain_values(norm) == 0
        if ord < 1:  # |x_i|**(p-1) is inf at x_i = 0: its derivative is taken as 0 there
            zero = zero | (plain_values(x) == 0)
        if is_numpy(xp) and not zero.any():
            return (grad * xp.sign(x) * (xp.abs(x) / norm) ** (ord - 1),)
        ratio = xp.abs(x) / xp.where(zero, 1.0, norm)
        with np.errstate(divide="ignore", invalid="ignore"):  # only where `zero` discards
            return (xp.where(zero, 0.0, grad * xp.sign(x) * ratio ** (ord - 1)),)


class CumSum(Primitive):
    """z_k = sum_{j <= k} x_j along axis;  grad_in_i = sum_{k >= i} grad_out_k."""

    name = "cumsum"
    reading = Rule(
        "cumsum($a, axis=$axis)",
        r"\operatorname{cumsum}($a)",
        (
            linear_map(
                "reverse cumsum of . along axis $axis", r"\textstyle\sum_{k \ge i} (\cdot)_k"
            ),
        ),
    )

    @staticmethod
    def forward(x: Any, *, axis: int) -> tuple[Any, Saved]:
        xp = namespace(x)
        if is_numpy(xp):  # np.cumsum also records on Tensors (the recorded rerun of forward)
            return _running(np.cumsum, x, axis), axis
        return xp.cumulative_sum(x, axis=axis), axis

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        return (_reverse_cumsum(grad_out, saved),)


class CumProd(Primitive):
    """z_k = prod_{j <= k} x_j along axis;
    grad_in_i = sum_{k >= i} grad_out_k prod_{j <= k, j != i} x_j.

    Without zeros that is (reverse cumsum of grad_out * z)_i / x_i, as PyTorch; with zeros,
    the products leaving x_i out are formed directly (n^2 along the axis), never 0 / 0.
    """

    name = "cumprod"
    reading = Rule(
        "cumprod($a, axis=$axis)",
        r"\operatorname{cumprod}($a)",
        (
            linear_map(
                "sum_{k >= i} .[k] * prod_{j <= k, j != i} $a[j]",
                r"\textstyle\sum_{k \ge i} (\cdot)_k \prod_{j \le k, j \ne i} ${a}_j",
            ),
        ),
    )
    saves_output = True

    @staticmethod
    def forward(x: Any, *, axis: int) -> tuple[Any, Saved]:
        xp = namespace(x)
        # np.cumprod also records on Tensors (the recorded rerun of forward).
        out = _running(np.cumprod, x, axis) if is_numpy(xp) else xp.cumulative_prod(x, axis=axis)
        return out, (x, out, axis)

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        x, out, axis = saved
        xp = namespace(x, grad_out)
        if is_numpy(xp) and np.all(plain_values(x) != 0):
            return (_reverse_cumsum(grad_out * out, axis) / x,)
        rows = _swap(x, axis, -1)
        size = rows.shape[-1]
        # others[..., i, k] = prod_{j <= k, j != i} x_j: row i of x with x_i replaced by 1.
        diagonal = xp.eye(size, dtype=xp.bool, device=creation_device(rows))
        others = call(CumProd, xp.where(diagonal, 1.0, rows[..., None, :]), axis=-1)
        weighted = (
            xp.where(_later(xp, size, rows), others, 0.0) * _swap(grad_out, axis, -1)[..., None, :]
        )
        return (_swap(xp.sum(weighted, axis=-1), axis, -1),)


class LogCumSumExp(Primitive):
    """z_k = log sum_{j <= k} exp(x_j) along axis (NumPy's logaddexp.accumulate: no overflow);
    grad_in_i = sum_{k >= i} grad_out_k exp(x_i - z_k), a softmax-like weight in [0, 1].

    The vjp factors the weights through c = max(z) where exp(c - z) cannot overflow, and forms
    the bounded weights themselves (n^2 along the axis) where it could.
    """

    name = "logcumsumexp"
    reading = Rule(
        "logcumsumexp($a, axis=$axis)",
        r"\operatorname{logcumsumexp}($a)",
        (
            linear_map(
                "sum_{k >= i} .[k] * exp($a[i] - out[k])",
                r"\textstyle\sum_{k \ge i} (\cdot)_k e^{${a}_i - z_k}",
            ),
        ),
    )
    saves_output = True

    @staticmethod
    def forward(x: Any, *, axis: int) -> tuple[Any, Saved]:
        if not is_array(x):  # a recorded replay on Tensors, for second order
            out = call(LogCumSumExp, x, axis=axis)
        elif is_numpy(namespace(x)):
            out = np.logaddexp.accumulate(x, axis=axis)
        else:
            out = _swap(_log_cumsum_exp_by_rows(namespace(x), _swap(x, axis, -1)), axis, -1)
        return out, (x, out, axis)

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        x, out, axis = saved
        xp = namespace(x, grad_out)
        if math.prod(out.shape) == 0:  # nothing to weigh (np.max refuses an empty axis)
            return (grad_out * 0,)
        if is_numpy(xp):
            raw_out = plain_values(out)
            top = np.max(raw_out, axis=axis, keepdims=True)
            spread = top - np.min(raw_out, axis=axis, keepdims=True)
            limit = 0.5 * np.log(np.finfo(raw_out.dtype).max)
            if np.all(np.isfinite(spread)) and np.all(spread < limit):
                return (np.exp(x - top) * _reverse_cumsum(grad_out * np.exp(top - out), axis),)
        rows, sums = _swap(x, axis, -1), _swap(out, axis, -1)
        exponents = xp.where(
            _later(xp, rows.shape[-1], rows), rows[..., :, None] - sums[..., None, :], -math.inf
        )
        weighted = xp.exp(exponents) * _swap(grad_out, axis, -1)[..., None, :]
        return (_swap(xp.sum(weighted, axis=-1), axis, -1),)


def _log_cumsum_exp_by_rows(xp: Any, rows: Any) -> Any:
    """log sum_{j <= k} exp(rows_j) along the last axis, in standard functions: each prefix's
    log-sum-exp shifted by its own maximum (n^2 along the axis), so none overflows and no
    small prefix underflows to -inf."""
    prefixes = xp.where(_later(xp, rows.shape[-1], rows), rows[..., :, None], -math.inf)
    top = xp.max(prefixes, axis=-2, keepdims=True)
    top = xp.where(xp.isfinite(top), top, 0.0)
    return xp.log(xp.sum(xp.exp(prefixes - top), axis=-2)) + top[..., 0, :]
