"""Shape methods: reshape, transpose, swapaxes, broadcast_to and indexing, views of the same
values recorded as primitives. Attached to Tensor when chainrule.ops is imported.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule import primitives as P
from chainrule.modes import CompileError
from chainrule.ops.reductions import _check_axes
from chainrule.tensor import Tensor, _raw, attach_methods


def _raw_index(index: Any) -> Any:
    if isinstance(index, tuple):
        return tuple(_raw(part) for part in index)
    if isinstance(index, list):
        return np.asarray(index)
    return _raw(index)


def reshape(self: Tensor, *shape: Any) -> Tensor:
    """The same values in a new shape (one entry may be -1)."""
    if len(shape) == 1 and not isinstance(shape[0], int):
        note = getattr(shape[0], "note_setting", None)  # a compiled step's argument
        if note is not None:
            note("reshape")
    new_shape = tuple(shape[0]) if len(shape) == 1 and not isinstance(shape[0], int) else shape
    try:
        return Tensor._apply(P.Reshape, (self,), {"shape": new_shape})
    except CompileError:
        raise
    except ValueError:
        raise ValueError(
            f"reshape: cannot reshape {self.shape} ({self.size} values) into {new_shape}; "
            "the number of values must stay the same"
        ) from None


def _refuse_torch_swap_read_as_identity(self: Tensor, axes: tuple[Any, ...]) -> None:
    separate_integers = len(axes) == 2 and all(
        isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in axes
    )
    in_range = separate_integers and all(-2 <= int(a) < 2 for a in axes)
    if self.ndim == 2 and in_range and [int(a) % 2 for a in axes] == [0, 1]:
        raise ValueError(
            f"transpose{tuple(int(a) for a in axes)} of a 2-D tensor (shape {self.shape}): "
            "NumPy reads two axes as a permutation, here the identity (no change), where "
            "PyTorch's transpose(dim0, dim1) swaps them; write x.T or x.swapaxes(0, 1) to "
            "swap, or x.transpose((0, 1)) for the identity"
        )


def transpose(self: Tensor, *axes: Any) -> Tensor:
    """Axes permuted (reversed by default), as NumPy's transpose.

    Two separate axes that leave a 2-D tensor as it is (x.transpose(0, 1), x.transpose(-2,
    -1)) are refused: NumPy reads them as the identity permutation, PyTorch as a swap of the
    two dims, and each library's users write them meaning their own. A tuple,
    x.transpose((0, 1)), is NumPy's identity without doubt.
    """
    _refuse_torch_swap_read_as_identity(self, axes)
    order = tuple(axes[0]) if len(axes) == 1 and not isinstance(axes[0], int) else axes
    if not order:
        order = tuple(reversed(range(self.ndim)))
    if len(order) == self.ndim:
        _check_axes("transpose", order, self.ndim, distinct=False)
    if len(order) != self.ndim or sorted(a % self.ndim for a in order) != list(range(self.ndim)):
        raise ValueError(
            f"transpose: axes {order} are not a permutation of the {self.ndim} axes of a "
            f"tensor of shape {self.shape}"
        )
    # The identity order too makes a view, not `self`, as PyTorch: detach_() or a name
    # given to the result must not reach the input.
    order = tuple(a % self.ndim for a in order)
    return Tensor._apply(P.Transpose, (self,), {"axes": order})


def swapaxes(self: Tensor, axis1: int, axis2: int) -> Tensor:
    """Two axes exchanged (a 0-d tensor takes axis 0 and -1, as PyTorch's does)."""
    _check_axes("swapaxes", (axis1, axis2), self.ndim, distinct=False)
    if self.ndim == 0:
        return self.transpose(())  # a view, as an identity transpose
    order = list(range(self.ndim))
    order[axis1], order[axis2] = order[axis2], order[axis1]
    return self.transpose(order)


def broadcast_to(self: Tensor, shape: Sequence[int]) -> Tensor:
    """The values repeated along new or size-1 axes to `shape`."""
    target = tuple(shape)
    try:
        fits = np.broadcast_shapes(self.shape, target) == target
    except ValueError:
        fits = False
    # Broadcasting both ways is not enough: (2, 3) and (3,) broadcast together, yet (2, 3)
    # cannot be broadcast to (3,); only new leading axes and size-1 axes may grow.
    if not fits:
        raise ValueError(
            f"broadcast_to: cannot broadcast {self.shape} to {target}; the target must keep "
            "every axis of size > 1 and may only add leading axes or grow size-1 axes"
        )
    # A view even of the same shape, as PyTorch's expand: detach_() of it must not reach self.
    return Tensor._apply(P.BroadcastTo, (self,), {"shape": target})


def __getitem__(self: Tensor, index: Any) -> Tensor:
    index = _raw_index(index)
    try:
        return Tensor._apply(P.GetItem, (self,), {"index": index})
    except IndexError as error:
        raise IndexError(f"getitem: {error} (tensor shape {self.shape})") from None


attach_methods(
    reshape,
    transpose,
    swapaxes,
    broadcast_to,
    __getitem__,
)
