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
