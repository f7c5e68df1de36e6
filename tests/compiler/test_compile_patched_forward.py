"""A module's forward replaced on the instance after a step was compiled (`m.forward = f`,
as monkeypatching or a debugging wrapper does): the next call traces again and follows it,
as eagerly, instead of replaying the old forward (it did, silently)."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn


def _model() -> nn.Module:
    rng = np.random.default_rng(0)
    return nn.Sequential(nn.Linear(3, 2, rng=rng), nn.ReLU(), nn.Linear(2, 2, rng=rng)).double()


@pytest.mark.parametrize("child", [0, 1, 2, None])
def test_a_forward_set_on_the_instance_after_compiling_is_followed(child: int | None) -> None:
    model = _model()
    target: Any = model if child is None else model[child]

    def step(x: np.ndarray) -> cr.Tensor:
        return model(cr.tensor(x)).sum()

    compiled = cr.compile(step)
    x = np.random.default_rng(1).standard_normal((4, 3))
    for _ in range(3):  # the trace, its check, a replay
        compiled(x)
    original = target.forward
    target.forward = lambda inputs: original(inputs) * 2.0
    assert compiled(x).numpy() == step(x).numpy()
    assert compiled(x).numpy() == step(x).numpy()
    del target.forward  # back to the class's
    assert compiled(x).numpy() == step(x).numpy()


def test_a_forward_set_on_the_instance_before_compiling_is_still_followed() -> None:
    model = _model()
    original = model[0].forward
    model[0].forward = lambda inputs: original(inputs) * 3.0

    def step(x: np.ndarray) -> cr.Tensor:
        return model(cr.tensor(x)).sum()

    compiled = cr.compile(step)
    x = np.random.default_rng(1).standard_normal((4, 3))
    for _ in range(3):
        assert compiled(x).numpy() == step(x).numpy()
    model[0].forward = original
    assert compiled(x).numpy() == step(x).numpy()


class _Doubling(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inner = nn.Linear(3, 2, rng=np.random.default_rng(0))

    def forward(self, x: Any) -> Any:
        return self.inner(x)


@pytest.mark.parametrize("patched", ["user class forward", "library class forward"])
def test_a_forward_set_on_the_class_after_compiling_is_followed(
    patched: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = _Doubling().double()

    def step(x: np.ndarray) -> cr.Tensor:
        return model(cr.tensor(x)).sum()

    compiled = cr.compile(step)
    x = np.random.default_rng(1).standard_normal((4, 3))
    for _ in range(3):
        compiled(x)
    cls: Any = _Doubling if patched == "user class forward" else nn.Linear
    original = cls.forward
    monkeypatch.setattr(cls, "forward", lambda self, inputs: original(self, inputs) * 2.0)
    assert compiled(x).numpy() == step(x).numpy()
    monkeypatch.undo()
    assert compiled(x).numpy() == step(x).numpy()


class _WithHelper(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inner = nn.Linear(3, 2, rng=np.random.default_rng(0))

    def scaled(self, x: Any) -> Any:
        return x * 1.0

    def forward(self, x: Any) -> Any:
        return self.scaled(self.inner(x))


@pytest.mark.parametrize("where", ["instance", "class"])
def test_a_method_forward_calls_set_after_compiling_is_followed(
    where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = _WithHelper().double()

    def step(x: np.ndarray) -> cr.Tensor:
        return model(cr.tensor(x)).sum()

    compiled = cr.compile(step)
    x = np.random.default_rng(1).standard_normal((4, 3))
    for _ in range(3):
        compiled(x)
    if where == "instance":
        model.scaled = lambda inputs: inputs * 5.0
    else:
        monkeypatch.setattr(_WithHelper, "scaled", lambda self, inputs: inputs * 5.0)
    assert compiled(x).numpy() == step(x).numpy()


class _PartialForward(nn.Module):
    def _scaled(self, x: Any, factor: float) -> Any:
        return x * factor

    forward = functools.partialmethod(_scaled, factor=2.0)


def test_a_forward_that_is_a_new_object_at_every_lookup_replays() -> None:
    """A partialmethod makes a new callable at each class lookup: guarded by the class's
    own entry, it is the same object, so the step replays instead of being refused."""
    model = _PartialForward()

    def step(x: np.ndarray) -> cr.Tensor:
        return model(cr.tensor(x)).sum()

    compiled = cr.compile(step)
    for _ in range(4):
        assert compiled(np.ones(3)).numpy() == 6.0
    assert compiled.traces == 2
