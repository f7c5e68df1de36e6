"""In-place changes (`x[i] = v`, `x += y`, `zero_()`, `add_()`, ...): refused where they
would corrupt a gradient, and counted in the version shared with views so that a graph that
saved the old values refuses its backward. Attached to Tensor when chainrule.ops is imported.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import placement
from chainrule import primitives as P
from chainrule.modes import STATE
from chainrule.ops.detaching import _CUT_UNDER_VIEWS, cut_under_recorded_views
from chainrule.ops.shaping import _raw_index
from chainrule.tensor import Tensor, _raw, _shared_counter, attach_methods


def _check_in_place(self: Tensor, op: str) -> None:
    if STATE.tracer is not None:
        STATE.tracer.refuse_mutation(self, op)
    flags = getattr(self._data, "flags", None)
    if flags is None:
        # JAX arrays cannot change; array_api_strict's take no NumPy ufunc writes
        raise TypeError(
            f"{op}: in-place changes need a NumPy or CuPy array, and this tensor's values "
            f"live in {placement.library_of(self._data)}; write the out-of-place form "
            "(x = x + y), or move the tensor with x.cpu() first"
        )
    if not flags.writeable:
        # NumPy's read-only views (diagonal, broadcast_to): a write would fail inside NumPy or,
        # through a broadcast, change many entries at once.
        raise ValueError(
            f"{op}: this tensor (shape {self.shape}) is a read-only view, as NumPy's result "
            "of diagonal or broadcast_to is; change a copy (view * 1) instead"
        )
    if not STATE.grad_enabled:
        return
    if self.requires_grad:
        raise RuntimeError(
            f"{op}: in-place change of a tensor that requires grad would corrupt its "
            "gradient; write the out-of-place form (x = x + y) or wrap the update in "
            "chainrule.no_grad()"
        )
    base = self._base
    cut = self if base is None else base
    if _CUT_UNDER_VIEWS and cut_under_recorded_views(cut):
        raise RuntimeError(
            f"{op}: this tensor (shape {cut.shape}) was cut from the graph by detach_() "
            "while a view of its memory was recorded on the graph; the change would alter "
            "that view's values, which its graph still takes for the op's result, so its "
            "gradient would be wrong; change a copy (x * 1), or make the change inside "
            "chainrule.no_grad() if the view's gradient should ignore it"
        )
    if base is not None and base.requires_grad and base._node is None:
        raise RuntimeError(
            f"{op}: this tensor is a view of a leaf that requires grad (shape "
            f"{base.shape}), so the in-place change would silently change that leaf; "
            "change a copy (view * 1), or change the leaf inside chainrule.no_grad()"
        )
    if base is not None and base.requires_grad:
        # An unrecorded view (taken under no_grad) of a computed tensor: the change would
        # alter values the graph still takes for its op's result (PyTorch forbids it too).
        raise RuntimeError(
            f"{op}: this tensor is a view taken under no_grad of a tensor computed by a "
            f"recorded op (shape {base.shape}), so the in-place change would silently "
            "change values the graph takes for that op's result; change a copy (view * 1), "
            "or make the change inside chainrule.no_grad() too"
        )


def _in_place_value(self: Tensor, op: str, other: Any) -> Any:
    """The plain values of `other` for an in-place change; refused when `other` requires
    grad, since writing it into this array would silently drop its gradient."""
    if isinstance(other, Tensor) and other.requires_grad and STATE.grad_enabled:
        raise RuntimeError(
            f"{op}: the value combined in place with this tensor requires grad, and an "
            "in-place change of a plain array would silently drop its gradient; write "
            "the out-of-place form (x = x + y), or detach the value"
        )
    return _raw(other)


def _mutated(self: Tensor) -> Tensor:
    _shared_counter(self).value += 1
    return self


def __setitem__(self: Tensor, index: Any, value: Any) -> None:
    _check_in_place(self, "setitem")
    if isinstance(value, Tensor) and value.requires_grad and STATE.grad_enabled:
        raise RuntimeError(
            "setitem: the value written into the tensor requires grad, and writing it "
            "into an array would silently drop its gradient; build the result with "
            "chainrule.stack, concatenate or where instead"
        )
    self._data[_raw_index(index)] = _raw(value)
    _shared_counter(self).value += 1


def zero_(self: Tensor) -> Tensor:
    """Set every value to 0, in place."""
    _check_in_place(self, "zero_")
    self._data[...] = 0
    return _mutated(self)


def fill_(self: Tensor, value: float) -> Tensor:
    """Set every value to `value`, in place."""
    _check_in_place(self, "fill_")
    self._data[...] = value
    return _mutated(self)


def add_(self: Tensor, other: Any, alpha: float = 1.0) -> Tensor:
    """self += alpha * other, in place."""
    _check_in_place(self, "add_")
    addend = _in_place_value(self, "add_", other)
    _store(self, "add_", np.add, addend if alpha == 1.0 else alpha * addend)
    return _mutated(self)


def sub_(self: Tensor, other: Any) -> Tensor:
    """self -= other, in place."""
    _check_in_place(self, "sub_")
    _store(self, "sub_", np.subtract, _in_place_value(self, "sub_", other))
    return _mutated(self)


def mul_(self: Tensor, other: Any) -> Tensor:
    """``self *= other``, in place."""
    _check_in_place(self, "mul_")
    _store(self, "mul_", np.multiply, _in_place_value(self, "mul_", other))
    return _mutated(self)


def _augmented(self: Tensor, op: str, ufunc: np.ufunc, other: Any) -> Tensor:
    """`self op other` in place (Python's +=, -=, *=, /=), as PyTorch: the same tensor,
    its memory (and so its views) changed, its version moved on."""
    _check_in_place(self, op)
    value = _in_place_value(self, op, other)
    shape = P.broadcast_shapes(op, self.shape, np.shape(value))
    if shape != self.shape:
        raise ValueError(
            f"{op}: the result would have shape {shape}, but this tensor has shape "
            f"{self.shape} and an in-place change keeps it; write the out-of-place form "
            "(x = x + y) for a new shape"
        )
    _store(self, op, ufunc, value)
    return _mutated(self)


_SYMBOLS = {"add": "+", "subtract": "-", "multiply": "*", "divide": "/"}


def _store(self: Tensor, op: str, ufunc: np.ufunc, value: Any) -> None:
    """self's values replaced by ufunc(self, value) in place; a result the tensor's dtype
    cannot hold (a float into an integer tensor) is refused, as PyTorch refuses it."""
    try:
        ufunc(self._data, value, out=self._data)
    except TypeError:
        raise TypeError(
            f"{op}: the result of a tensor of dtype {self.dtype} {_SYMBOLS[ufunc.__name__]} a "
            f"value of dtype {np.result_type(value)} cannot be stored back in {self.dtype}; "
            "convert first (x = x.astype(np.float32)) or write the out-of-place form"
        ) from None


def __iadd__(self: Tensor, other: Any) -> Tensor:
    return _augmented(self, "+=", np.add, other)


def __isub__(self: Tensor, other: Any) -> Tensor:
    return _augmented(self, "-=", np.subtract, other)


def __imul__(self: Tensor, other: Any) -> Tensor:
    return _augmented(self, "*=", np.multiply, other)


def __itruediv__(self: Tensor, other: Any) -> Tensor:
    return _augmented(self, "/=", np.true_divide, other)


def copy_(self: Tensor, source: Any) -> Tensor:
    """Overwrite the values with `source`'s (same shape), in place."""
    _check_in_place(self, "copy_")
    values = _in_place_value(self, "copy_", source)
    if np.shape(values) != self.shape:
        raise ValueError(f"copy_: source shape {np.shape(values)} differs from {self.shape}")
    self._data[...] = values
    return _mutated(self)


attach_methods(
    __setitem__,
    zero_,
    fill_,
    add_,
    sub_,
    mul_,
    __iadd__,
    __isub__,
    __imul__,
    __itruediv__,
    copy_,
)
