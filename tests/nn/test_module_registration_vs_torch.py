"""Registering buffers (and, below, parameters and sub-modules) by name, against
torch.nn.Module: a name that cannot key a state_dict entry, or that is already another
attribute, is refused as torch refuses it, leaving the module unchanged."""

from __future__ import annotations

import pickle
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


# register_parameter may replace a parameter under its own name ("weight"), as torch.
@pytest.mark.parametrize(
    ("method", "name", "error"),
    [
        pytest.param(method, *case.values, id=f"{method}-{case.id}")
        for method in ("add_module", "register_module", "register_parameter")
        for case in BAD_NAMES
        if (method, case.id) != ("register_parameter", "a-parameter")
    ],
)
def test_add_module_and_register_parameter_refuse_a_name_torch_refuses(
    method: str, name: Any, error: type
) -> None:
    torch_value = torch.nn.ReLU() if "module" in method else torch.nn.Parameter(torch.zeros(1))
    ours_value = nn.ReLU() if "module" in method else nn.Parameter(np.zeros(1))
    with pytest.raises(error):
        getattr(torch.nn.Linear(2, 2), method)(name, torch_value)
    layer = nn.Linear(2, 2)
    with pytest.raises(error, match=method.replace("register_module", "add_module")):
        getattr(layer, method)(name, ours_value)
    assert [key for key, _ in layer.named_parameters()] == ["weight", "bias"]
    assert list(layer.named_children()) == []


def _registered_by_name(lib: Any, zeros: Any) -> Any:
    model = lib.Module()
    model.add_module("block-1", lib.Linear(2, 3))
    model.register_module("norm", lib.BatchNorm1d(3))
    model.register_parameter("gain", lib.Parameter(zeros(3)))
    model.register_parameter("unused", None)
    model.add_module("empty", None)
    return model


def test_modules_and_parameters_registered_by_name_are_listed_as_torch() -> None:
    ours = _registered_by_name(nn, np.zeros)
    theirs = _registered_by_name(torch.nn, torch.zeros)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [name for name, _ in ours.named_modules()] == [
        name for name, _ in theirs.named_modules()
    ]
    assert ours.get_submodule("block-1") is getattr(ours, "block-1")
    assert ours.get_parameter("block-1.bias") is getattr(ours, "block-1").bias
    assert ours.get_buffer("norm.running_var") is ours.norm.running_var
    assert ours.get_submodule("") is ours


@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("get_submodule", "missing"),
        ("get_submodule", "norm.missing"),
        ("get_parameter", "norm.running_var"),
        ("get_parameter", "gain.x"),
        ("get_buffer", "gain"),
        ("get_buffer", "empty.x"),
    ],
)
def test_a_missing_target_is_an_attribute_error_as_torch(method: str, target: str) -> None:
    with pytest.raises(AttributeError):
        getattr(_registered_by_name(torch.nn, torch.zeros), method)(target)
    with pytest.raises(AttributeError, match=method.split("_")[1]):
        getattr(_registered_by_name(nn, np.zeros), method)(target)


def test_register_parameter_refuses_what_is_not_a_parameter() -> None:
    with pytest.raises(TypeError, match=r"nn\.Parameter\(array\)"):
        nn.Linear(2, 2).register_parameter("extra", np.zeros(1))
    with pytest.raises(TypeError, match="Module or None"):
        nn.Linear(2, 2).add_module("extra", np.zeros(1))


@pytest.mark.parametrize(
    "dtype",
    [np.float64, "float32", np.dtype(np.float32), torch.float64, torch.int64],
    ids=["numpy-type", "name", "numpy-dtype", "torch-float64", "torch-int64"],
)
def test_to_given_a_dtype_says_how_to_convert(dtype: Any) -> None:
    layer = nn.Linear(2, 2)
    with pytest.raises(TypeError, match=r"is a dtype.*model\.double\(\)"):
        layer.to(dtype)
    assert layer.weight.dtype == np.float32


def test_a_module_unpickled_from_before_non_persistent_buffers_takes_one() -> None:
    layer = pickle.loads(pickle.dumps(nn.Linear(2, 2)))
    del layer.__dict__["_non_persistent_buffers"]  # as pickled by an older chainrule
    assert list(layer.state_dict()) == ["weight", "bias"]
    layer.register_buffer("mask", np.ones(2), persistent=False)
    assert list(layer.state_dict()) == ["weight", "bias"]
    assert [name for name, _ in layer.named_buffers()] == ["mask"]
