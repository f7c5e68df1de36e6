"""Editing a Sequential as torch's nn.Sequential is edited: replacing, deleting, inserting,
popping, extending and adding modules leave the same modules under the same state_dict
keys as torch, and the edited model runs its modules in the new order."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from chainrule import nn


def _stack(lib: Any) -> Any:
    """Four Linear layers of distinct sizes, so each key's shape says which layer it is."""
    return lib.Sequential(*(lib.Linear(size, size + 1) for size in range(1, 5)))


EDITS: dict[str, Callable[[Any, Any], Any]] = {
    "replace_second": lambda model, lib: model.__setitem__(1, lib.ReLU()),
    "replace_last_head": lambda model, lib: model.__setitem__(-1, lib.Linear(4, 9)),
    "delete_first": lambda model, lib: model.__delitem__(0),
    "delete_last": lambda model, lib: model.__delitem__(-1),
    "delete_middle_slice": lambda model, lib: model.__delitem__(slice(1, 3)),
    "delete_every_other": lambda model, lib: model.__delitem__(slice(None, None, 2)),
    "insert_second": lambda model, lib: model.insert(1, lib.ReLU()),
    "insert_before_last": lambda model, lib: model.insert(-1, lib.ReLU()),
    "insert_at_end": lambda model, lib: model.insert(4, lib.ReLU()),
    "pop_second": lambda model, lib: model.pop(1),
    "pop_last": lambda model, lib: model.pop(-1),
    "extend": lambda model, lib: model.extend([lib.ReLU(), lib.Linear(5, 2)]),
    "add_in_place": lambda model, lib: model.__iadd__(lib.Sequential(lib.Tanh())),
}


def _layout(model: Any) -> list[tuple[str, tuple[int, ...]]]:
    """(key, shape) of each state entry; chainrule's Linear weight transposed to torch's."""
    return [
        (key, tuple(value.shape)[::-1] if key.endswith("weight") else tuple(value.shape))
        for key, value in model.state_dict().items()
    ]


@pytest.mark.parametrize("edit", list(EDITS))
def test_an_edit_leaves_torchs_keys_and_modules(edit: str) -> None:
    ours, theirs = _stack(nn), _stack(torch.nn)
    mine, reference = EDITS[edit](ours, nn), EDITS[edit](theirs, torch.nn)
    assert [type(module).__name__ for module in ours] == [
        type(module).__name__ for module in theirs
    ]
    expected = [(key, tuple(value.shape)) for key, value in theirs.state_dict().items()]
    assert _layout(ours) == expected
    assert type(mine).__name__ == type(reference).__name__


def test_a_replaced_head_is_the_one_that_runs() -> None:
    model = nn.Sequential(
        nn.Linear(3, 4, rng=np.random.default_rng(0), dtype=np.float64), nn.ReLU()
    )
    head = nn.Linear(4, 2, rng=np.random.default_rng(1), dtype=np.float64)
    model.append(nn.Linear(4, 5))
    model[-1] = head
    x = np.random.default_rng(2).standard_normal((6, 3))
    expected = head(model[1](model[0](x)))
    np.testing.assert_array_equal(model(x).data, expected.data)
    assert [name for name, _ in model.named_parameters()] == [
        "0.weight",
        "0.bias",
        "2.weight",
        "2.bias",
    ]


def test_adding_two_sequentials_chains_their_modules_as_torch() -> None:
    first, second = _stack(nn), nn.Sequential(nn.ReLU(), nn.Linear(5, 2))
    joined = first + second
    theirs = _stack(torch.nn) + torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Linear(5, 2))
    assert _layout(joined) == [
        (key, tuple(value.shape)) for key, value in theirs.state_dict().items()
    ]
    assert list(first) + list(second) == list(joined)


@pytest.mark.parametrize(
    ("edit", "error", "message"),
    [
        (lambda model: model.insert(5, nn.ReLU()), IndexError, "out of range for 4"),
        (lambda model: model.insert(-5, nn.ReLU()), IndexError, "out of range for 4"),
        (lambda model: model.__setitem__(4, nn.ReLU()), IndexError, "out of range"),
        (lambda model: model.__setitem__(0, np.zeros(2)), TypeError, "must be a Module"),
        (lambda model: model.insert(0, "relu"), TypeError, r"Sequential\.insert"),
        (lambda model: model.extend([nn.ReLU(), 3]), TypeError, r"Sequential\.extend"),
        (lambda model: model.__iadd__([nn.ReLU()]), TypeError, r"use extend\(\)"),
    ],
    ids=[
        "insert_past_end",
        "insert_before_start",
        "set_past_end",
        "set_array",
        "insert_string",
        "extend_with_int",
        "add_list_in_place",
    ],
)
def test_a_bad_edit_is_refused_and_changes_nothing(
    edit: Callable[[Any], Any], error: type, message: str
) -> None:
    model = _stack(nn)
    before = list(model.state_dict())
    with pytest.raises(error, match=message):
        edit(model)
    assert list(model.state_dict()) == before
    assert len(model) == 4


def _named(lib: Any) -> Any:
    return lib.Sequential(
        OrderedDict([("fc1", lib.Linear(2, 3)), ("act", lib.ReLU()), ("fc2", lib.Linear(3, 1))])
    )


def test_an_ordered_dict_names_the_modules_as_torch() -> None:
    ours, theirs = _named(nn), _named(torch.nn)
    assert _layout(ours) == [
        (key, tuple(value.shape)) for key, value in theirs.state_dict().items()
    ]
    assert repr(ours) == repr(theirs)
    ours.append(nn.Tanh())
    theirs.append(torch.nn.Tanh())
    assert [name for name, _ in ours.named_children()] == [
        name for name, _ in theirs.named_children()
    ]
    x = np.ones((4, 2), np.float32)
    np.testing.assert_array_equal(ours(x).data, ours.fc2(ours.act(ours.fc1(x))).tanh().data)
