"""Registering buffers (and, below, parameters and sub-modules) by name, against
torch.nn.Module: a name that cannot key a state_dict entry, or that is already another
attribute, is refused as torch refuses it, leaving the module unchanged."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from chainrule import nn

BAD_NAMES = [
    pytest.param("a.b", KeyError, id="dotted"),
    pytest.param("", KeyError, id="empty"),
    pytest.param(3, TypeError, id="not-a-string"),
    pytest.param("weight", KeyError, id="a-parameter"),
    pytest.param("forward", KeyError, id="a-method"),
    pytest.param("training", KeyError, id="training"),
    pytest.param("in_features", KeyError, id="a-setting"),
]


@pytest.mark.parametrize(("name", "error"), BAD_NAMES)
def test_register_buffer_refuses_a_name_torch_refuses(name: Any, error: type) -> None:
    with pytest.raises(error):
        torch.nn.Linear(2, 2).register_buffer(name, torch.zeros(1))
    layer = nn.Linear(2, 2, rng=np.random.default_rng(0))
    before = layer.state_dict()
    with pytest.raises(error, match="register_buffer"):
        layer.register_buffer(name, np.zeros(1))
    assert [key for key, _ in layer.named_parameters()] == ["weight", "bias"]
    assert layer.in_features == 2
    assert list(layer.state_dict()) == list(before)


def test_a_dotted_buffer_name_would_collide_with_a_sub_modules_entry() -> None:
    model = nn.Module()
    model.a = nn.Module()
    model.a.register_buffer("b", np.zeros(1))
    with pytest.raises(KeyError, match=r"without '\.'"):
        model.register_buffer("a.b", np.ones(1))
    np.testing.assert_array_equal(model.state_dict()["a.b"], np.zeros(1))


def test_register_buffer_again_under_its_own_name_replaces_it() -> None:
    layer = nn.Linear(2, 2)
    layer.register_buffer("count", np.zeros(1))
    layer.register_buffer("count", np.ones(2))
    np.testing.assert_array_equal(layer.count, np.ones(2))
    assert list(layer.state_dict()) == ["weight", "bias", "count"]


def _masked_model(lib: Any, array: Any) -> Any:
    """A Linear with a saved buffer `scale` and an unsaved one `mask`, in `lib`."""
    model = lib.Linear(2, 2)
    model.register_buffer("scale", array([1.0, 2.0]))
    model.register_buffer("mask", array([1.0, 0.0]), persistent=False)
    return model


def test_a_non_persistent_buffer_is_listed_but_not_saved_as_torch() -> None:
    ours = _masked_model(nn, np.array)
    theirs = _masked_model(torch.nn, torch.tensor)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight", "bias", "scale"]
    assert [name for name, _ in ours.named_buffers()] == ["scale", "mask"]
    assert [name for name, _ in ours.named_buffers()] == [
        name for name, _ in theirs.named_buffers()
    ]


def test_a_key_for_a_non_persistent_buffer_is_unexpected_as_torch() -> None:
    ours = _masked_model(nn, np.array)
    theirs = _masked_model(torch.nn, torch.tensor)
    state = {**ours.state_dict(), "mask": np.array([5.0, 5.0])}
    torch_state = {**theirs.state_dict(), "mask": torch.tensor([5.0, 5.0])}
    assert theirs.load_state_dict(torch_state, strict=False).unexpected_keys == ["mask"]
    assert ours.load_state_dict(state, strict=False).unexpected_keys == ["mask"]
    np.testing.assert_array_equal(ours.mask, [1.0, 0.0])
    with pytest.raises(ValueError, match="unexpected keys: mask"):
        ours.load_state_dict(state)


def test_a_non_persistent_buffer_is_still_converted_and_can_be_saved_again() -> None:
    ours = _masked_model(nn, np.array).double()
    assert ours.mask.dtype == np.float64
    ours.register_buffer("mask", np.array([0.0, 1.0]))
    assert list(ours.state_dict()) == ["weight", "bias", "scale", "mask"]
    del ours.mask
    ours.register_buffer("mask", np.ones(2), persistent=False)
    ours.mask = np.zeros(2)  # assigning keeps it unsaved
    assert list(ours.state_dict()) == ["weight", "bias", "scale"]
