"""The one reverse sweep of the chain rule, shared by eager backward (`graph`), compiled
replays (`compiler.program`) and explain's float64 replay (`explanation.replay`).

`schedule` orders the nodes reachable from a root so that each comes after every consumer of
its output; `sweep` walks such an order: each node's vjp turns dL/d(output) into dL/d(input)
for its inputs, which are summed back to the input's shape, cast to its dtype and added into
the input's entry. What a node is and what keys its gradients (graph nodes, buffer slots,
float64 records) belong to the caller, who passes them as plain functions.
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
    parents: Callable[[NodeT], Iterable[Any]],
    producer: Callable[[Any], NodeT | None] | None = None,
) -> list[NodeT]:
    """The nodes reachable from `root`, each after all its consumers (Kahn's algorithm from
    the root, iterative: no recursion limit). A node appears once; `parents(node)` lists the
    nodes producing its inputs, once per input (x * x lists x's producer twice).

    With `producer`, `parents(node)` lists the node's inputs instead, and `producer(input)`
    gives the node that computed it (None or another false value for an input no node
    made): two functions the caller can make in C (operator.attrgetter), so that the walk
    makes no Python call per node."""
    consumers: dict[NodeT, int] = {}
    # Each node's parents, listed once: `parents` may be the caller's (Python) function.
    parents_of: dict[NodeT, list[NodeT]] = {}
    stack = [root]
    while stack:
        node = stack.pop()
        listed = parents(node)
        if producer is not None:
            listed = filter(None, map(producer, listed))
        producers = parents_of[node] = list(listed)
        for parent in producers:
            consumers[parent] = consumers.get(parent, 0) + 1
            if parent not in parents_of:
                parents_of[parent] = []  # seen: listed when popped
                stack.append(parent)
    order: list[NodeT] = []
    ready = [root]
    while ready:
        node = ready.pop()
        order.append(node)
        for parent in parents_of[node]:
            remaining = consumers[parent] - 1
            consumers[parent] = remaining
            if remaining == 0:
                ready.append(parent)
    return order


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
