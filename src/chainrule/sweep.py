"""The one reverse sweep of the chain rule, shared by eager backward (`graph`), compiled
replays (`compiler.program`) and explain's float64 replay (`explanation.replay`).

`schedule` orders the nodes reachable from a root so that each comes after every consumer of
its output (the recording order, reversed); `sweep` walks such an order: each node's vjp
turns dL/d(output) into dL/d(input) for its inputs, which are summed back to the input's
shape, cast to its dtype and added into the input's entry. What a node is and what keys its
gradients (graph nodes, buffer slots, float64 records) belong to the caller, who passes them
as plain functions.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, MutableMapping, Sequence
from typing import Any, TypeVar

import numpy as np

from chainrule.backends import namespace
from chainrule.dtypes import namespace_dtype, numpy_dtype
from chainrule.placement import is_foreign
from chainrule.primitives import sum_to_shape

NodeT = TypeVar("NodeT", bound=Hashable)
KeyT = TypeVar("KeyT", bound=Hashable)

Target = tuple[KeyT, tuple[int, ...], np.dtype[Any]]
"""Where an input's gradient goes: its key, and the shape and dtype it must have there."""


def schedule(
    root: NodeT,
    parents: Callable[[NodeT], Iterable[NodeT]],
    position: Callable[[NodeT], int] | None = None,
) -> list[NodeT]:
    """The nodes reachable from `root`, latest-recorded first: `position(node)` is the
    node's place in the recording order (None: the node is its own place, an op's index).
    A node's inputs exist before it, so each producer was recorded before all its
    consumers, and this is a reverse topological order: each node comes after every
    consumer of its output. It is the order eager backward visits its nodes in (a tape read
    backwards, `chainrule.graph`), so every replay of it sums gradients in eager's order.
    A node appears once; `parents(node)` lists the nodes producing its inputs (a walk with
    a stack: no recursion limit)."""
    seen = {root}
    stack = [root]
    while stack:
        for parent in parents(stack.pop()):
            if parent not in seen:
                seen.add(parent)
                stack.append(parent)
    place: Callable[[NodeT], Any] = _itself if position is None else position
    return sorted(seen, key=place, reverse=True)


def _itself(node: Any) -> Any:
    return node


def fit(grad: Any, shape: tuple[int, ...], dtype: np.dtype[Any]) -> Any:
    """`grad` in its input's shape (the broadcast undone by summing) and dtype."""
    if isinstance(grad, np.generic):
        grad = np.asarray(grad)  # NumPy's scalar for a 0-d result
    if grad.shape != shape:
        grad = sum_to_shape(grad, shape)
    grad_dtype = grad.dtype
    if grad_dtype is not dtype and (type(grad) is not np.ndarray or grad_dtype != dtype):
        grad = grad.astype(dtype) if type(grad) is np.ndarray else _fit_dtype(grad, dtype)
    return grad


def _fit_dtype(grad: Any, dtype: Any) -> Any:
    """`grad`, a Tensor (a recorded gradient) or an array of another library (CuPy, JAX,
    array_api_strict, whose dtypes are not NumPy's), in `dtype` (of either kind)."""
    target = numpy_dtype(dtype)
    if numpy_dtype(grad.dtype) == target:
        return grad
    if is_foreign(grad):
        xp = namespace(grad)
        return xp.astype(grad, namespace_dtype(xp, target))
    return grad.astype(target)


def sweep(
    order: Iterable[NodeT],
    grads: MutableMapping[KeyT, Any],
    *,
    output: Callable[[NodeT], KeyT],
    targets: Callable[[NodeT], Sequence[Target[KeyT] | None]],
    vjp: Callable[[NodeT, Any], Sequence[Any]],
    keep: bool = False,
) -> MutableMapping[KeyT, Any]:
    """Push the gradients in `grads` (seeded with dL/d(root) = grad_root) back through the
    nodes in `order`, a reverse topological order such as `schedule` gives.

    For each node: grad_out = grads[output(node)] (skipped when nothing reached it), then
    for each input with a target, grads[key] += fit(vjp(node, grad_out)[i], shape, dtype).
    A visited node's entry is dropped unless `keep`, so that what remains at the end are
    the gradients of the inputs no node produced (the leaves). Returns `grads`.
    """
    for node in order:
        key = output(node)
        grad_out = grads.get(key) if keep else grads.pop(key, None)
        if grad_out is None:
            continue
        for target, grad in zip(targets(node), vjp(node, grad_out), strict=True):
            if target is None or grad is None:
                continue
            input_key, shape, dtype = target
            if type(grad) is not np.ndarray or grad.shape != shape or grad.dtype != dtype:
                grad = fit(grad, shape, dtype)  # (checked here first: most fit already)
            previous = grads.get(input_key)
            grads[input_key] = grad if previous is None else previous + grad
    return grads
