"""Module traversal against torch.nn.Module: a sub-module or parameter registered under two
names (a shared layer, a tied weight) is listed, visited and updated as torch does it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
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


def _tied_model(lib: Any, zeros: Any) -> Any:
    """`block` registered twice (as `block` and, inside `inner`, as `again`), a weight tied
    between `head` and `tail`, a buffer in `block` and one registered on the root and on
    `head` under two names, in `lib` (chainrule.nn or torch.nn)."""

    class Tied(lib.Module):  # type: ignore[name-defined, misc]
        def __init__(self) -> None:
            super().__init__()
            self.scale = lib.Parameter(zeros(1))
            self.block = lib.Sequential(lib.Linear(2, 2), lib.ReLU())
            self.block.register_buffer("count", zeros(1))
            self.inner = lib.Module()
            self.inner.again = self.block
            self.head = lib.Linear(2, 2, bias=False)
            self.tail = lib.Linear(2, 2)
            self.tail.weight = self.head.weight
            self.register_buffer("mean", zeros(2))
            self.head.register_buffer("mean_again", self.mean)

    return Tied()


def _tied_models() -> tuple[nn.Module, torch.nn.Module]:
    return _tied_model(nn, np.zeros), _tied_model(torch.nn, torch.zeros)


def _names(pairs: object) -> list[str]:
    return [name for name, _ in pairs]  # type: ignore[attr-defined]


@pytest.mark.parametrize("remove_duplicate", [True, False])
@pytest.mark.parametrize("prefix", ["", "model"])
def test_named_modules_parameters_and_buffers_name_as_torch(
    remove_duplicate: bool, prefix: str
) -> None:
    ours, theirs = _tied_models()
    for method in ("named_modules", "named_parameters", "named_buffers"):
        got = _names(getattr(ours, method)(prefix=prefix, remove_duplicate=remove_duplicate))
        expected = _names(getattr(theirs, method)(prefix=prefix, remove_duplicate=remove_duplicate))
        assert got == expected, method


@pytest.mark.parametrize("recurse", [True, False])
def test_parameters_and_buffers_recurse_as_torch(recurse: bool) -> None:
    ours, theirs = _tied_models()
    assert _names(ours.named_parameters(recurse=recurse)) == _names(
        theirs.named_parameters(recurse=recurse)
    )
    assert _names(ours.named_buffers(recurse=recurse)) == _names(
        theirs.named_buffers(recurse=recurse)
    )
    assert [p.shape for p in ours.parameters(recurse=recurse)] == [
        tuple(p.shape) for p in theirs.parameters(recurse=recurse)
    ]
    assert [b.shape for b in ours.buffers(recurse=recurse)] == [
        tuple(b.shape) for b in theirs.buffers(recurse=recurse)
    ]


def test_buffers_are_the_held_arrays_themselves() -> None:
    ours, _ = _tied_models()
    assert [id(buffer) for buffer in ours.buffers()] == [id(ours.mean), id(ours.block.count)]


def test_every_path_of_a_module_inside_itself_ends() -> None:
    outer = nn.Module()
    outer.inner = nn.Module()
    outer.inner.back = outer
    assert _names(outer.named_modules(remove_duplicate=False)) == ["", "inner"]


def test_parameter_dict_keeps_a_plain_dicts_order_where_torch_sorts_it() -> None:
    ours = nn.ParameterDict({"y": np.zeros(1), "b": np.zeros(1)})
    theirs = torch.nn.ParameterDict({"y": torch.zeros(1), "b": torch.zeros(1)})
    assert [name for name, _ in ours.named_parameters()] == ["y", "b"]  # documented
    assert [name for name, _ in theirs.named_parameters()] == ["b", "y"]
