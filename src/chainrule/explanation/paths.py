"""The paths of the chain: every way the output depends on `wrt`, as a list of links
(step, operand position), outermost first. Reuse of a tensor gives several paths, whose
products add up to the gradient.
"""

from __future__ import annotations

from chainrule.explanation.walk import GraphView, StepRecord
from chainrule.tensor import Tensor

LinkKey = tuple[int, int]
"""(index of the step in the view, position of the operand)."""


def _reaching(view: GraphView, wrt: Tensor) -> set[int]:
    """ids of the tensors whose value depends on `wrt` (wrt included)."""
    reach = {id(wrt)}
    for step in view.steps:
        if any(id(operand) in reach for operand in step.operands):
            reach.add(id(step.tensor))
    return reach


def find_paths(view: GraphView, wrt: Tensor, limit: int) -> tuple[list[list[LinkKey]], int]:
    """Up to `limit` paths from the output down to `wrt`, and how many there are in all."""
    reach = _reaching(view, wrt)
    index_of = {id(step.tensor): i for i, step in enumerate(view.steps)}
    counts: dict[int, int] = {id(wrt): 1}
    for step in view.steps:
        if id(step.tensor) == id(wrt):
            continue
        counts[id(step.tensor)] = sum(counts.get(id(operand), 0) for operand in step.operands)
    total = counts.get(id(view.output), 0)
    paths: list[list[LinkKey]] = []
    if id(view.output) not in index_of or view.output is wrt:
        return paths, total
    pending: list[tuple[StepRecord, list[LinkKey]]] = [(view.steps[index_of[id(view.output)]], [])]
    while pending and len(paths) < limit:
        step, prefix = pending.pop()
        branches: list[tuple[StepRecord, list[LinkKey]]] = []
        for position, operand in enumerate(step.operands):
            if id(operand) not in reach:
                continue
            link = [*prefix, (index_of[id(step.tensor)], position)]
            if operand is wrt:
                paths.append(link)
            else:
                branches.append((view.steps[index_of[id(operand)]], link))
        pending.extend(reversed(branches))
    return paths[:limit], total
