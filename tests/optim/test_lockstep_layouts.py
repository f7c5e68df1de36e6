"""SGD, Adam and AdamW in lockstep with torch 2.13 (float64, rtol 1e-12) over parameters of
unusual layouts and gradients that arrive in unusual ways: 0-d and (1,) parameters, strided
and Fortran-ordered arrays, all-zero gradients kept by zero_grad(set_to_none=False),
gradients assigned or written in place by the user, `.data` replaced mid-run, and float32
beside float64 in one group; each through the flat buffer and without."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import chainrule
from chainrule import nn, optim
from chainrule.nn.flat import flatten_parameters

pytestmark = pytest.mark.torch

CONFIGS: dict[str, tuple[str, dict[str, Any]]] = {
    "sgd-nesterov-decay-maximize": (
        "SGD",
        {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1, "maximize": True},
    ),
    "sgd-dampening": ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.3}),
    "adam-amsgrad-decay": ("Adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.1}),
    "adamw-maximize": ("AdamW", {"lr": 0.01, "betas": (0.5, 0.6), "maximize": True}),
}


def _strided_arrays(rng: np.random.Generator) -> list[np.ndarray]:
    wide = rng.standard_normal((4, 6))
    return [
        wide[:, ::2],
        np.asfortranarray(rng.standard_normal((3, 5))),
        rng.standard_normal((5, 4)).T,
        rng.standard_normal(()),
        rng.standard_normal((1,)),
    ]


def _mixed_arrays(rng: np.random.Generator) -> list[np.ndarray]:
    return [
        rng.standard_normal((3, 4)),
        rng.standard_normal(5).astype(np.float32),
        rng.standard_normal(()),
        rng.standard_normal((2, 1)).astype(np.float32),
    ]


def _plain_arrays(rng: np.random.Generator) -> list[np.ndarray]:
    return [rng.standard_normal((3, 4)), rng.standard_normal(5), rng.standard_normal((2, 3))]


class Scenario:
    """How the parameters are made and how each step's gradients reach them."""

    def __init__(
        self,
        arrays: Callable[[np.random.Generator], list[np.ndarray]],
        *,
        grads: str = "backward",
        set_to_none: bool = True,
        zero_on: Callable[[int, int], bool] = lambda step, position: False,
        missing_on: Callable[[int, int], bool] = lambda step, position: False,
        replace_data_at: int | None = None,
    ) -> None:
        self.arrays = arrays
        self.grads = grads
        self.set_to_none = set_to_none
        self.zero_on = zero_on
        self.missing_on = missing_on
        self.replace_data_at = replace_data_at


SCENARIOS = {
    "strided-and-tiny": Scenario(
        _strided_arrays, missing_on=lambda step, position: (step + position) % 4 == 0
    ),
    "mixed-dtypes": Scenario(
        _mixed_arrays, missing_on=lambda step, position: (step + position) % 3 == 0
    ),
    "zero-grads-kept": Scenario(
        _plain_arrays,
        set_to_none=False,
        zero_on=lambda step, position: step % 2 == position % 2,
        missing_on=lambda step, position: step == 3,
    ),
    "assigned-grads": Scenario(
        _plain_arrays, grads="assign", missing_on=lambda step, position: step % 3 == position
    ),
    "in-place-grads": Scenario(_plain_arrays, grads="in-place", set_to_none=False),
    "data-replaced": Scenario(
        _plain_arrays,
        replace_data_at=4,
        missing_on=lambda step, position: (step, position) in {(4, 0), (5, 2)},
    ),
}


def _give_gradients(
    torch: ModuleType,
    scenario: Scenario,
    step: int,
    params: Sequence[nn.Parameter],
    reference_params: Sequence[Any],
    rng: np.random.Generator,
) -> None:
    """The same gradient on both sides for each parameter not missing at `step`; a missing
    one keeps what zero_grad left (None, or zeros without set_to_none)."""
    loss = None
    for position, (param, reference_param) in enumerate(zip(params, reference_params, strict=True)):
        if scenario.missing_on(step, position):
            continue
        grad = rng.standard_normal(param.shape).astype(param.dtype)
        if scenario.zero_on(step, position):
            grad = np.zeros_like(grad)
        reference_param.grad = torch.from_numpy(grad.copy())
        if scenario.grads == "assign":
            param.grad = chainrule.tensor(grad.copy())
        elif scenario.grads == "in-place" and param.grad is not None:
            param.grad.data[...] = grad
        else:
            term = (param * chainrule.tensor(grad)).sum()
            loss = term if loss is None else loss + term
    if loss is not None:
        loss.backward()


def _replace_data(
    torch: ModuleType, params: Sequence[nn.Parameter], reference_params: Sequence[Any]
) -> None:
    """New arrays (Fortran-ordered where 2-d) with shifted values, on both sides."""
    for param, reference_param in zip(params, reference_params, strict=True):
        param.data = np.asfortranarray(param.data + 1.0)
        with torch.no_grad():
            reference_param.add_(1.0)


@pytest.mark.parametrize("flat", [False, True], ids=["per-parameter", "flat"])
@pytest.mark.parametrize("scenario", list(SCENARIOS))
@pytest.mark.parametrize("config", list(CONFIGS))
def test_ten_steps_follow_torch(torch: ModuleType, config: str, scenario: str, flat: bool) -> None:
    cls, options = CONFIGS[config]
    case = SCENARIOS[scenario]
    arrays = case.arrays(np.random.default_rng(0))
    params = [nn.Parameter(array) for array in arrays]
    reference_params = [
        torch.nn.Parameter(torch.from_numpy(np.array(array, copy=True))) for array in arrays
    ]
    if flat:
        flatten_parameters(params)
    groups = [{"params": params[:2]}, {"params": params[2:], "lr": options["lr"] / 2}]
    reference_groups = [
        {"params": reference_params[:2]},
        {"params": reference_params[2:], "lr": options["lr"] / 2},
    ]
    optimizer = getattr(optim, cls)(groups, **options)
    reference = getattr(torch.optim, cls)(reference_groups, **options)
    rng = np.random.default_rng(1)
    for step in range(10):
        if step == case.replace_data_at:
            _replace_data(torch, params, reference_params)
        optimizer.zero_grad(set_to_none=case.set_to_none)
        reference.zero_grad(set_to_none=case.set_to_none)
        _give_gradients(torch, case, step, params, reference_params, rng)
        optimizer.step()
        reference.step()
        for position, (param, reference_param) in enumerate(
            zip(params, reference_params, strict=True)
        ):
            expected = reference_param.detach().numpy()
            assert param.data.shape == expected.shape
            assert param.data.dtype == expected.dtype
            tolerance = 1e-12 if expected.dtype == np.float64 else 1e-5
            np.testing.assert_allclose(
                param.data,
                expected,
                rtol=tolerance,
                atol=tolerance * 1e-3,
                err_msg=f"parameter {position}, step {step}",
            )
