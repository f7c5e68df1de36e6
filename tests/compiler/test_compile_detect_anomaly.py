"""A compiled step called under `chainrule.detect_anomaly()`: the mode checks every op's
output and gradient for NaN/inf and names the user's line, which a replay (flat NumPy calls,
or one jitted body) cannot; it returned the NaN silently where eager raised AnomalyError. The
step now runs eagerly under the mode, and replays again after it, equal to eager throughout."""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.compiler import compile

BACKENDS = ["numpy", "xla"]


def _enable_float64(backend: str) -> None:
    if backend == "xla":
        from chainrule.compiler.xla import enable_float64

        enable_float64()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_nan_under_detect_anomaly_raises_as_eagerly_after_replays(backend: str) -> None:
    _enable_float64(backend)
    weight = cr.tensor(np.ones(3), requires_grad=True)

    def step(x: np.ndarray) -> cr.Tensor:
        weight.grad = None
        loss = (cr.tensor(x) * weight).log().sum()
        loss.backward()
        return loss

    compiled = compile(step, backend=backend)
    for _ in range(3):  # the trace, its check, a replay
        compiled(np.array([1.0, 2.0, 3.0]))
    negative = np.array([-1.0, 2.0, 3.0])
    with (
        np.errstate(invalid="ignore"),
        cr.detect_anomaly(),
        pytest.raises(cr.AnomalyError, match=r"log produced NaN or inf .* at .*test_compile_"),
    ):
        compiled(negative)


def _run(backend: str | None, flat: bool) -> list[np.ndarray]:
    """Eight training calls, the fourth and sixth under detect_anomaly (no NaN): each loss,
    then each parameter and gradient after it."""
    rng = np.random.default_rng(3)
    model = nn.Sequential(
        nn.Linear(4, 6, rng=rng, dtype=np.float64),
        nn.ReLU(),
        nn.Linear(6, 3, rng=rng, dtype=np.float64),
    )
    if flat:
        model.flatten_parameters()
    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    def step(x: np.ndarray, y: np.ndarray) -> cr.Tensor:
        optimizer.zero_grad()
        loss: cr.Tensor = loss_fn(model(cr.tensor(x)), y)
        loss.backward()
        optimizer.step()
        return loss

    run = step if backend is None else compile(step, backend=backend)
    data = np.random.default_rng(0)
    record: list[np.ndarray] = []
    for call in range(8):
        mode: Any = cr.detect_anomaly() if call in (3, 5) else contextlib.nullcontext()
        with mode:
            record.append(run(data.standard_normal((5, 4)), data.integers(0, 3, 5)).numpy())
        for param in model.parameters():
            assert param.grad is not None
            record += [param.numpy().copy(), param.grad.numpy().copy()]
    return record


@pytest.mark.parametrize("flat", [False, True], ids=["own-arrays", "flat-buffer"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_calls_under_detect_anomaly_between_replays_keep_training_as_eagerly(
    backend: str, flat: bool
) -> None:
    _enable_float64(backend)
    expected = _run(None, flat)
    got = _run(backend, flat)
    for index, (value, reference) in enumerate(zip(got, expected, strict=True)):
        assert value.shape == reference.shape, index
        assert value.dtype == reference.dtype, index
        np.testing.assert_allclose(
            value,
            reference,
            rtol=0 if backend == "numpy" else 1e-12,
            atol=0 if backend == "numpy" else 1e-14,
            err_msg=str(index),
        )
