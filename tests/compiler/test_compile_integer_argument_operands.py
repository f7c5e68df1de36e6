"""compile: an integer array argument used as an operand of a float tensor (`w * k`,
`k * w`, `w + k`, `k @ w`) is an ordinary use of the argument, as in PyTorch (the result
takes w's float dtype). Its cast is recorded, so each replay reads that call's values; it
was refused as a constant with an argument's shape (a NumPy astype outside the graph)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.compiler import compile

COUNTS = [[1, 2, 3], [4, 5, 6], [0, -1, 2], [7, 8, 9]]
USES: dict[str, Callable[[Any, Any], Any]] = {
    "w * k": lambda w, k: (w * k).sum(),
    "k * w": lambda w, k: (k * w).sum(),
    "w + k": lambda w, k: ((w + k) * w).sum(),
    "k @ w": lambda w, k: k @ w,
}


def _run(backend: str | None, use: Callable[[Any, Any], Any], dtype: Any, int_dtype: Any) -> list:
    w = cr.tensor(np.array([1.5, -2.0, 0.25], dtype=dtype), requires_grad=True)

    def step(k: np.ndarray) -> cr.Tensor:
        w.grad = None
        loss = use(w, k)
        loss.backward()
        return loss

    run = step if backend is None else compile(step, backend=backend)
    results = []
    for counts in COUNTS:
        loss = run(np.array(counts, dtype=int_dtype))
        assert loss.dtype == np.dtype(dtype)
        assert w.grad is not None
        results.append((float(loss.item()), w.grad.numpy().copy()))
    return results


@pytest.mark.parametrize("name", list(USES))
def test_integer_argument_operand_is_replayed_with_each_calls_values(name: str) -> None:
    eager = _run(None, USES[name], np.float64, np.int64)
    compiled = _run("numpy", USES[name], np.float64, np.int64)
    # the values change between calls, so a frozen first call would differ here
    assert len({loss for loss, _ in eager}) == len(COUNTS)
    for (loss, grad), (expected_loss, expected_grad) in zip(compiled, eager, strict=True):
        assert loss == expected_loss
        np.testing.assert_array_equal(grad, expected_grad)


def test_integer_argument_operand_under_xla_matches_eager() -> None:
    pytest.importorskip("jax")
    eager = _run(None, USES["w * k"], np.float32, np.int32)
    compiled = _run("xla", USES["w * k"], np.float32, np.int32)
    for (loss, grad), (expected_loss, expected_grad) in zip(compiled, eager, strict=True):
        assert loss == pytest.approx(expected_loss, rel=1e-6)
        np.testing.assert_allclose(grad, expected_grad, rtol=1e-6)
