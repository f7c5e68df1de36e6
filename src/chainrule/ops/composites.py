"""Composite ops, built from primitives so their derivatives come for free: var, logsumexp,
softmax and log_softmax, each shifted by the max where exp could overflow. Attached to Tensor
when chainrule.ops is imported.
"""

from __future__ import annotations

import numpy as np

from chainrule import primitives as P
from chainrule.modes import no_grad
from chainrule.ops.reductions import _check_axes
from chainrule.primitives.reduction import Axis
from chainrule.tensor import Tensor, attach_methods


def _numeric(values: Tensor) -> Tensor:
    """Bools as float32 (as PyTorch's logsumexp), other tensors as they are: the max shift
    below subtracts, which NumPy refuses for bools."""
    return values.astype(np.float32) if values.dtype == np.bool_ else values


def _finite_max(values: Tensor, axis: Axis) -> Tensor:
    """The max along axis (kept), infinities clipped to the dtype's largest finite values so
    subtracting it is safe, as a constant for the gradient (the shift cancels out of it).

    Taken by recorded ops, not from the array: chainrule.compile would otherwise freeze the
    traced batch's max into every replay, and later logits 1000 larger overflow exp to inf.
    """
    with no_grad():
        if values.size == 0:
            # no entries to overflow: shift by 0 (a max of nothing does not exist, and an
            # empty batch or an empty axis is valid input)
            kept = np.sum(values._data, axis=axis, keepdims=True)
            return Tensor._wrap(np.zeros_like(kept, dtype=values.dtype))
        highest = values.max(axis=axis, keepdims=True)
        if values.dtype.kind != "f":  # integers and bools hold no infinities
            return highest
        largest = float(np.finfo(values.dtype).max)
        return highest.clip(-largest, largest)


def refuse_spread_positionals(op: str, after_axis: tuple[object, ...]) -> None:
    """var and std take keepdims and ddof by name only: the argument after the axis is
    PyTorch's `unbiased` (x.var(1, True) is the unbiased variance, not kept dimensions) and
    NumPy's `dtype`, so a positional one is read by neither library's rule."""
    if after_axis:
        raise TypeError(
            f"{op}: got {len(after_axis)} positional argument(s) after axis "
            f"({', '.join(repr(a) for a in after_axis)}); give keepdims= and ddof= by name. "
            f"In PyTorch x.{op}(dim, True) means unbiased=True, which is ddof=1 here "
            f"(x.{op}(axis, ddof=1)); NumPy's default, used here, is ddof=0"
        )


def var(
    self: Tensor, axis: Axis = None, *after_axis: object, keepdims: bool = False, ddof: int = 0
) -> Tensor:
    """mean((x - mean(x))**2) over `axis`, divided by n - ddof (NumPy's default ddof=0;
    PyTorch's default correction=1 is ddof=1). keepdims and ddof are keyword-only."""
    refuse_spread_positionals("var", after_axis)
    axis = _check_axes("var", axis, self.ndim)
    count = 1
    for a in P.normalize_axes(axis, self.ndim):
        count *= self.shape[a]
    if count - ddof <= 0:
        raise ValueError(f"var: {count} values with ddof={ddof} leave no degrees of freedom")
    centered = self - self.mean(axis=axis, keepdims=True)
    return (centered * centered).sum(axis=axis, keepdims=keepdims) / (count - ddof)


def logsumexp(self: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """log(sum(exp(x))) over `axis`, computed as m + log(sum(exp(x - m))) with m the max,
    so large inputs do not overflow; its gradient is softmax(x)."""
    axis = _check_axes("logsumexp", axis, self.ndim)
    self = _numeric(self)
    shift = _finite_max(self, axis)
    if self.size == 0:
        # log of a sum over no entries: -inf, as PyTorch (log(0) would warn both ways)
        out = self.sum(axis=axis, keepdims=True) - np.inf
    else:
        total = (self - shift).exp().sum(axis=axis, keepdims=True)
        out = total.log() + shift
    if keepdims:
        return out
    # The reduced shape from the axes, not from NumPy's sum of the values: an array off the
    # default device (array_api_strict's device1) cannot be read by NumPy.
    reduced = set(P.normalize_axes(axis, self.ndim))
    return out.reshape(tuple(n for a, n in enumerate(self.shape) if a not in reduced))


def softmax(self: Tensor, axis: int = -1) -> Tensor:
    """exp(x) / sum(exp(x)) along `axis`, with the max subtracted first for stability."""
    along = _check_axes("softmax", axis, self.ndim)
    self = _numeric(self)
    exps = (self - _finite_max(self, along)).exp()
    return exps / exps.sum(axis=along, keepdims=True)


def log_softmax(self: Tensor, axis: int = -1) -> Tensor:
    """x - logsumexp(x) along `axis`, computed as (x - m) - log(sum(exp(x - m))) with m
    the max: x - logsumexp(x) would subtract two numbers as large as x, and lose the
    answer's digits to their rounding (a float32 of 1e4 is rounded to 1e-3)."""
    along = _check_axes("log_softmax", axis, self.ndim)
    self = _numeric(self)
    shifted = self - _finite_max(self, along)
    if self.size == 0:  # nothing to normalise (the log of an empty sum would warn)
        return shifted
    return shifted - shifted.exp().sum(axis=along, keepdims=True).log()


attach_methods(
    var,
    logsumexp,
    softmax,
    log_softmax,
)
