"""What the explore page shows, as plain JSON-ready data: the graph read as `explain` reads it
(leaves, steps u1 .. loss, links), each tensor's value and gradient as a (sampled) matrix, a
forward step per substitution and a backward step per chain-rule link with its numeric check.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.explanation import Explanation, Link, explain
from chainrule.explanation.replay import upstream_gradients
from chainrule.explanation.walk import GraphView, read_graph
from chainrule.tensor import Tensor

MAX_ROWS = 64
"""Rows of a tensor embedded in the page; more are sampled (the first MAX_ROWS, said so)."""
MAX_COLS = 64
"""Columns of a tensor embedded in the page; more are sampled likewise."""

Json = dict[str, Any]


def matrix(array: np.ndarray | float) -> Json:
    """`array` as a row-major matrix for a heatmap: 0-d and 1-d read as one row, more than 2
    dims as (first axis, the rest flattened); at most MAX_ROWS x MAX_COLS entries kept."""
    values = np.asarray(array, dtype=np.float64)
    shape = list(values.shape)
    if values.ndim == 0:
        grid = values.reshape(1, 1)
    elif values.ndim == 1:
        grid = values.reshape(1, -1)
    else:
        grid = values.reshape(values.shape[0], -1)
    rows, cols = min(grid.shape[0], MAX_ROWS), min(grid.shape[1], MAX_COLS)
    kept = grid[:rows, :cols]
    return {
        "shape": shape,
        "rows": rows,
        "cols": cols,
        "sampled": bool(kept.size < grid.size),
        "data": [float(v) for v in kept.ravel()],
    }


def _entry_cell(entry: Sequence[int], shape: Sequence[int]) -> list[int]:
    """The (row, col) of a tensor entry in its `matrix` grid."""
    if len(shape) == 0:
        return [0, 0]
    if len(shape) == 1:
        return [0, int(entry[0])]
    rest = shape[1:]
    col = int(np.ravel_multi_index(tuple(entry[1:]), tuple(rest))) if rest else 0
    return [int(entry[0]), col]


def _layout(view: GraphView) -> dict[int, tuple[int, int]]:
    """(column, row) of every tensor: a step one right of its deepest operand, a leaf one left
    of its first consumer (so every edge points right), rows in order of first appearance
    within a column."""
    depth: dict[int, int] = {id(leaf): 0 for leaf in view.leaves}
    for step in view.steps:
        depth[id(step.tensor)] = 1 + max((depth.get(id(t), 0) for t in step.operands), default=0)
    first_use: dict[int, int] = {}
    for step in view.steps:
        for operand in step.operands:
            if operand.grad_fn is None:
                column = depth[id(step.tensor)] - 1
                first_use[id(operand)] = min(first_use.get(id(operand), column), column)
    depth.update(first_use)
    rows: dict[int, int] = {}
    place: dict[int, tuple[int, int]] = {}
    for tensor in [*(s.tensor for s in view.steps), *view.leaves]:
        column = depth[id(tensor)]
        place[id(tensor)] = (column, rows.get(column, 0))
        rows[column] = rows.get(column, 0) + 1
    return place


def _is_entry_by_entry(link: Link, upstream: np.ndarray) -> bool:
    """Whether the link's Jacobian is diagonal: its output and input entries pair one to one,
    so d(output)[i]/d(input)[i] is one number per entry."""
    return link.kind in ("constant", "elementwise") and upstream.shape == tuple(link.grad_in_shape)


def _plugged_in(
    link: Link, upstream: np.ndarray, grad_in: np.ndarray, local: np.ndarray | None
) -> list[Json]:
    """At each checked entry of an entry-by-entry link: upstream, local derivative and their
    product, the numbers the chain rule multiplies (`local`: the Jacobian's diagonal)."""
    if local is None:
        return []
    return [
        {
            "entry": list(entry),
            "upstream": float(upstream[entry]),
            "local": float(local[entry]),
            "product": float(grad_in[entry]),
        }
        for entry in link.check.entries
    ]


def _link_step(
    link: Link, upstream: np.ndarray, grad_in: np.ndarray, local: np.ndarray | None
) -> Json:
    check = link.check
    return {
        "phase": "backward",
        "node": link.input,
        "from": link.output,
        "title": f"d{link.output}/d{link.input}",
        "derivative": link.derivative,
        "rule": link.rule,
        "kind": link.kind,
        "local_shape": list(link.shape) if link.shape is not None else None,
        "upstream_name": f"dloss/d{link.output}",
        "upstream": matrix(upstream),
        "grad_in_name": f"dloss/d{link.input} (through {link.output})",
        "grad_in": matrix(grad_in),
        "grad_out_shape": list(link.grad_out_shape),
        "grad_in_shape": list(link.grad_in_shape),
        "plugged_in": _plugged_in(link, upstream, grad_in, local),
        "check": {
            "entries": [list(e) for e in check.entries],
            "cells": [_entry_cell(e, link.grad_in_shape) for e in check.entries],
            "analytic": list(check.analytic),
            "numeric": list(check.numeric),
            "kinks": check.kinks,
            "max_rel_err": check.max_rel_err,
            "passed": check.passed,
            "skipped": check.skipped,
            "summary": str(check),
        },
    }


def graph_data(
    output: Tensor,
    wrt: Sequence[Tensor],
    *,
    samples: int = 4,
    rng: np.random.Generator | None = None,
) -> Json:
    """The page's data for d(output)/d(w) for every w in `wrt`: nodes, edges, and the
    stepper's steps (forward u1 -> output, then backward one link per step)."""
    if isinstance(wrt, Tensor):
        wrt = (wrt,)
    if not wrt:
        raise ValueError(
            "explore: wrt is empty; pass the tensors to differentiate with "
            "respect to, e.g. wrt=[w1, b1]"
        )
    if isinstance(samples, bool) or not isinstance(samples, int | np.integer) or samples < 1:
        # 0 checked entries would read "ok: 0 entries vs finite differences", a pass that
        # checked nothing.
        raise ValueError(
            f"explore: samples={samples!r}; each backward link is checked against finite "
            "differences at `samples` entries: give an integer >= 1 (default 4)"
        )
    generator = rng if rng is not None else np.random.default_rng(0)
    # Each explanation reads the graph keeping its own wrt out of any affine step; with an
    # intermediate among several wrt they would group (and so name) the steps differently
    # from each other and from the page's view, so then no affine step is grouped at all.
    group_affine = len(wrt) == 1 or all(w.grad_fn is None for w in wrt)
    view = read_graph(output, keep=tuple(wrt), group_affine=group_affine)
    by_name = {view.name(t): t for t in [*view.leaves, *(s.tensor for s in view.steps)]}
    for name, tensor in by_name.items():
        _require_finite(name, np.asarray(tensor.data), "value")
    explanations: list[Explanation] = [
        explain(output, w, samples=samples, rng=generator, group_affine=group_affine) for w in wrt
    ]
    _require_same_steps(view, explanations)
    grads = upstream_gradients(view)
    for name, tensor in by_name.items():
        if id(tensor) in grads:
            _require_finite(name, grads[id(tensor)], f"gradient dloss/d{name}")
    place = _layout(view)
    formulas = {step.name: step for step in explanations[0].steps}
    roles = {leaf.name: leaf.role for leaf in explanations[0].leaves}
    nodes: list[Json] = []
    for name, tensor in by_name.items():
        column, row = place[id(tensor)]
        formula = formulas.get(name)
        grad = grads.get(id(tensor))
        nodes.append(
            {
                "name": name,
                "kind": roles.get(name, "step" if formula is not None else "data"),
                "shape": list(tensor.shape),
                "formula": formula.formula if formula is not None else "",
                "column": column,
                "row": row,
                "value": matrix(np.asarray(tensor.data)),
                "grad": matrix(grad) if grad is not None else None,
            }
        )
    edges = [
        {"from": view.name(operand), "to": step.name, "shape": list(operand.shape)}
        for step in view.steps
        for operand in step.operands
        if view.name(operand) in by_name
    ]
    steps: list[Json] = [
        {
            "phase": "forward",
            "node": step.name,
            "title": f"{step.name} = {step.formula}",
            "formula": step.formula,
            "shape": list(step.shape),
            "value": matrix(np.asarray(by_name[step.name].data)),
        }
        for step in explanations[0].steps
    ]
    links: dict[tuple[str, str, int], Link] = {}
    for explanation in explanations:
        for link in explanation.links:
            links.setdefault((link.output, link.input, link.position), link)
    for link in _backward_order(list(links.values())):
        upstream = grads[id(by_name[link.output])]
        grad_in = _link_contribution(view, link, upstream)
        # The local derivative of an entry-by-entry link is the Jacobian's diagonal: ones
        # pushed back. (Read as product / upstream it was unknown where upstream is 0, as at
        # every entry a max-pool or a dead ReLU passes nothing back to.)
        local = (
            _link_contribution(view, link, np.ones_like(upstream))
            if _is_entry_by_entry(link, upstream)
            else None
        )
        steps.append(_link_step(link, upstream, grad_in, local))
    return {
        "output": view.name(output),
        "wrt": [view.name(w) for w in wrt],
        "nodes": nodes,
        "edges": edges,
        "steps": steps,
        "max_rows": MAX_ROWS,
        "max_cols": MAX_COLS,
    }


def _require_same_steps(view: GraphView, explanations: Sequence[Explanation]) -> None:
    """The page shows the view's tensors under the explanations' step names and formulas, so
    every explanation must have read the same steps (a mismatch would label one tensor's
    numbers with another's formula)."""
    expected = [step.name for step in view.steps]
    for explanation in explanations:
        read = [step.name for step in explanation.steps]
        if read != expected:
            raise ValueError(
                f"explore: d{explanation.output}/d{explanation.wrt} read the steps {read}, "
                f"the page {expected}; explore each wrt on its own (explore(loss, wrt=w))"
            )


def _require_finite(name: str, array: np.ndarray, what: str) -> None:
    """A clear error for the first NaN or inf: the page (JSON) holds finite numbers only, and
    the first tensor in forward order to hold one is where it came from."""
    bad = np.flatnonzero(~np.isfinite(np.asarray(array, dtype=np.float64)))
    if bad.size == 0:
        return
    entry = tuple(int(i) for i in np.unravel_index(int(bad[0]), np.shape(array)))
    value = float(np.ravel(array)[bad[0]])
    number = "NaN" if np.isnan(value) else str(value)
    raise ValueError(
        f"explore: {name} holds {number} at entry {entry} of its {what}, and the page shows "
        "finite numbers only; remove the NaN or inf from the input, or the overflow from "
        "the step that makes it, before exploring"
    )


def _backward_order(links: list[Link]) -> list[Link]:
    """`links` in the order given, except that a link out of a tensor waits until every link
    into it is shown: the upstream gradient a step multiplies (the tensor's whole gradient)
    is then the sum of what the steps before it sent back, as in a backward pass."""
    pending = list(links)
    ordered: list[Link] = []
    while pending:
        waiting_on = {link.input for link in pending}
        ready = next((link for link in pending if link.output not in waiting_on), pending[0])
        ordered.append(ready)
        pending.remove(ready)
    return ordered


def _link_contribution(view: GraphView, link: Link, upstream: np.ndarray) -> np.ndarray:
    """What this one link sends back: the upstream gradient pushed through its step to one
    operand (the part of dloss/d(input) that flows through `link.output`)."""
    from chainrule.explanation.replay import operand_values, step_vjp

    for step in view.steps:
        if step.name == link.output:
            pushed = step_vjp(step, operand_values(step), upstream)[link.position]
            if pushed is None:
                return np.zeros(link.grad_in_shape)
            return np.asarray(pushed, dtype=np.float64)
    raise ValueError(f"explore: no step named {link.output!r} in the graph")
