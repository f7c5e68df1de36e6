"""The recorded graph and the reverse sweep over it.

Each recorded op leaves a `Node` on its output tensor: the primitive, the parent tensors,
what the primitive saved, and the parents' versions (to catch in-place changes). `backward`
visits the nodes in reverse topological order, found iteratively (no recursion limit), and
applies each primitive's vjp once every consumer of its output has sent its gradient.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from chainrule.modes import STATE, AnomalyError, enable_grad, no_grad
from chainrule.primitives import Primitive, sum_to_shape
from chainrule.primitives.base import plain_values

if TYPE_CHECKING:
    from chainrule.tensor import Tensor

_RELEASED = object()


class Node:
    """How one tensor was computed: `primitive(*parents, **params)`, with `saved` for vjp."""

    __slots__ = ("needs", "params", "parents", "primitive", "saved", "trace", "versions")

    def __init__(
        self,
        primitive: type[Primitive],
        parents: tuple[Tensor, ...],
        saved: Any,
        params: dict[str, Any],
    ) -> None:
        self.primitive = primitive
        self.parents = parents
        self.saved = saved
        self.params = params
        self.needs = tuple([parent.requires_grad for parent in parents])
        self.versions = tuple([parent._counter.value for parent in parents])
        self.trace: str | None = None

    @property
    def released(self) -> bool:
        return self.saved is _RELEASED


def _raise_modified(node: Node) -> None:
    for position, (parent, version) in enumerate(zip(node.parents, node.versions, strict=True)):
        if parent._version != version:
            label = f" {parent.name!r}" if parent.name else ""
            raise RuntimeError(
                f"backward: input {position}{label} (shape {parent.shape}) of "
                f"{node.primitive.name} was modified in place after the op used it (version "
                f"{version}, now {parent._version}), so its gradient would be wrong; "
                "compute with a copy, or modify it only after backward"
            )


def _raise_output_modified(output: Tensor, node: Node) -> None:
    label = f" {output.name!r}" if output.name else ""
    raise RuntimeError(
        f"backward: the output of {node.primitive.name}{label} (shape {output.shape}) was "
        f"modified in place after the op (version {output._version}), and its vjp reads that "
        "output, so its gradient would be wrong; modify a copy (out.detach() * 1) instead"
    )


def _topological_consumers(root: Node) -> dict[Node, int]:
    """For each node reachable from root, how many edges lead into it from consumers."""
    consumers: dict[Node, int] = {}
    stack = [root]
    seen = {root}
    while stack:
        node = stack.pop()
        for parent in node.parents:
            parent_node = parent._node
            if parent_node is None:
                continue
            consumers[parent_node] = consumers.get(parent_node, 0) + 1
            if parent_node not in seen:
                seen.add(parent_node)
                stack.append(parent_node)
    return consumers


def _nodes_leading_to(root: Node, wanted: dict[int, int]) -> set[Node]:
    """The nodes reachable from root through which a gradient reaches a wanted tensor; the
    sweep for `inputs` visits only these (as torch.autograd.grad), so it neither computes
    gradients nobody asked for nor needs the graph recorded before the inputs."""
    leading: set[Node] = set()
    entered: set[Node] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, parents_done = stack.pop()
        if parents_done:
            if any(id(parent) in wanted or parent._node in leading for parent in node.parents):
                leading.add(node)
            continue
        if node in entered:
            continue
        entered.add(node)
        stack.append((node, True))
        for parent in node.parents:
            if parent._node is not None and parent._node not in entered:
                stack.append((parent._node, False))
    return leading


def _recorded_parent_grads(node: Node, grad_out: Any, needs: tuple[bool, ...]) -> Sequence[Any]:
    # Recorded path: redo the forward on the parent Tensors so that every saved value is a
    # Tensor on the graph, then run the same rule on Tensors; its ops are recorded in turn.
    with enable_grad():
        _, saved = node.primitive.forward(*node.parents, **node.params)
        return node.primitive.vjp(saved, grad_out, needs)


def _check_finite(node: Node, grads: Sequence[Any]) -> None:
    for grad in grads:
        if grad is not None and not np.all(np.isfinite(plain_values(grad))):
            raise AnomalyError(
                f"backward of {node.primitive.name} produced NaN or inf in a gradient; the op "
                f"was created at {node.trace}"
            )


def run_backward(
    root: Tensor,
    grad_root: Any,
    *,
    retain_graph: bool,
    create_graph: bool,
    inputs: Sequence[Tensor] | None = None,
) -> list[Any] | None:
    """Push `grad_root` from `root` to every tensor that requires grad.

    With `inputs`, return dL/d(input) for each (None where unreachable) and leave every
    `.grad` untouched; without, accumulate into `.grad` of the leaves, as PyTorch does.
    """
    wanted = {id(t): i for i, t in enumerate(inputs)} if inputs is not None else None
    results: list[Any] = [None] * len(inputs) if inputs is not None else []
    leaf_grads: dict[int, tuple[Tensor, Any]] = {}

    def deliver(tensor: Tensor, grad: Any) -> None:
        if wanted is not None:
            slot = wanted.get(id(tensor))
            if slot is not None:
                previous = results[slot]
                results[slot] = grad if previous is None else previous + grad
        elif tensor._node is None:
            entry = leaf_grads.get(id(tensor))
            leaf_grads[id(tensor)] = (tensor, grad if entry is None else entry[1] + grad)

    root_node = root._node
    if root_node is None or (wanted is not None and id(root) in wanted):
        deliver(root, grad_root)
    if root_node is not None:
        if root._version and root_node.primitive.saves_output:
            _raise_output_modified(root, root_node)
        consumers = _topological_consumers(root_node)
        leading = _nodes_leading_to(root_node, wanted) if wanted is not None else None
        pending: dict[Node, Any] = {root_node: grad_root}
        ready = [root_node] if leading is None or root_node in leading else []
        anomaly = STATE.anomaly
        context = enable_grad() if create_graph else no_grad()
        with context:
            while ready:
                node = ready.pop()
                grad_out = pending.pop(node)
                saved = node.saved
                if saved is _RELEASED:
                    raise RuntimeError(
                        f"backward: the graph through {node.primitive.name} was already freed "
                        "by an earlier backward, which releases saved values to save memory; "
                        "pass retain_graph=True to the first backward to call it twice"
                    )
                parents = node.parents
                for parent, version in zip(parents, node.versions, strict=True):
                    if parent._counter.value != version:
                        _raise_modified(node)
                needs = node.needs
                if leading is not None and wanted is not None:
                    needs = tuple([
                        need and (id(parent) in wanted or parent._node in leading)
                        for need, parent in zip(needs, parents, strict=True)
                    ])
                if create_graph:
                    grads = _recorded_parent_grads(node, grad_out, needs)
                else:
                    grads = node.primitive.vjp(saved, grad_out, needs)
                if anomaly:
                    _check_finite(node, grads)
                for parent, grad in zip(parents, grads, strict=True):
                    if grad is None or not parent.requires_grad:
                        continue
                    if isinstance(grad, np.generic):
                        grad = np.asarray(grad)  # NumPy's scalar for a 0-d result
                    data = parent._data
                    if grad.shape != data.shape:
                        grad = sum_to_shape(grad, data.shape)
                    if grad.dtype is not data.dtype and grad.dtype != data.dtype:
                        grad = grad.astype(data.dtype)
                    parent_node = parent._node
                    if parent_node is None:
                        if wanted is None:
                            key = id(parent)
                            entry = leaf_grads.get(key)
                            leaf_grads[key] = (parent, grad) if entry is None else (
                                parent, entry[1] + grad
                            )
                        else:
                            deliver(parent, grad)
                        continue
                    if wanted is not None and id(parent) in wanted:
                        deliver(parent, grad)
                    if leading is not None and parent_node not in leading:
                        continue
                    previous = pending.get(parent_node)
                    pending[parent_node] = grad if previous is None else previous + grad
                    remaining = consumers[parent_node] - 1
                    consumers[parent_node] = remaining
                    if remaining == 0:
                        if parent._version and parent_node.primitive.saves_output:
                            _raise_output_modified(parent, parent_node)
                        ready.append(parent_node)
                if not retain_graph:
                    node.saved = _RELEASED
    if inputs is not None:
        return results
    store_leaf_grads(type(root), leaf_grads.values(), {id(grad_root)}, create_graph)
    return None


def store_leaf_grads(
    tensor_type: type[Tensor],
    leaf_grads: Iterable[tuple[Tensor, Any]],
    not_ours: set[int],
    create_graph: bool = False,
) -> None:
    """Add each leaf's gradient into its `.grad`, giving every leaf an array of its own: an
    array shared with another leaf, a view, or one whose id is in `not_ours` (the caller's
    seed gradient, a reused buffer) is copied first. An existing `.grad` is added to in place
    (its version bumped), or out of place when it is itself recorded (create_graph)."""
    handed_out = set(not_ours)
    for leaf, grad in leaf_grads:
        if create_graph:
            grad_tensor = grad if isinstance(grad, tensor_type) else tensor_type._wrap(grad)
            leaf.grad = grad_tensor if leaf.grad is None else leaf.grad + grad_tensor
            continue
        grad = np.asarray(grad)
        existing = leaf.grad
        if existing is not None:
            if existing.requires_grad:
                # A recorded gradient (create_graph) is part of a graph: add out of place.
                leaf.grad = tensor_type._wrap(existing._data + grad)
            else:
                existing._data += grad
                existing._version += 1  # a graph that saved this .grad sees the change
            continue
        if id(grad) in handed_out or not grad.flags.owndata or not grad.flags.writeable:
            grad = grad.copy()
        handed_out.add(id(grad))
        leaf.grad = tensor_type._wrap(grad)
