"""Cases taken (as facts, in our words) from PyTorch's own optimizer tests: a step with no
gradients, or with all-zero gradients, and parameter groups that differ in weight decay;
with zero-size parameters beside the others."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
import pytest

import chainrule
from chainrule import nn, optim
from chainrule.nn.flat import flatten_parameters

SETTINGS: dict[str, tuple[str, dict[str, Any]]] = {
    "sgd": ("SGD", {"lr": 0.1}),
    "sgd-nesterov": ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    "sgd-maximize": ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.2, "maximize": True}),
    "adam-amsgrad": ("Adam", {"lr": 0.1, "amsgrad": True}),
    "adamw": ("AdamW", {"lr": 0.1, "weight_decay": 0.0, "maximize": True}),
}
SHAPES = ((3, 2), (0,), (4,), (2, 0))


def _params(flat: bool) -> list[nn.Parameter]:
    rng = np.random.default_rng(0)
    params = [nn.Parameter(rng.standard_normal(shape)) for shape in SHAPES]
    if flat:
        flatten_parameters(params)
    return params


@pytest.mark.parametrize("flat", [False, True], ids=["per-parameter", "flat"])
@pytest.mark.parametrize("name", list(SETTINGS))
def test_a_step_without_gradients_changes_nothing_and_keeps_no_state(name: str, flat: bool) -> None:
    cls, options = SETTINGS[name]
    params = _params(flat)
    before = [param.data.copy() for param in params]
    optimizer = getattr(optim, cls)(params, **options)
    optimizer.step()
    for param, values in zip(params, before, strict=True):
        assert np.array_equal(param.data, values)
    assert optimizer.state_dict()["state"] == {}


@pytest.mark.parametrize("flat", [False, True], ids=["per-parameter", "flat"])
@pytest.mark.parametrize("name", list(SETTINGS))
def test_all_zero_gradients_from_the_start_leave_the_parameters_exactly_as_they_were(
    name: str, flat: bool
) -> None:
    # torch's test_step_is_noop_for_zero_grads: without weight decay, zero gradients move
    # nothing, yet the step still happens (Adam counts it).
    cls, options = SETTINGS[name]
    params = _params(flat)
    before = [param.data.copy() for param in params]
    optimizer = getattr(optim, cls)(params, **options)
    for _ in range(3):
        optimizer.zero_grad(set_to_none=False)
        sum(((param * 0.0).sum() for param in params), chainrule.tensor(0.0)).backward()
        optimizer.step()
    for param, values in zip(params, before, strict=True):
        assert np.array_equal(param.data, values)
    if cls != "SGD":
        assert [optimizer.state[param]["step"] for param in params] == [3] * len(params)


@pytest.mark.torch
@pytest.mark.parametrize("flat", [False, True], ids=["per-parameter", "flat"])
@pytest.mark.parametrize("cls", ["SGD", "Adam", "AdamW"])
def test_groups_with_and_without_weight_decay_follow_torch(
    torch: ModuleType, cls: str, flat: bool
) -> None:
    params = _params(flat)
    reference_params = [torch.nn.Parameter(torch.from_numpy(p.data.copy())) for p in params]
    options = {"lr": 0.05, "momentum": 0.9} if cls == "SGD" else {"lr": 0.05}
    optimizer = getattr(optim, cls)(
        [{"params": params[:2], "weight_decay": 0.3}, {"params": params[2:]}], **options
    )
    reference = getattr(torch.optim, cls)(
        [{"params": reference_params[:2], "weight_decay": 0.3}, {"params": reference_params[2:]}],
        **options,
    )
    rng = np.random.default_rng(1)
    for step in range(6):
        optimizer.zero_grad()
        reference.zero_grad()
        grads = [rng.standard_normal(shape) for shape in SHAPES]
        sum(
            (
                (param * chainrule.tensor(grad)).sum()
                for param, grad in zip(params, grads, strict=True)
            ),
            chainrule.tensor(0.0),
        ).backward()
        for reference_param, grad in zip(reference_params, grads, strict=True):
            reference_param.grad = torch.from_numpy(grad)
        optimizer.step()
        reference.step()
        for position, (param, reference_param) in enumerate(
            zip(params, reference_params, strict=True)
        ):
            expected = reference_param.detach().numpy()
            assert param.data.shape == expected.shape
            np.testing.assert_allclose(
                param.data, expected, rtol=1e-12, err_msg=f"parameter {position}, step {step}"
            )
