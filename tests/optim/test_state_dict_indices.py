"""`load_state_dict` reads whose state is whose from the indices in each saved group's
"params", as torch does, not from the position of the state's entries."""

from __future__ import annotations

import copy
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import chainrule
from chainrule import nn, optim
from chainrule.nn.flat import flatten_parameters

pytestmark = pytest.mark.torch

SHAPES = ((3,), (3,), (3,))  # one shape, so that a state loaded onto the wrong one fits


def _trained_state(module: Any, make_param: Any, make_grad: Any, cls: str) -> dict[str, Any]:
    """The state dict of an optimizer over groups [p0, p1] and [p2] after two steps, each
    parameter with its own constant gradient, so each has a different state."""
    params = [make_param(np.full(shape, 0.5)) for shape in SHAPES]
    optimizer = getattr(module, cls)(
        [{"params": params[:2], "lr": 0.1}, {"params": params[2:], "lr": 0.2}], **_options(cls)
    )
    for _ in range(2):
        optimizer.zero_grad()
        for position, param in enumerate(params):
            param.grad = make_grad(np.full(param.shape, position + 1.0))
        optimizer.step()
    return copy.deepcopy(optimizer.state_dict())


def _options(cls: str) -> dict[str, Any]:
    return {"lr": 0.1, "momentum": 0.9} if cls == "SGD" else {"lr": 0.1}


@pytest.mark.parametrize("flat", [False, True], ids=["per-parameter", "flat"])
@pytest.mark.parametrize("cls", ["SGD", "Adam"])
def test_a_state_whose_groups_were_reordered_loads_each_state_onto_its_parameter(
    torch: ModuleType, cls: str, flat: bool
) -> None:
    # The groups of the new optimizer come in the other order; reordering the saved groups
    # to match keeps each group's indices, which name the parameters. The state of p0 went
    # to p2 (the first parameter of the new optimizer), p1's to p0, p2's to p1, silently as
    # all three have one shape.
    theirs = _trained_state(
        torch.optim, lambda a: torch.nn.Parameter(torch.from_numpy(a)), torch.from_numpy, cls
    )
    ours = _trained_state(optim, nn.Parameter, chainrule.tensor, cls)
    for saved in (theirs, ours):
        saved["param_groups"].reverse()
    reference_params = [
        torch.nn.Parameter(torch.zeros(shape, dtype=torch.float64)) for shape in SHAPES
    ]
    params = [nn.Parameter(np.zeros(shape)) for shape in SHAPES]
    if flat:
        flatten_parameters(params)
    reference = getattr(torch.optim, cls)(
        [{"params": reference_params[2:]}, {"params": reference_params[:2]}], **_options(cls)
    )
    optimizer = getattr(optim, cls)(
        [{"params": params[2:]}, {"params": params[:2]}], **_options(cls)
    )
    reference.load_state_dict(theirs)
    optimizer.load_state_dict(ours)
    assert [group["lr"] for group in optimizer.param_groups] == [0.2, 0.1]
    for position, (param, reference_param) in enumerate(zip(params, reference_params, strict=True)):
        state, expected = optimizer.state[param], reference.state[reference_param]
        assert state.keys() == expected.keys(), f"parameter {position}"
        for key, value in expected.items():
            np.testing.assert_allclose(
                state[key], value.numpy(), rtol=1e-12, err_msg=f"{key} of parameter {position}"
            )
    # And the next step goes on from there on both sides.
    for position, (param, reference_param) in enumerate(zip(params, reference_params, strict=True)):
        grad = np.full(param.shape, 10.0 * (position + 1))
        param.grad = chainrule.tensor(grad)
        reference_param.grad = torch.from_numpy(grad.copy())
    optimizer.step()
    reference.step()
    for param, reference_param in zip(params, reference_params, strict=True):
        np.testing.assert_allclose(param.data, reference_param.detach().numpy(), rtol=1e-12)


def _saved_state() -> tuple[list[nn.Parameter], dict[str, Any]]:
    params = [nn.Parameter(np.zeros(shape)) for shape in SHAPES]
    optimizer = optim.SGD([{"params": params[:2]}, {"params": params[2:]}], lr=0.1, momentum=0.9)
    for param in params:
        param.grad = chainrule.tensor(np.ones(param.shape))
    optimizer.step()
    return params, copy.deepcopy(optimizer.state_dict())


@pytest.mark.parametrize(
    ("group_params", "message"),
    [
        ([[0, 0], [2]], "parameter index 0 appears twice"),
        ([[0, 1.5], [2]], "lists parameter 1.5, not an integer index"),
        (
            [[0, 1], [7]],
            r"state for parameter 2, but the state's groups list parameters \[0, 1, 7\]",
        ),
    ],
    ids=["index-twice", "non-integer-index", "state-of-an-unlisted-index"],
)
def test_a_state_whose_group_indices_do_not_name_its_entries_is_refused(
    group_params: list[list[Any]], message: str
) -> None:
    params, saved = _saved_state()
    for group, indices in zip(saved["param_groups"], group_params, strict=True):
        group["params"] = indices
    optimizer = optim.SGD([{"params": params[:2]}, {"params": params[2:]}], lr=0.1, momentum=0.9)
    with pytest.raises((ValueError, TypeError), match=message):
        optimizer.load_state_dict(saved)
    assert optimizer.state == {}


def _without_params(saved: dict[str, Any]) -> None:
    del saved["param_groups"][0]["params"]


def _state_as_list(saved: dict[str, Any]) -> None:
    saved["state"] = list(saved["state"].values())


def _state_key_not_an_index(saved: dict[str, Any]) -> None:
    saved["state"]["first"] = saved["state"].pop(0)


def _entries_not_a_dict(saved: dict[str, Any]) -> None:
    saved["state"][0] = 5


MALFORMED = {
    "group-without-params": (_without_params, "group 0 is not a dict with a 'params' list"),
    "state-as-a-list": (_state_as_list, "'state' is a list, not a dict from parameter index"),
    "state-key-not-an-index": (_state_key_not_an_index, "'first' is not a parameter index"),
    "entries-not-a-dict": (_entries_not_a_dict, "the state of parameter 0 is of type int"),
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_a_malformed_state_dict_is_refused_by_name(name: str) -> None:
    # These failed with a bare KeyError 'params', AttributeError 'list' object has no
    # attribute 'items', ValueError invalid literal for int(), AttributeError on .items().
    params, saved = _saved_state()
    spoil, message = MALFORMED[name]
    spoil(saved)
    optimizer = optim.SGD([{"params": params[:2]}, {"params": params[2:]}], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match=rf"SGD\.load_state_dict: .*{message}"):
        optimizer.load_state_dict(saved)
    assert optimizer.state == {}
