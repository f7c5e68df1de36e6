"""compile(backend="xla"): a primitive of the user's own whose forward or vjp rule reads
Python state (a class attribute, a module global). The NumPy replay calls the rules at each
call, reading that state afresh as eager does; the jitted body ran them once, when JAX traced
it, so a change between calls was replayed stale (a wrong loss and gradient). The program now
guards what the rules read and traces the step again when it changes. Each case changes the
state before call 3 of 6 and compares every call's loss and gradient with eager's (float64,
to 1e-12)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.compiler import compile
from chainrule.primitives import Primitive

GAIN = 2.0


class _ScaledSquare(Primitive):
    """z = factor * x**2;  dz/dx = 2 * factor * x, `factor` a class attribute."""

    name = "scaled_square"
    factor = 2.0

    @staticmethod
    def forward(x: Any) -> tuple[Any, Any]:
        return x * x * _ScaledSquare.factor, x

    @staticmethod
    def vjp(saved: Any, grad_out: Any, needs: tuple[bool, ...]) -> tuple[Any, ...]:
        return (grad_out * 2.0 * _ScaledSquare.factor * saved,)


class _GainedIdentity(Primitive):
    """z = x;  dz/dx = GAIN, a module global read by the vjp only (a straight-through
    gradient scaled by a setting)."""

    name = "gained_identity"

    @staticmethod
    def forward(x: Any) -> tuple[Any, Any]:
        return x * 1.0, None

    @staticmethod
    def vjp(saved: Any, grad_out: Any, needs: tuple[bool, ...]) -> tuple[Any, ...]:
        return (grad_out * GAIN,)


def _set_factor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_ScaledSquare, "factor", 0.5)


def _set_gain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(f"{__name__}.GAIN", -3.0)


CASES = {
    "class-attribute-in-forward-and-vjp": (_ScaledSquare, _set_factor),
    "module-global-in-vjp": (_GainedIdentity, _set_gain),
}


def _losses_and_grads(
    primitive: type[Primitive], change: Any, monkeypatch: pytest.MonkeyPatch, backend: str | None
) -> list[np.ndarray]:
    weight = cr.tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)

    def step(x: np.ndarray) -> cr.Tensor:
        weight.grad = None
        loss = cr.Tensor.apply(primitive, cr.tensor(x) * weight).sum()
        loss.backward()
        return loss

    run = step if backend is None else compile(step, backend=backend)
    record = []
    with monkeypatch.context() as patch:
        for call in range(6):
            if call == 3:
                change(patch)
            loss = run(np.array([1.0, 2.0, 3.0]) + call)
            assert weight.grad is not None
            record += [loss.numpy().copy(), weight.grad.numpy().copy()]
    return record


@pytest.mark.parametrize("case", list(CASES))
def test_state_read_by_a_user_primitives_rules_is_read_afresh_by_the_xla_replay(
    case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chainrule.compiler.xla import enable_float64

    enable_float64()
    primitive, change = CASES[case]
    expected = _losses_and_grads(primitive, change, monkeypatch, None)
    got = _losses_and_grads(primitive, change, monkeypatch, "xla")
    for index, (value, reference) in enumerate(zip(got, expected, strict=True)):
        assert value.shape == reference.shape, index
        assert value.dtype == reference.dtype, index
        np.testing.assert_allclose(value, reference, rtol=1e-12, err_msg=str(index))


@pytest.mark.parametrize("case", list(CASES))
def test_state_read_by_a_user_primitives_rules_matches_eager_on_the_numpy_replay(
    case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The NumPy replay calls the rules live: a guard on what they read is not needed there.
    primitive, change = CASES[case]
    expected = _losses_and_grads(primitive, change, monkeypatch, None)
    got = _losses_and_grads(primitive, change, monkeypatch, "numpy")
    for index, (value, reference) in enumerate(zip(got, expected, strict=True)):
        assert value.dtype == reference.dtype, index
        np.testing.assert_array_equal(value, reference, err_msg=str(index))
