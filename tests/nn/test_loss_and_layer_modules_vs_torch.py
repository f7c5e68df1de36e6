"""The loss modules L1Loss, HuberLoss, SmoothL1Loss and BCELoss, and the GLU and Identity
layers, against their torch.nn namesakes built with the same arguments: values, gradients,
dtypes and repr."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from chainrule import nn, tensor

WEIGHT = np.array([0.5, 2.0, 1.0])

# (class name, arguments, whether the input is a probability)
LOSSES: list[tuple[str, dict[str, Any], bool]] = [
    ("L1Loss", {}, False),
    ("L1Loss", {"reduction": "sum"}, False),
    ("L1Loss", {"reduction": "none"}, False),
    ("HuberLoss", {}, False),
    ("HuberLoss", {"delta": 0.3, "reduction": "sum"}, False),
    ("HuberLoss", {"delta": 4.0, "reduction": "none"}, False),
    ("SmoothL1Loss", {}, False),
    ("SmoothL1Loss", {"beta": 0.25}, False),
    ("SmoothL1Loss", {"beta": 0.0, "reduction": "sum"}, False),
    ("BCELoss", {}, True),
    ("BCELoss", {"reduction": "none"}, True),
    ("BCELoss", {"weight": WEIGHT}, True),
    ("BCELoss", {"weight": WEIGHT, "reduction": "sum"}, True),
]
IDS = [f"{name}({','.join(f'{k}={v}' for k, v in args.items())})" for name, args, _ in LOSSES]


def _torch_args(args: dict[str, Any], dtype: type) -> dict[str, Any]:
    return {
        key: torch.tensor(value.astype(dtype)) if isinstance(value, np.ndarray) else value
        for key, value in args.items()
    }


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize(("name", "args", "probabilities"), LOSSES, ids=IDS)
def test_loss_module_matches_its_torch_namesake(
    name: str, args: dict[str, Any], probabilities: bool, dtype: type
) -> None:
    rng = np.random.default_rng(3)
    shape = (4, 3)
    if probabilities:
        x = rng.uniform(0.02, 0.98, shape).astype(dtype)
        target = rng.uniform(0.0, 1.0, shape).astype(dtype)
    else:
        x = rng.normal(0.0, 2.0, shape).astype(dtype)
        target = rng.normal(0.0, 2.0, shape).astype(dtype)
    mine = tensor(x, requires_grad=True)
    out = getattr(nn, name)(**args)(mine, target)
    reference = torch.tensor(x, requires_grad=True)
    expected = getattr(torch.nn, name)(**_torch_args(args, dtype))(reference, torch.tensor(target))
    cotangent = rng.normal(size=tuple(expected.shape)).astype(dtype)
    out.backward(cotangent)
    expected.backward(torch.tensor(cotangent))
    assert out.shape == tuple(expected.shape)
    assert out.dtype == dtype
    assert mine.grad is not None
    assert mine.grad.dtype == dtype
    tolerance = (
        {"rtol": 1e-12, "atol": 1e-14} if dtype == np.float64 else {"rtol": 2e-6, "atol": 1e-7}
    )
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), **tolerance)
    np.testing.assert_allclose(mine.grad.numpy(), reference.grad.numpy(), **tolerance)


def test_bce_weight_is_a_saved_buffer_as_torch() -> None:
    ours, theirs = nn.BCELoss(weight=WEIGHT), torch.nn.BCELoss(weight=torch.tensor(WEIGHT))
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight"]


@pytest.mark.parametrize("name", ["L1Loss", "HuberLoss", "SmoothL1Loss", "BCELoss", "Identity"])
def test_default_repr_matches_torch(name: str) -> None:
    assert repr(getattr(nn, name)()) == repr(getattr(torch.nn, name)())


@pytest.mark.parametrize("dim", [-1, 0, 1])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_glu_matches_torch(dim: int, dtype: type) -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(4, 6)).astype(dtype)
    mine, reference = tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, expected = nn.GLU(dim)(mine), torch.nn.GLU(dim)(reference)
    cotangent = rng.normal(size=tuple(expected.shape)).astype(dtype)
    out.backward(cotangent)
    expected.backward(torch.tensor(cotangent))
    assert out.dtype == dtype
    assert mine.grad is not None
    tolerance = {"rtol": 1e-12} if dtype == np.float64 else {"rtol": 2e-6, "atol": 1e-7}
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), **tolerance)
    np.testing.assert_allclose(mine.grad.numpy(), reference.grad.numpy(), **tolerance)
    assert repr(nn.GLU(dim)) == repr(torch.nn.GLU(dim))


def test_identity_returns_its_input_and_ignores_its_arguments() -> None:
    x = tensor(np.arange(3.0), requires_grad=True)
    assert nn.Identity(54, unused="argument")(x) is x
    assert list(nn.Identity().parameters()) == []


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: nn.HuberLoss(delta=0.0), "HuberLoss: delta must be > 0"),
        (lambda: nn.SmoothL1Loss(beta=-1.0), "SmoothL1Loss: beta must be >= 0"),
        (lambda: nn.L1Loss(reduction="avg"), "L1Loss: reduction must be"),
        (lambda: nn.BCELoss(reduction="avg"), "BCELoss: reduction must be"),
    ],
    ids=["huber_delta", "smooth_l1_beta", "l1_reduction", "bce_reduction"],
)
def test_bad_arguments_are_refused_by_name(build: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()
