"""Cutting a tensor from the graph: `detach()` (a new tensor) and `detach_()` (in place).
Attached to Tensor when chainrule.ops is imported."""

from __future__ import annotations

import weakref
from functools import partial

from chainrule.graph import READ, Node
from chainrule.tensor import Tensor, VersionCounter, _shared_counter, attach_methods

_CUT_UNDER_VIEWS: dict[int, weakref.ref[Tensor]] = {}
"""Tensor id -> the tensor, for each one detached in place while a view of its memory was
on the graph and could still be back-propagated (keyed by id with a weak reference, as
graph._GRAD_SLOTS)."""


def _views_on_the_graph(counter: VersionCounter) -> bool:
    """Whether a view recorded on the graph over `counter`'s memory can still be
    back-propagated: it is alive and its graph was not freed by a backward (one through a
    freed node is refused). A dead view, or one whose graph is gone, can no longer send a
    gradient anywhere, so an in-place change cannot make its gradient wrong (PyTorch too
    holds its views weakly)."""
    for ref in counter.recorded_views:
        view = ref()
        if view is not None and view._node is not None and not view._node.released:
            return True
    return False


def cut_under_recorded_views(tensor: Tensor) -> bool:
    """Whether `tensor` was detached in place while a recorded view shared its memory, and
    such a view can still be back-propagated: an in-place change of it with grad enabled is
    refused (chainrule.ops.inplace), since the view's graph would still send gradients
    through entries that now hold constants (PyTorch rebases such a view onto the constant;
    chainrule does not). Once no such view can, the refusal goes for good: views taken of
    the cut tensor are not recorded."""
    key = id(tensor)
    entry = _CUT_UNDER_VIEWS.get(key)
    if entry is None or entry() is not tensor:
        return False
    if _views_on_the_graph(tensor._counter):
        return True
    del _CUT_UNDER_VIEWS[key]
    return False


def _forget(key: int, _: object) -> None:
    _CUT_UNDER_VIEWS.pop(key, None)


def detach(self: Tensor) -> Tensor:
    """The same values, cut from the graph: nothing flows back through the result. It
    shares memory, and so the version counter, with this tensor."""
    detached = Tensor._wrap(self._data)
    detached._counter = _shared_counter(self)
    return detached


def detach_(self: Tensor) -> Tensor:
    """Cut this tensor from the graph in place and return it: it becomes a leaf that does
    not require grad, so its later uses are constants. The ops recorded before keep their
    graph: their gradient still reaches the op that computed it, and a later in-place change
    is caught by their backward. A view is refused, as in PyTorch: it shares its base's
    memory, and an in-place change through the cut view would change the base's values
    without the graph knowing."""
    if self._base is not None:
        raise RuntimeError(
            f"detach_: this tensor (shape {self.shape}) is a view of another tensor's memory "
            "(a slice, reshape or transpose), and cannot be detached in place; use "
            "y = x.detach(), which leaves the view and its base on the graph"
        )
    if _views_on_the_graph(self._counter):
        key = id(self)
        _CUT_UNDER_VIEWS[key] = weakref.ref(self, partial(_forget, key))
    self._node = None
    self._requires_grad = False
    return self


def _stand_in(tensor: Tensor, node: Node | None) -> Tensor:
    """A tensor over `tensor`'s values (and version counter) computed by `node`, or a
    constant for None: what `tensor` was when `node`'s consumers recorded it
    (graph._as_recorded)."""
    stand_in = detach(tensor)
    if node is not None:
        stand_in._node = node
        stand_in._requires_grad = True
    return stand_in


READ.stand_in = _stand_in
attach_methods(detach, detach_)
