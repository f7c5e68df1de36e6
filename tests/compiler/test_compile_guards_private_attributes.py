"""A user module's private settings (`self._scale`, `self.__temperature`, `self._mask`, a
private dict's entry) read by its forward: the guards followed a module's public attributes
only, so one changed between calls replayed the traced value silently. Each case runs a
training step eagerly and compiled from the same start, changes the setting before call 3 of
6, and compares every call's loss and the parameters and gradients after it with eager's (bit
for bit on the NumPy replay, to 1e-12 on XLA, float64)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.compiler import compile

CALLS, CHANGED_AT = 6, 3


class _Scaled(nn.Module):
    """A linear layer whose output is multiplied by private settings of several kinds."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 3, rng=np.random.default_rng(2), dtype=np.float64)
        self._scale = 1.0
        self.__temperature = 1.0  # stored as _Scaled__temperature
        self._mask = cr.tensor(np.ones(3))
        self._weights = np.ones(3)
        self._settings = {"gain": 1.0}

    def forward(self, x: cr.Tensor) -> cr.Tensor:
        out: cr.Tensor = self.linear(x) * self._scale / self.__temperature
        return out * self._mask * self._weights * self._settings["gain"]


def _set_scale(module: _Scaled) -> None:
    module._scale = 2.5


def _set_temperature(module: _Scaled) -> None:
    module._Scaled__temperature = 0.25  # type: ignore[attr-defined]


def _replace_mask(module: _Scaled) -> None:
    module._mask = cr.tensor(np.array([1.0, 0.0, 2.0]))


def _replace_weights(module: _Scaled) -> None:
    module._weights = np.array([0.5, 1.5, 1.0])


def _set_gain(module: _Scaled) -> None:
    module._settings["gain"] = -3.0


CHANGES: dict[str, Callable[[_Scaled], None]] = {
    "private-float": _set_scale,
    "name-mangled-float": _set_temperature,
    "private-tensor-replaced": _replace_mask,
    "private-array-replaced": _replace_weights,
    "private-dict-entry": _set_gain,
}


def _run(change: Callable[[_Scaled], None], backend: str | None) -> list[np.ndarray]:
    """Each call's loss, then each parameter and its gradient after it, as copies."""
    model = nn.Sequential(_Scaled())
    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    def step(x: np.ndarray, y: np.ndarray) -> cr.Tensor:
        optimizer.zero_grad()
        loss: cr.Tensor = loss_fn(model(cr.tensor(x)), y)
        loss.backward()
        optimizer.step()
        return loss

    run = step if backend is None else compile(step, backend=backend)
    rng = np.random.default_rng(0)
    record = []
    for call in range(CALLS):
        if call == CHANGED_AT:
            change(model[0])
        loss = run(rng.standard_normal((5, 4)), rng.integers(0, 3, 5))
        record.append(loss.numpy().copy())
        for param in model.parameters():
            assert param.grad is not None
            record += [param.numpy().copy(), param.grad.numpy().copy()]
    return record


@pytest.mark.parametrize("backend", ["numpy", "xla"])
@pytest.mark.parametrize("case", list(CHANGES))
def test_a_private_module_setting_changed_between_calls_is_read_afresh(
    case: str, backend: str
) -> None:
    if backend == "xla":
        from chainrule.compiler.xla import enable_float64

        enable_float64()
    expected = _run(CHANGES[case], None)
    got = _run(CHANGES[case], backend)
    for index, (value, reference) in enumerate(zip(got, expected, strict=True)):
        assert value.shape == reference.shape, index
        assert value.dtype == reference.dtype, index
        if backend == "numpy":
            np.testing.assert_array_equal(value, reference, err_msg=str(index))
        else:
            np.testing.assert_allclose(value, reference, rtol=1e-12, atol=1e-12, err_msg=str(index))
