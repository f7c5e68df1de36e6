"""Module traversal against torch.nn.Module: a sub-module or parameter registered under two
names (a shared layer, a tied weight) is listed, visited and updated as torch does it."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from chainrule import nn
from chainrule.train.diagnostics import dead_relu_fractions, layer_labels


def _shared_child_model(lib: Any) -> Any:
    """`first` and `again` are one Linear, `act` a ReLU, in `lib` (chainrule.nn or torch.nn)."""

    class Shared(lib.Module):  # type: ignore[name-defined, misc]
        def __init__(self) -> None:
            super().__init__()
            self.first = lib.Linear(2, 2)
            self.act = lib.ReLU()
            self.again = self.first

    return Shared()


def _shared_child_models() -> tuple[nn.Module, torch.nn.Module]:
    return _shared_child_model(nn), _shared_child_model(torch.nn)


def test_named_children_lists_a_shared_child_once_as_torch() -> None:
    ours, theirs = _shared_child_models()
    assert [name for name, _ in ours.named_children()] == ["first", "act"]
    assert [name for name, _ in ours.named_children()] == [
        name for name, _ in theirs.named_children()
    ]
    assert len(list(ours.children())) == len(list(theirs.children())) == 2


def test_apply_visits_a_shared_child_once_as_torch() -> None:
    ours, theirs = _shared_child_models()
    visits: dict[str, list[str]] = {"ours": [], "theirs": []}
    ours.apply(lambda module: visits["ours"].append(type(module).__name__))
    theirs.apply(lambda module: visits["theirs"].append(type(module).__name__))
    assert visits["ours"] == visits["theirs"] == ["Linear", "ReLU", "Shared"]


def test_apply_scaling_a_shared_layer_scales_it_once() -> None:
    ours, _ = _shared_child_models()
    before = ours.first.weight.data.copy()

    def halve(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            module.weight.data = module.weight.data * 0.5

    ours.apply(halve)
    np.testing.assert_array_equal(ours.first.weight.data, before * 0.5)


def test_diagnostics_still_see_a_relu_used_at_two_positions() -> None:
    act = nn.ReLU()
    model = nn.Sequential(
        nn.Linear(3, 4, rng=np.random.default_rng(0)),
        act,
        nn.Linear(4, 2, rng=np.random.default_rng(1)),
        act,
    )
    assert list(layer_labels(model)) == ["0", "1", "2", "3"]
    fractions = dead_relu_fractions(model, np.ones((5, 3), np.float32))
    assert list(fractions) == ["1", "3"]
