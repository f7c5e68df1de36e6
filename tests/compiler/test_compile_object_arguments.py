"""Objects passed to a compiled step as arguments (`step(x, model)`, `step(x, config)`): being
hashable, they are settings of the signature, matched by identity; what they hold was not
guarded (only the step's closure and globals were), so switching the module to eval(),
changing one of its settings or an attribute of the config between calls replayed the traced
path. They are now guarded as a closure's objects are. Each case changes the object before
call 3 of 6 and compares every call with eager (bit for bit on the NumPy replay, 1e-12 on
XLA, float64)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.compiler import CompileError, compile


class _Config:
    def __init__(self) -> None:
        self.scale = 1.0
        self.weights = {"gain": 1.0}


def _scaled(out: cr.Tensor, config: _Config, module: nn.Module) -> cr.Tensor:
    return out * config.scale


def _gained(out: cr.Tensor, config: _Config, module: nn.Module) -> cr.Tensor:
    return out * config.weights["gain"]


def _activated(out: cr.Tensor, config: _Config, module: nn.Module) -> cr.Tensor:
    result: cr.Tensor = module(out)
    return result


def _by_mode(out: cr.Tensor, config: _Config, module: nn.Module) -> cr.Tensor:
    result: cr.Tensor = module(out) * (2.0 if module.training else 1.0)
    return result


CASES: dict[str, tuple[Callable[..., cr.Tensor], Callable[[_Config, nn.Module], Any]]] = {
    "config-attribute": (_scaled, lambda config, module: setattr(config, "scale", 3.0)),
    "config-dict-entry": (_gained, lambda config, module: config.weights.update(gain=-2.0)),
    "module-setting": (_activated, lambda config, module: setattr(module, "negative_slope", 0.5)),
    "module-eval": (_by_mode, lambda config, module: module.eval()),
}


def _run(case: str, backend: str | None) -> list[np.ndarray]:
    use, change = CASES[case]
    weight = cr.tensor(np.array([1.0, 0.5, -2.0]), requires_grad=True)
    config, module = _Config(), nn.LeakyReLU(0.1)

    def step(x: np.ndarray, config: _Config, module: nn.Module) -> cr.Tensor:
        weight.grad = None
        loss = use(cr.tensor(x) * weight, config, module).sum()
        loss.backward()
        return loss

    run = step if backend is None else compile(step, backend=backend)
    record = []
    for call in range(6):
        if call == 3:
            change(config, module)
        loss = run(np.array([1.0, -2.0, 3.0]) * (call + 1), config, module)
        assert weight.grad is not None
        record += [loss.numpy().copy(), weight.grad.numpy().copy()]
    return record


@pytest.mark.parametrize("backend", ["numpy", "xla"])
@pytest.mark.parametrize("case", list(CASES))
def test_an_object_argument_changed_between_calls_is_read_afresh(case: str, backend: str) -> None:
    if backend == "xla":
        from chainrule.compiler.xla import enable_float64

        enable_float64()
    expected = _run(case, None)
    got = _run(case, backend)
    for index, (value, reference) in enumerate(zip(got, expected, strict=True)):
        assert value.shape == reference.shape, index
        assert value.dtype == reference.dtype, index
        np.testing.assert_allclose(
            value, reference, rtol=0 if backend == "numpy" else 1e-12, err_msg=str(index)
        )


def test_a_step_changing_an_object_argument_is_refused() -> None:
    # Python code is not replayed: a counter the step keeps on an argument would move once.
    weight = cr.tensor(np.ones(3), requires_grad=True)
    config = _Config()

    def step(x: np.ndarray, config: _Config) -> cr.Tensor:
        config.scale += 1.0
        return (cr.tensor(x) * weight).sum()

    with pytest.raises(CompileError, match=r"the step changed argument 1\.scale"):
        compile(step)(np.ones(3), config)
