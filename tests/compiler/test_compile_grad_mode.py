"""A compiled step called under another grad mode than it was traced under runs as eagerly
there: the mode decides what the trace records (a backward behind `if is_grad_enabled()`,
results that require grad), so it is part of the step's signature."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr


def _backends() -> list[str]:
    backends = ["numpy"]
    try:
        import jax

        jax.config.update("jax_enable_x64", True)
        backends.append("xla")
    except ImportError:
        pass
    return backends


@pytest.mark.parametrize("backend", _backends())
def test_a_step_traced_with_grad_on_runs_under_no_grad_as_eagerly(backend: str) -> None:
    w = cr.tensor(np.array([0.5, -1.5, 2.0]), requires_grad=True)

    def step(x: cr.Tensor) -> cr.Tensor:
        loss = (w * x).sum()
        if cr.is_grad_enabled():
            loss.backward()
        return loss

    compiled = cr.compile(step, backend=backend)
    x = cr.tensor(np.array([1.0, 2.0, 3.0]))
    for _ in range(3):  # traced, checked, replayed
        w.grad = None
        compiled(x)
    assert w.grad is not None
    np.testing.assert_array_equal(w.grad.numpy(), np.array([1.0, 2.0, 3.0]))
    w.grad = None
    for _ in range(3):
        with cr.no_grad():
            loss = compiled(x)
        assert w.grad is None
        assert not loss.requires_grad
        np.testing.assert_allclose(loss.numpy(), np.array(3.5), rtol=1e-12)
    w.grad = None
    compiled(x)  # back under grad: the program traced with grad on replays again
    assert w.grad is not None
    np.testing.assert_array_equal(w.grad.numpy(), np.array([1.0, 2.0, 3.0]))
