"""Compiled replays (NumPy and XLA) at NaN and at exactly 0 give eager execution's values and
gradients: a replay may not turn a NaN gradient into 0 (hiding where the NaN came from) nor
move a kink's subgradient. Eager itself is checked against PyTorch in
tests/engine/test_edge_points_vs_torch.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)

NAN = np.nan
ROW = np.array([[1.0, NAN, 3.0, NAN], [2.0, 5.0, 5.0, 1.0], [NAN, 0.0, -0.0, 7.0]])
KINKS = np.array([[NAN, 0.0, -0.0, -1.0], [1.0, 3.0, -3.0, 6.0], [0.5, NAN, 2.0, -6.0]])

OPS: dict[str, tuple[Callable[..., Any], np.ndarray]] = {
    "max": (lambda x: cr.max(x), ROW),
    "max axis 1": (lambda x: cr.max(x, axis=1), ROW),
    "min axis 0 keepdims": (lambda x: cr.min(x, axis=0, keepdims=True), ROW),
    "amax dim 0": (lambda x: cr.amax(x, 0), ROW),
    "amin": (lambda x: cr.amin(x), ROW),
    "relu": (cr.relu, KINKS),
    "leaky_relu": (lambda x: cr.leaky_relu(x, 0.1), KINKS),
    "hardtanh": (cr.hardtanh, KINKS),
    "relu6": (lambda x: cr.hardtanh(x, 0.0, 6.0), KINKS),
    "hardswish": (cr.hardswish, KINKS),
    "clip": (lambda x: cr.clip(x, -1.0, 1.0), KINKS),
    "maximum": (lambda x: cr.maximum(x, x[::-1]), KINKS),
    "minimum": (lambda x: cr.minimum(x, 0.0), KINKS),
}


def _run(op: Callable[..., Any], x0: np.ndarray, backend: str | None) -> tuple[Any, Any]:
    """op's value and the gradient of sum(op(x) * (1, 2, 3, ...)), eager or replayed."""
    x = cr.tensor(x0.copy(), requires_grad=True)

    def step(scale: cr.Tensor) -> cr.Tensor:
        x.grad = None
        out = op(x)
        weights = np.arange(1.0, 1.0 + int(np.prod(out.shape))).reshape(out.shape)
        (out * cr.tensor(weights) * scale).sum().backward()
        return out

    run = step if backend is None else cr.compile(step, backend=backend)
    for _ in range(3):  # trace, check, replay
        out = run(cr.tensor(np.array(1.0)))
    assert x.grad is not None
    return out.numpy(), x.grad.numpy()


@pytest.mark.parametrize("backend", ["numpy", "xla"])
@pytest.mark.parametrize("name", list(OPS))
def test_replays_equal_eager_at_nan_and_zero(name: str, backend: str) -> None:
    op, x = OPS[name]
    with np.errstate(invalid="ignore"):
        value, grad = _run(op, x, None)
        replayed_value, replayed_grad = _run(op, x, backend)
    # NumPy replays bit for bit; XLA rounds x / 6 as x * (1/6). NaN must stay where it is.
    rtol = 0.0 if backend == "numpy" else 1e-15
    for got, expected, what in ((replayed_value, value, "value"), (replayed_grad, grad, "grad")):
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=0, err_msg=f"{name}: {what}")
