"""A setting the step names (`settings["gain"]`, `config.gain`, `self.gain`) held in a dict,
an object or a module with more entries than the guards look at one by one (64): it was left
unguarded, so a change between calls replayed the traced value. The guards now take, beyond
the first 64 entries, those the user code names, and a list's or deque's further entries
(read at a computed index, `schedule[step]`) as one compared copy. Each case traces, checks
and replays (three calls), changes the setting, and compares the next two calls with eager
(bit for bit on the NumPy replay, to 1e-12 on XLA, float64)."""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.compiler import compile

ENTRIES = 100  # more than the guards' width


class _Settings:
    """A plain object with many attributes, the one the step reads set last."""

    def __init__(self) -> None:
        for index in range(ENTRIES):
            setattr(self, f"unused{index}", 0.0)
        self.gain = 2.0


class _WideLayer(nn.Module):
    """A module with many public settings, the one its forward reads set last."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(np.ones(3))
        for index in range(ENTRIES):
            setattr(self, f"unused{index}", 0.0)
        self.gain = 2.0

    def forward(self, x: cr.Tensor) -> cr.Tensor:
        out: cr.Tensor = (x * self.weight).sum() * self.gain
        return out


def _dict_case() -> tuple[Callable[[np.ndarray], cr.Tensor], Callable[[], None]]:
    weight = cr.tensor(np.ones(3), requires_grad=True)
    settings = {f"unused{index}": 0.0 for index in range(ENTRIES)}
    settings["gain"] = 2.0

    def step(x: np.ndarray) -> cr.Tensor:
        return (cr.tensor(x) * weight).sum() * settings["gain"]

    return step, lambda: settings.__setitem__("gain", -5.0)


def _object_case() -> tuple[Callable[[np.ndarray], cr.Tensor], Callable[[], None]]:
    weight = cr.tensor(np.ones(3), requires_grad=True)
    settings = _Settings()

    def step(x: np.ndarray) -> cr.Tensor:
        return (cr.tensor(x) * weight).sum() * settings.gain

    return step, lambda: setattr(settings, "gain", -5.0)


def _module_case() -> tuple[Callable[[np.ndarray], cr.Tensor], Callable[[], None]]:
    layer = _WideLayer()

    def step(x: np.ndarray) -> cr.Tensor:
        out: cr.Tensor = layer(cr.tensor(x))
        return out

    return step, lambda: setattr(layer, "gain", -5.0)


def _list_case() -> tuple[Callable[[np.ndarray], cr.Tensor], Callable[[], None]]:
    # a per-step schedule: the entry read is chosen by a counter, not named in the code
    weight = cr.tensor(np.ones(3), requires_grad=True)
    schedule = [0.0] * ENTRIES + [2.0]
    at = [ENTRIES]

    def step(x: np.ndarray) -> cr.Tensor:
        return (cr.tensor(x) * weight).sum() * schedule[at[0]]

    return step, lambda: schedule.__setitem__(ENTRIES, -5.0)


def _deque_case() -> tuple[Callable[[np.ndarray], cr.Tensor], Callable[[], None]]:
    weight = cr.tensor(np.ones(3), requires_grad=True)
    gains = collections.deque([0.0] * ENTRIES + [2.0])

    def step(x: np.ndarray) -> cr.Tensor:
        return (cr.tensor(x) * weight).sum() * gains[-1]

    return step, lambda: gains.__setitem__(-1, -5.0)


CASES: dict[str, Callable[[], Any]] = {
    "list-entry": _list_case,
    "deque-entry": _deque_case,
    "dict-entry": _dict_case,
    "object-attribute": _object_case,
    "module-attribute": _module_case,
}


@pytest.mark.parametrize("backend", ["numpy", "xla"])
@pytest.mark.parametrize("case", list(CASES))
def test_a_named_setting_beyond_the_first_64_entries_is_guarded(case: str, backend: str) -> None:
    if backend == "xla":
        from chainrule.compiler.xla import enable_float64

        enable_float64()
    step, change = CASES[case]()
    compiled = compile(step, backend=backend)
    x = np.array([0.5, 1.0, 2.0])
    for _ in range(3):
        np.testing.assert_allclose(compiled(x).numpy(), 7.0, rtol=1e-12)
    change()
    for _ in range(2):
        expected = step(x).numpy()
        assert expected == -17.5
        got = compiled(x).numpy()
        assert got.shape == expected.shape
        assert got.dtype == expected.dtype
        np.testing.assert_allclose(got, expected, rtol=0 if backend == "numpy" else 1e-12)
