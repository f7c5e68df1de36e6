"""Gradient clipping inside a compiled step: `clip_grad_norm_` and `clip_grad_value_` are
recorded as effects, so every replay clips that call's gradients as eager execution does;
what a replay cannot hand back (the returned norm) is refused at trace time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.compiler import CompileError, compile
from chainrule.nn.utils import clip_grad_norm_, clip_grad_value_


def _model(flat: bool, dtype: Any = np.float64) -> nn.Module:
    rng = np.random.default_rng(5)
    model = nn.Sequential(
        nn.Linear(4, 6, rng=rng, dtype=dtype),
        nn.Tanh(),
        nn.Linear(6, 2, rng=rng, dtype=dtype),
    )
    if flat:
        model.flatten_parameters()
    return model


def _batches(count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(6)
    return [(rng.normal(size=(8, 4)), 3 * rng.normal(size=(8, 2))) for _ in range(count)]


def _train(
    clip: Callable[[nn.Module], Any], compiled: bool, flat: bool, backend: str = "numpy"
) -> list[bytes]:
    """Ten SGD steps with `clip` between backward and step; each step's parameters as bytes."""
    dtype = np.float32 if backend == "xla" else np.float64
    model = _model(flat, dtype)
    optimizer = cr.optim.SGD(model.parameters(), lr=0.2, momentum=0.5)

    def step(x: np.ndarray, y: np.ndarray) -> cr.Tensor:
        optimizer.zero_grad()
        loss = ((model(cr.tensor(x)) - cr.tensor(y)) ** 2).mean()
        loss.backward()
        clip(model)
        optimizer.step()
        return loss

    run = compile(step, backend=backend) if compiled else step
    history = []
    for x, y in _batches(10):
        run(x.astype(dtype), y.astype(dtype))
        history.append(b"".join(p.data.tobytes() for p in model.parameters()))
    if compiled:
        assert getattr(run, "traces", None) == 2  # the trace and its check; then replays
    return history


@pytest.mark.parametrize("flat", [False, True], ids=["loose", "flat"])
def test_compiled_training_with_clip_grad_norm_equals_eager_bit_for_bit(flat: bool):
    def clip(model: nn.Module) -> None:
        clip_grad_norm_(model.parameters(), 0.25)

    assert _train(clip, compiled=True, flat=flat) == _train(clip, compiled=False, flat=flat)


def test_compiled_training_with_clip_grad_value_equals_eager_bit_for_bit():
    def clip(model: nn.Module) -> None:
        clip_grad_value_(model.parameters(), 0.05)

    assert _train(clip, compiled=True, flat=False) == _train(clip, compiled=False, flat=False)


def test_compiled_step_refuses_to_use_the_norm_clip_grad_norm_returns():
    model = _model(flat=False)

    def step(x: np.ndarray) -> cr.Tensor:
        model(cr.tensor(x)).sum().backward()
        return clip_grad_norm_(model.parameters(), 1.0)

    with pytest.raises(CompileError, match=r"total norm returned by clip_grad_norm_.*outside"):
        compile(step)(np.ones((2, 4)))


def test_xla_backend_refuses_clipping_naming_the_numpy_backend():
    pytest.importorskip("jax")

    def clip(model: nn.Module) -> None:
        clip_grad_norm_(model.parameters(), 0.25)

    with pytest.raises(CompileError, match=r"clip_grad_norm_.*backend='numpy'"):
        _train(clip, compiled=True, flat=False, backend="xla")
