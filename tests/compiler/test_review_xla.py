"""Review of compile(step, backend="xla") as a user porting PyTorch code would use it: each
test is a case where the XLA program once differed silently from eager execution."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import functional as F
from chainrule.compiler import compile

jax = pytest.importorskip("jax")


def _mlp() -> cr.nn.Module:
    rng = np.random.default_rng(1)
    return cr.nn.Sequential(
        cr.nn.Linear(4, 5, rng=rng, dtype=np.float32),
        cr.nn.ReLU(),
        cr.nn.Linear(5, 3, rng=rng, dtype=np.float32),
    )


def _train_freezing_after_two_calls(backend: str | None) -> cr.nn.Module:
    model = _mlp()
    optimizer = cr.optim.Adam(model.parameters(), lr=0.1)

    def step(x: np.ndarray, y: np.ndarray) -> cr.Tensor:
        optimizer.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    run = step if backend is None else compile(step, backend=backend)
    rng = np.random.default_rng(5)
    for call in range(4):
        x = rng.standard_normal((6, 4)).astype(np.float32)
        y = rng.standard_normal((6, 3)).astype(np.float32)
        # PyTorch's fine-tuning idiom: freeze a layer between steps.
        model[0].weight.requires_grad_(call < 2)
        run(x, y)
    return model


def test_a_parameter_frozen_between_calls_gets_no_gradient_and_no_update() -> None:
    eager = _train_freezing_after_two_calls(None)
    compiled = _train_freezing_after_two_calls("xla")
    assert eager[0].weight.grad is None
    assert compiled[0].weight.grad is None
    for (name, expected), (_, got) in zip(
        eager.named_parameters(), compiled.named_parameters(), strict=True
    ):
        assert got.data.dtype == expected.data.dtype, name
        np.testing.assert_allclose(got.data, expected.data, rtol=2e-5, atol=1e-6, err_msg=name)


def _train_unfreezing_after_two_calls(backend: str | None) -> cr.nn.Module:
    model = _mlp()
    optimizer = cr.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    def step(x: np.ndarray, y: np.ndarray) -> cr.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    run = step if backend is None else compile(step, backend=backend)
    rng = np.random.default_rng(5)
    for call in range(4):
        x = rng.standard_normal((6, 4)).astype(np.float32)
        y = rng.integers(0, 3, 6)
        model[0].weight.requires_grad_(call >= 2)  # unfreeze a pretrained layer
        run(x, y)
    return model


@pytest.mark.parametrize("backend", ["numpy", "xla"])
def test_a_parameter_unfrozen_between_calls_is_trained_from_then_on(backend: str) -> None:
    eager = _train_unfreezing_after_two_calls(None)
    compiled = _train_unfreezing_after_two_calls(backend)
    assert compiled[0].weight.grad is not None
    assert compiled[0].weight.grad.shape == eager[0].weight.grad.shape
    for (name, expected), (_, got) in zip(
        eager.named_parameters(), compiled.named_parameters(), strict=True
    ):
        np.testing.assert_allclose(got.data, expected.data, rtol=2e-5, atol=1e-6, err_msg=name)
