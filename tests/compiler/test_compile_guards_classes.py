"""Class attributes a compiled step reads, and helpers hidden behind a wrapper: values the
guards used to miss. Each probe traces, checks and replays a step (three calls), changes a
value the step reads, and calls again: the compiled step must give eager's new value, not
replay the traced one (bit for bit on the NumPy replay, to 1e-12 on XLA, float64)."""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.compiler import CompileError

NEEDS_JAX = pytest.mark.skipif(
    importlib.util.find_spec("jax") is None, reason="backend='xla' needs jax"
)
BACKENDS = ["numpy", pytest.param("xla", marks=NEEDS_JAX)]


def _stale_probe(
    step: Callable[[Any], cr.Tensor], change: Callable[[], None], backend: str
) -> None:
    """Three calls give 6 (the weight is ones, x is 0, 1, 2, the scale 2); after `change()`
    eager gives 15 (scale 5), and so must the compiled step."""
    if backend == "xla":
        from chainrule.compiler.xla import enable_float64

        enable_float64()
    compiled = cr.compile(step, backend=backend)
    x = np.arange(3.0)
    for _ in range(3):
        np.testing.assert_allclose(compiled(x).numpy(), 6.0, rtol=1e-12)
    change()
    expected = step(x).numpy()
    assert expected == 15.0
    got = compiled(x).numpy()
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0 if backend == "numpy" else 1e-12)


def _weight() -> cr.Tensor:
    return cr.tensor(np.ones(3), requires_grad=True)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("where", ["base", "subclass"])
def test_a_class_attribute_inherited_from_a_user_base_class_is_guarded(
    backend: str, where: str
) -> None:
    """`Settings.scale` defined on `Base`: changed on the base, or shadowed by one set on
    `Settings` itself, it is read afresh."""
    weight = _weight()

    class Base:
        scale = 2.0

    class Settings(Base):
        @staticmethod
        def loss(x: Any) -> cr.Tensor:
            return (weight * cr.tensor(x) * Settings.scale).sum()

    def change() -> None:
        owner: Any = Base if where == "base" else Settings
        owner.scale = 5.0

    _stale_probe(lambda x: Settings.loss(x), change, backend)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["own class", "base class", "__call__", "module"])
def test_a_class_attribute_read_through_an_instance_is_guarded(backend: str, kind: str) -> None:
    """`self.scale` where `scale` is a class attribute, later set on the class."""
    weight = _weight()

    class Base:
        scale = 2.0

    class Holder(Base if kind == "base class" else object):  # type: ignore[misc]
        if kind != "base class":
            scale = 2.0

        def loss(self, x: Any) -> cr.Tensor:
            return (weight * cr.tensor(x) * self.scale).sum()

        def __call__(self, x: Any) -> cr.Tensor:
            return self.loss(x)

    class Net(cr.nn.Module):
        scale = 2.0

        def forward(self, x: Any) -> cr.Tensor:
            return (weight * cr.tensor(x) * self.scale).sum()

    owner: Any = {"module": Net, "base class": Base}.get(kind, Holder)
    held: Any = Net() if kind == "module" else Holder()
    step = held if kind in ("__call__", "module") else (lambda x: held.loss(x))

    def change() -> None:
        owner.scale = 5.0

    _stale_probe(step, change, backend)


_SCALES = [2.0]


@functools.lru_cache(maxsize=8)
def _cached_scale(factor: float) -> float:
    return _SCALES[0] * factor


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_lru_cached_helper_s_globals_are_guarded(backend: str) -> None:
    """A functools.lru_cache wrapper is not a Python function: the globals of the function
    it wraps (cache cleared and the value changed) are read afresh."""
    _cached_scale.cache_clear()
    _SCALES[0] = 2.0
    weight = _weight()

    def step(x: Any) -> cr.Tensor:
        return (weight * cr.tensor(x) * _cached_scale(1.0)).sum()

    def change() -> None:
        _cached_scale.cache_clear()
        _SCALES[0] = 5.0

    try:
        _stale_probe(step, change, backend)
    finally:
        _cached_scale.cache_clear()
        _SCALES[0] = 2.0


def test_a_random_generator_held_by_a_partial_is_refused_by_name() -> None:
    """The search for random generators enters a functools.partial: a draw from one it holds
    is refused naming the generator, as one in a closure is."""
    weight = _weight()

    def loss(rng: np.random.Generator, x: Any) -> cr.Tensor:
        return (weight * cr.tensor(x)).sum() * float(rng.standard_normal())

    bound = functools.partial(loss, np.random.default_rng(0))
    compiled = cr.compile(lambda x: bound(x))
    with pytest.raises(CompileError, match="drew random numbers from"):
        compiled(np.arange(3.0))


_TABLE = {"scale": 2.0}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["index", "attribute", "descriptor"])
def test_a_special_method_python_calls_implicitly_is_followed(backend: str, kind: str) -> None:
    """`settings["scale"]`, `settings.scale` through `__getattr__`, and a descriptor's
    `__get__` run user code the step never names: what that code reads is guarded."""
    weight = _weight()

    class Table:
        def __getitem__(self, key: str) -> float:
            return _TABLE[key]

        def __getattr__(self, key: str) -> float:
            if key not in _TABLE:
                raise AttributeError(key)
            return _TABLE[key]

    class Scale:
        def __get__(self, owner: Any, cls: Any = None) -> float:
            return _TABLE["scale"]

    class Described:
        scale = Scale()

    settings: Any = Described() if kind == "descriptor" else Table()

    def step(x: Any) -> cr.Tensor:
        scale = settings["scale"] if kind == "index" else settings.scale
        return (weight * cr.tensor(x) * scale).sum()

    def change() -> None:
        _TABLE["scale"] = 5.0

    try:
        _stale_probe(step, change, backend)
    finally:
        _TABLE["scale"] = 2.0
