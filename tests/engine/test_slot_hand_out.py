"""The hand-out of a flat-gradient slot's `.grad` Tensor: eager backward's store does it
inline (`graph.store_leaf_grads`), the compiled replay through `graph.hand_out_slot`. Both
must leave the same holders and bump the same versions, or a graph that saved a `.grad`
would read values written under it later, silently."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import graph, nn


def _model(seed: int = 0) -> tuple[nn.Module, cr.Tensor]:
    """A flat 3-4-2 float64 network and a non-flat leaf: the Linear layers' gradients are
    written into their slots by the kernel, the flat `scale`'s (a plain multiply) copied."""
    rng = np.random.default_rng(seed)
    model = nn.Sequential(nn.Linear(3, 4, rng=rng), nn.ReLU(), nn.Linear(4, 2, rng=rng)).double()
    model.scale = nn.Parameter(np.linspace(0.5, 1.5, 2))
    model.flatten_parameters()
    loose = cr.tensor(np.array([1.0, -2.0]), requires_grad=True)
    return model, loose


def _backward(model: nn.Module, loose: cr.Tensor, batch: int) -> None:
    x = cr.tensor(np.random.default_rng(batch).standard_normal((5, 3)))
    (model(x) * model.scale * loose).sum().backward()


def _store_through_hand_out_slot(model: nn.Module, loose: cr.Tensor, batch: int) -> None:
    """`_backward` with every slot's hand-out made by `graph.hand_out_slot` (the function
    compile uses) instead of the store's inline copy: the store hands out into a scratch
    table, then each fresh slot `.grad` is handed out into the real one."""
    before = {id(p): p.grad for p in model.parameters()}
    real = graph._SLOT_HOLDERS
    graph._SLOT_HOLDERS = {}
    try:
        _backward(model, loose, batch)
    finally:
        graph._SLOT_HOLDERS = real
    for parameter in model.parameters():
        if before[id(parameter)] is None:  # a fresh `.grad` over the slot, not an addition
            graph.hand_out_slot(id(parameter), parameter.grad)


Scenario = Callable[[nn.Module, cr.Tensor, Callable[[nn.Module, cr.Tensor, int], None]], Any]


def _kept_across_set_to_none(model: nn.Module, loose: cr.Tensor, store: Any) -> list[Any]:
    store(model, loose, 1)
    kept = [p.grad for p in model.parameters()]
    model.zero_grad(set_to_none=True)
    store(model, loose, 2)
    return kept


def _accumulated_then_fresh(model: nn.Module, loose: cr.Tensor, store: Any) -> list[Any]:
    store(model, loose, 1)
    store(model, loose, 2)  # added in place: no hand-out
    kept = [p.grad for p in model.parameters()]
    model.zero_grad(set_to_none=True)
    store(model, loose, 3)
    store(model, loose, 4)
    return kept


def _user_grad_then_none(model: nn.Module, loose: cr.Tensor, store: Any) -> list[Any]:
    store(model, loose, 1)
    kept = [p.grad for p in model.parameters()]
    first = model[0].weight
    first.grad = cr.tensor(np.ones(first.shape))  # the user's own, outside the slot
    first.grad = None
    model.zero_grad(set_to_none=True)
    store(model, loose, 2)
    return kept


def _zeroed_in_place(model: nn.Module, loose: cr.Tensor, store: Any) -> list[Any]:
    store(model, loose, 1)
    kept = [p.grad for p in model.parameters()]
    model.zero_grad(set_to_none=False)
    store(model, loose, 2)
    return kept


@pytest.mark.parametrize(
    "scenario",
    [_kept_across_set_to_none, _accumulated_then_fresh, _user_grad_then_none, _zeroed_in_place],
)
def test_eager_store_hands_out_slots_as_hand_out_slot_does(scenario: Scenario) -> None:
    results = []
    for store in (_backward, _store_through_hand_out_slot):
        model, loose = _model()
        changes = graph.slot_holder_changes()
        kept = scenario(model, loose, store)
        params = list(model.parameters())
        results.append(
            (
                [None if g is None else g.version for g in kept],
                [p.grad.version for p in params],
                [graph._SLOT_HOLDERS[id(p)]() is p.grad for p in params],
                [k is p.grad for k, p in zip(kept, params, strict=True)],
                [p.grad.numpy().copy() for p in params],
                graph.slot_holder_changes() != changes,
            )
        )
    inline, function = results
    assert inline[:4] == function[:4]
    for a, b in zip(inline[4], function[4], strict=True):
        np.testing.assert_array_equal(a, b)
    assert inline[5]
    assert function[5]
    assert all(inline[2])  # every slot's holder is its current `.grad`


def test_a_store_that_fails_part_way_still_counts_the_slots_it_handed_out() -> None:
    """The compiled replay re-hands its `.grad` Tensors only when the count changed: a
    holder replaced without a count would keep its old values' version while a replay
    writes under it."""
    model, _ = _model()
    first = cr.tensor(np.ones(3), requires_grad=True)  # reached last: its store comes last

    def backward() -> None:
        (model(cr.tensor(np.ones((5, 3))) * first) * model.scale).sum().backward()

    backward()
    model.zero_grad(set_to_none=True)
    read_only = np.zeros(3)
    read_only.flags.writeable = False
    first.grad = cr.Tensor.from_numpy(read_only)  # its store cannot add into it
    holders = {id(p): graph._SLOT_HOLDERS[id(p)]() for p in model.parameters()}
    changes = graph.slot_holder_changes()
    with pytest.raises(RuntimeError, match="not writeable"):
        backward()
    replaced = [p for p in model.parameters() if graph._SLOT_HOLDERS[id(p)]() is not holders[id(p)]]
    assert replaced  # the slots before the failing leaf were handed out
    assert graph.slot_holder_changes() != changes


def test_a_replay_after_a_failed_eager_store_bumps_the_grad_a_graph_saved() -> None:
    from chainrule import optim

    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(3, 2, rng=rng)).double()
    model.flatten_parameters()
    optimizer = optim.SGD(model.parameters(), lr=0.1)

    def step(x: np.ndarray) -> None:
        optimizer.zero_grad()
        model(cr.tensor(x)).sum().backward()
        optimizer.step()

    compiled = cr.compile(step)
    for _ in range(3):  # the trace, its check, a replay
        compiled(rng.standard_normal((4, 3)))
    first = cr.tensor(np.ones(3), requires_grad=True)
    optimizer.zero_grad()
    read_only = np.zeros(3)
    read_only.flags.writeable = False
    first.grad = cr.Tensor.from_numpy(read_only)
    with pytest.raises(RuntimeError, match="not writeable"):
        model(cr.tensor(np.ones((4, 3))) * first).sum().backward()
    held = model[0].weight.grad
    saved = (cr.tensor(np.ones(held.shape), requires_grad=True) * held).sum()
    compiled(rng.standard_normal((4, 3)))  # writes new values under `held`
    with pytest.raises(RuntimeError, match="modified in place"):
        saved.backward()
