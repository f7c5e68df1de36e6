"""The recorded graph read as the tutorial writes it: leaves, then substitutions u1, u2, ...

Each step is one recorded op, except that a matmul feeding only an add is read together with
it as one affine step `x @ w + b` (the tutorial's own substitution), unless the product
itself carries a name or is the tensor being differentiated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from chainrule import primitives as P
from chainrule.explanation.rules import AFFINE, Rule, rule_for
from chainrule.tensor import Tensor

Arg = tuple[Literal["operand", "inner"], int]


@dataclass(frozen=True)
class Op:
    """One recorded op inside a step: its primitive, parameters and where its inputs come
    from (an operand of the step, or the result of an earlier op of the same step)."""

    primitive: type[P.Primitive]
    params: dict[str, Any]
    args: tuple[Arg, ...]


@dataclass
class StepRecord:
    """One substitution: `tensor` = formula(operands), computed by `program`."""

    tensor: Tensor
    operands: tuple[Tensor, ...]
    program: tuple[Op, ...]
    rule: Rule
    primitive: type[P.Primitive] | None
    params: dict[str, Any]
    name: str = ""


@dataclass
class GraphView:
    """The steps innermost first, the leaves, and a name for every tensor."""

    output: Tensor
    steps: list[StepRecord]
    leaves: list[Tensor]
    names: dict[int, str] = field(default_factory=dict)
    literals: set[int] = field(default_factory=set)
    """The ids of the leaves that read as the number they hold (`_literal`): told by the
    tensor, not by a name that parses as a number (a parameter may be named 1e3)."""

    def name(self, tensor: Tensor) -> str:
        return self.names[id(tensor)]

    def is_literal(self, tensor: Tensor) -> bool:
        """Whether `tensor` is a number written in the graph, not a tensor of the user's."""
        return id(tensor) in self.literals

    def producer(self, tensor: Tensor) -> StepRecord | None:
        for step in self.steps:
            if step.tensor is tensor:
                return step
        return None


def _topological(output: Tensor) -> tuple[list[Tensor], dict[int, int]]:
    """Every tensor reachable from `output`, parents before children, and how many op inputs
    each one feeds.

    A tensor is marked when it is expanded, not when it is first pushed: one pushed early by a
    near consumer and reached again through a longer route must still be finished before
    every tensor computed from it (else `reversed(steps)` sends its gradient back unfinished).
    """
    order: list[Tensor] = []
    consumers: dict[int, int] = {}
    expanded_ids: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(output, False)]
    while stack:
        tensor, finished = stack.pop()
        if finished:
            order.append(tensor)
            continue
        if id(tensor) in expanded_ids:
            continue
        expanded_ids.add(id(tensor))
        stack.append((tensor, True))
        node = tensor.grad_fn
        if node is None:
            continue
        for parent in reversed(node.parents):
            consumers[id(parent)] = consumers.get(id(parent), 0) + 1
            if id(parent) not in expanded_ids:
                stack.append((parent, False))
    return order, consumers


def _check_unchanged(tensor: Tensor) -> None:
    node = tensor.grad_fn
    if node is None:
        return
    for parent, version, producer, need in zip(
        node.parents, node.versions, node.producers, node.needs, strict=True
    ):
        if producer is not None and not need:
            # Only `requires_grad = False` assigned on a computed tensor (torch refuses it)
            # records a computed input as a constant; the walk would follow its grad_fn.
            label = parent.name or f"an input of shape {parent.shape}"
            raise ValueError(
                f"explain: {label} is a computed tensor whose requires_grad was set False "
                f"(requires_grad = False) before {node.primitive.name} used it, so the op took "
                "it for a constant while the walk would follow the op that computed it; use "
                "x.detach() to make a constant of a computed tensor"
            )
        if parent.grad_fn is not producer:
            label = parent.name or f"an input of shape {parent.shape}"
            raise ValueError(
                f"explain: {label} was detached in place (detach_()) after "
                f"{node.primitive.name} used it, so the walk would take it for a constant "
                "and miss the gradient through it; explain before detaching, or detach out of "
                "place (x.detach())"
            )
        if parent.version != version:
            label = parent.name or f"an input of shape {parent.shape}"
            raise ValueError(
                f"explain: {label} was modified in place after {node.primitive.name} used it, "
                "so the recorded graph no longer matches the values; run the forward again"
            )


def _affine_product(tensor: Tensor, consumers: dict[int, int], keep: set[int]) -> int | None:
    """The position of the matmul operand that `tensor` (an add) absorbs, or None."""
    node = tensor.grad_fn
    if node is None or node.primitive is not P.Add:
        return None
    for position, parent in enumerate(node.parents):
        inner = parent.grad_fn
        if (
            inner is not None
            and inner.primitive is P.MatMul
            and parent.name is None
            and id(parent) not in keep
            and consumers.get(id(parent)) == 1
            # A bias that broadcasts the product to a larger shape: the product's gradient
            # is the upstream one summed back, which the affine rules do not say.
            and parent.shape == tensor.shape
        ):
            return position
    return None


def _single(tensor: Tensor) -> StepRecord:
    node = tensor.grad_fn
    assert node is not None
    args: tuple[Arg, ...] = tuple(("operand", i) for i in range(len(node.parents)))
    return StepRecord(
        tensor,
        tuple(node.parents),
        (Op(node.primitive, node.params, args),),
        rule_for(node.primitive),
        node.primitive,
        node.params,
    )


def _affine(tensor: Tensor, position: int) -> StepRecord:
    node = tensor.grad_fn
    assert node is not None
    product = node.parents[position]
    inner = product.grad_fn
    assert inner is not None
    bias = node.parents[1 - position]
    matmul = Op(P.MatMul, inner.params, (("operand", 0), ("operand", 1)))
    add_args: tuple[Arg, ...] = (("inner", 0), ("operand", 2))
    if position == 1:
        add_args = (("operand", 2), ("inner", 0))
    add = Op(P.Add, node.params, add_args)
    operands = (inner.parents[0], inner.parents[1], bias)
    rule = AFFINE
    if position == 1:
        rule = Rule("$c + $a @ $b", "$c + $a $b", AFFINE.locals)
    return StepRecord(tensor, operands, (matmul, add), rule, None, {})


def _literal(tensor: Tensor) -> str | None:
    """A scalar constant the user wrote as a number reads as that number."""
    if tensor.name is None and not tensor.requires_grad and tensor.size == 1:
        value = float(np.asarray(tensor.data).reshape(()))
        text = f"{value:g}"
        return f"({text})" if value < 0 else text
    return None


def _assign_names(view: GraphView, order: Sequence[Tensor]) -> None:
    taken: set[str] = set()

    def claim(tensor: Tensor, name: str) -> None:
        while name in taken:
            name += "'"
        taken.add(name)
        view.names[id(tensor)] = name

    for tensor in order:
        if tensor.name:
            claim(tensor, tensor.name)
    leaf_count = 0
    for tensor in view.leaves:
        if id(tensor) in view.names:
            continue
        literal = _literal(tensor)
        if literal is not None:
            view.names[id(tensor)] = literal
            view.literals.add(id(tensor))
            continue
        leaf_count += 1
        claim(tensor, f"leaf{leaf_count}")
    for number, step in enumerate(view.steps, start=1):
        if id(step.tensor) not in view.names:
            claim(step.tensor, "loss" if step.tensor is view.output else f"u{number}")
    for step in view.steps:
        step.name = view.names[id(step.tensor)]


def read_graph(
    output: Tensor, *, keep: Sequence[Tensor] = (), group_affine: bool = True
) -> GraphView:
    """The steps and leaves of the graph that computed `output`. Tensors in `keep` stay
    steps of their own (never absorbed into an affine step)."""
    order, consumers = _topological(output)
    keep_ids = {id(t) for t in keep}
    absorbed: set[int] = set()
    groups: dict[int, int] = {}
    if group_affine:
        for tensor in order:
            position = _affine_product(tensor, consumers, keep_ids)
            if position is not None:
                node = tensor.grad_fn
                assert node is not None
                groups[id(tensor)] = position
                absorbed.add(id(node.parents[position]))
    steps: list[StepRecord] = []
    leaves: list[Tensor] = []
    for tensor in order:
        _check_unchanged(tensor)
        if tensor.grad_fn is None:
            leaves.append(tensor)
        elif id(tensor) in absorbed:
            continue
        elif id(tensor) in groups:
            steps.append(_affine(tensor, groups[id(tensor)]))
        else:
            steps.append(_single(tensor))
    first_use: dict[int, tuple[int, int]] = {}
    for number, step in enumerate(steps):
        for position, operand in enumerate(step.operands):
            first_use.setdefault(id(operand), (number, position))
    leaves.sort(key=lambda leaf: first_use.get(id(leaf), (len(steps), 0)))
    view = GraphView(output, steps, leaves)
    _assign_names(view, order)
    return view
