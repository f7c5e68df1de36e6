"""A step called with a new setting every call (a fresh config object, a float that varies)
traced every call and kept every program, with the objects its signature holds: memory grew
without bound. Past `max_programs` signatures a new one now runs the step eagerly, with one
warning, and the programs already traced keep replaying. Compared with eager, float64."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule.compiler import compile


class _Config:
    def __init__(self, scale: float) -> None:
        self.scale = scale


@pytest.mark.parametrize("backend", ["numpy", "xla"])
def test_fresh_settings_every_call_stop_tracing_at_the_bound(backend: str) -> None:
    if backend == "xla":
        from chainrule.compiler.xla import enable_float64

        enable_float64()
    weight = cr.tensor(np.array([1.0, -0.5, 2.0]), requires_grad=True)

    def step(x: np.ndarray, config: _Config) -> cr.Tensor:
        weight.grad = None
        loss = (cr.tensor(x) * weight).sum() * config.scale
        loss.backward()
        assert weight.grad is not None
        return weight.grad

    compiled = compile(step, backend=backend)
    compiled.max_programs = 4
    x = np.array([0.25, 1.5, -3.0])
    kept = _Config(2.0)
    for _ in range(3):  # traced, checked, replayed
        np.testing.assert_array_equal(compiled(x, kept).numpy(), x * 2.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for scale in range(10):
            fresh = _Config(float(scale))
            np.testing.assert_allclose(compiled(x, fresh).numpy(), x * scale, rtol=1e-15)
    assert len(compiled.programs) == 4
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(messages) == 1, messages
    assert "traced for 4 different signatures" in messages[0]
    assert "compiled.max_programs = N" in messages[0]
    traces = compiled.traces
    np.testing.assert_array_equal(compiled(x, kept).numpy(), x * 2.0)  # still replayed, not traced
    assert compiled.traces == traces


def test_the_default_bound_is_64() -> None:
    compiled = compile(lambda x: cr.tensor(x).sum())
    assert compiled.max_programs == 64
