"""The activation modules under PyTorch's names: the same values, gradients and repr as their
torch.nn namesakes built with the same arguments, and refusals of what chainrule cannot do."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from chainrule import nn, tensor

pytestmark = pytest.mark.torch

# (class name, constructor arguments): each built the same way in chainrule.nn and torch.nn.
LAYERS: list[tuple[str, dict[str, Any]]] = [
    ("Softplus", {}),
    ("Softplus", {"beta": 2.0, "threshold": 1.5}),
    ("LogSigmoid", {}),
    ("SiLU", {}),
    ("GELU", {}),
    ("GELU", {"approximate": "tanh"}),
    ("ELU", {"alpha": 0.7}),
    ("CELU", {"alpha": 1.5}),
    ("SELU", {}),
    ("LeakyReLU", {}),
    ("LeakyReLU", {"negative_slope": 0.3}),
    ("Hardtanh", {}),
    ("Hardtanh", {"min_val": -2.0, "max_val": 0.5}),
    ("Hardsigmoid", {}),
    ("Hardswish", {}),
    ("Mish", {}),
    ("Softsign", {}),
    ("Softmin", {"dim": -1}),
    ("Softmin", {"dim": 0}),
    ("Softmax", {"dim": -1}),
    ("Softmax", {"dim": 0}),
    ("LogSoftmax", {"dim": -1}),
    ("LogSoftmax", {"dim": 0}),
]
IDS = [f"{name}({','.join(f'{k}={v}' for k, v in args.items())})" for name, args in LAYERS]


@pytest.mark.parametrize("shape", [(7,), (4, 5), (2, 3, 4)], ids=str)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize(("name", "args"), LAYERS, ids=IDS)
def test_layer_matches_its_torch_namesake(
    torch: ModuleType, name: str, args: dict[str, Any], dtype: type, shape: tuple[int, ...]
) -> None:
    rng = np.random.default_rng(5)
    x = rng.uniform(-5.0, 5.0, size=shape).astype(dtype)
    cotangent = rng.normal(size=shape).astype(dtype)
    ours = getattr(nn, name)(**args)
    theirs = getattr(torch.nn, name)(**args)

    mine = tensor(x, requires_grad=True)
    out = ours(mine)
    out.backward(cotangent)
    reference = torch.tensor(x, requires_grad=True)
    expected = theirs(reference)
    expected.backward(torch.from_numpy(cotangent))

    assert out.shape == shape
    assert out.dtype == dtype
    assert mine.grad is not None
    # Normwise: where gelu's 1 + erf(x / sqrt 2) cancels (x < -3), float32 results of either
    # library keep few digits of tiny entries. PyTorch's hardsigmoid multiplies its gradient by
    # a float32 1/6 even in float64.
    tolerance = 1e-6 if dtype == np.float32 or name == "Hardsigmoid" else 1e-14
    for got, want in (
        (out.numpy(), expected.detach().numpy()),
        (mine.grad.numpy(), reference.grad.numpy()),
    ):
        assert got.shape == want.shape
        assert np.max(np.abs(got - want)) <= tolerance * np.max(np.abs(want))


@pytest.mark.parametrize(("name", "args"), LAYERS, ids=IDS)
def test_layer_repr_matches_torch(torch: ModuleType, name: str, args: dict[str, Any]) -> None:
    assert repr(getattr(nn, name)(**args)) == repr(getattr(torch.nn, name)(**args))


def test_layers_train_inside_sequential() -> None:
    rng = np.random.default_rng(0)
    model = nn.Sequential(
        nn.Linear(3, 8, rng=rng, dtype=np.float64),
        nn.GELU(),
        nn.Linear(8, 8, rng=rng, dtype=np.float64),
        nn.LeakyReLU(0.1),
        nn.Linear(8, 1, rng=rng, dtype=np.float64),
    )
    x = rng.normal(size=(16, 3))
    loss = nn.MSELoss()(model(x), np.zeros((16, 1)))
    loss.backward()
    assert all(p.grad is not None and np.any(p.grad.numpy() != 0) for p in model.parameters())


REFUSED: list[tuple[str, Callable[[], Any], str]] = [
    ("inplace", lambda: nn.LeakyReLU(inplace=True), r"LeakyReLU: inplace=True is not supported"),
    ("inplace_silu", lambda: nn.SiLU(inplace=True), r"SiLU: inplace=True is not supported"),
    ("softmin_without_dim", lambda: nn.Softmin(), r"Softmin: give dim"),
    ("softmax_without_dim", lambda: nn.Softmax(), r"Softmax: give dim"),
    ("log_softmax_without_dim", lambda: nn.LogSoftmax(), r"LogSoftmax: give dim"),
    ("hardtanh_bounds", lambda: nn.Hardtanh(1.0, 1.0), r"Hardtanh: max_val=1.0 must be greater"),
    ("gelu_mode", lambda: nn.GELU("exact"), r"GELU: approximate must be 'none' or 'tanh'"),
]


@pytest.mark.parametrize(("name", "build", "message"), REFUSED, ids=[r[0] for r in REFUSED])
def test_unsupported_arguments_are_refused_by_name(
    name: str, build: Callable[[], Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        build()
