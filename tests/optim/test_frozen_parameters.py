"""A frozen nn.Parameter (requires_grad False) in an optimizer's groups, as torch allows:
`optimizer(model.parameters())` after freezing part of the model."""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import chainrule
from chainrule import nn, optim
from chainrule.nn.flat import flatten_parameters

SHAPES = ((3, 4), (4,), (4, 2))


def _loss(inputs: Any, params: Sequence[Any]) -> Any:
    """A small tanh layer's squared output, in whichever library `inputs` belongs to."""
    weight, bias, head = params
    return (((inputs @ weight + bias).tanh() @ head) ** 2).sum()


@pytest.mark.torch
@pytest.mark.parametrize("flat", [False, True], ids=["per-parameter", "flat"])
@pytest.mark.parametrize("cls", ["SGD", "Adam"])
def test_a_frozen_parameter_is_skipped_until_unfrozen_as_torch(
    torch: ModuleType, cls: str, flat: bool
) -> None:
    # SGD(model.parameters()) after model.body.requires_grad_(False) was refused ("must be
    # a leaf tensor with requires_grad=True"), where torch keeps the frozen parameter.
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(shape) for shape in SHAPES]
    params = [nn.Parameter(array.copy()) for array in arrays]
    reference_params = [torch.nn.Parameter(torch.from_numpy(array.copy())) for array in arrays]
    if flat:
        flatten_parameters(params)
    params[1].requires_grad_(False)
    reference_params[1].requires_grad_(False)
    options = {"lr": 0.1, "momentum": 0.9} if cls == "SGD" else {"lr": 0.05}
    optimizer = getattr(optim, cls)(params, **options)
    reference = getattr(torch.optim, cls)(reference_params, **options)
    inputs = rng.standard_normal((6, 3))
    for step in range(6):
        if step == 3:
            params[1].requires_grad_(True)
            reference_params[1].requires_grad_(True)
        for optimizer_of_side in (optimizer, reference):
            optimizer_of_side.zero_grad()
        _loss(chainrule.tensor(inputs), params).backward()
        _loss(torch.from_numpy(inputs), reference_params).backward()
        assert (params[1].grad is None) == (step < 3)
        optimizer.step()
        reference.step()
        for position, (param, reference_param) in enumerate(
            zip(params, reference_params, strict=True)
        ):
            np.testing.assert_allclose(
                param.data,
                reference_param.detach().numpy(),
                rtol=1e-12,
                atol=1e-14,
                err_msg=f"parameter {position}, step {step}",
            )
        saved, reference_saved = optimizer.state_dict(), reference.state_dict()
        assert sorted(saved["state"]) == sorted(reference_saved["state"])
        assert saved["param_groups"][0]["params"] == reference_saved["param_groups"][0]["params"]


def test_a_plain_tensor_that_does_not_require_grad_is_still_refused() -> None:
    with pytest.raises(ValueError, match="does not require grad, so no step would ever change"):
        optim.SGD([nn.Parameter(np.zeros(2)), chainrule.tensor(np.zeros(2))], lr=0.1)
