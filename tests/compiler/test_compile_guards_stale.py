"""Python values a compiled step reads that the guards used to miss: changed in place
between calls, the replay silently reused the traced value. Each probe traces, checks and
replays a step (three calls), changes a value the step reads, and calls again: the compiled
step must give eager's new value (bit for bit on the NumPy replay, to 1e-12 on XLA,
float64). Also: compile must not crash on a user `__getattr__` raising KeyError, and a
value the step consumes (a generator, a random generator in a partial) is refused naming
it by the path the step reaches it by."""

from __future__ import annotations

import array
import collections
import ctypes
import functools
import importlib.util
import itertools
import os
import types
from collections.abc import Callable, Iterator
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
    step: Callable[[Any], cr.Tensor], change: Callable[[], None], backend: str = "numpy"
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


# ------------------------------------------------------------------ 1. sets
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("read", ["membership", "len"])
def test_a_set_changed_in_place_is_guarded(backend: str, read: str) -> None:
    """`if "wide" in active:` / `len(active)`, then `active.add("wide")` between calls."""
    weight = _weight()
    active = {"base"}

    def step(x: Any) -> cr.Tensor:
        if read == "membership":
            scale = 5.0 if "wide" in active else 2.0
        else:
            scale = 3.0 * len(active) - 1.0
        return (weight * cr.tensor(x) * scale).sum()

    _stale_probe(step, lambda: active.add("wide"), backend)


def test_a_set_whose_member_is_swapped_at_the_same_length_is_guarded() -> None:
    """One member out, another in: the length alone would not tell."""
    weight = _weight()
    active = {"base"}

    def step(x: Any) -> cr.Tensor:
        return (weight * cr.tensor(x) * (5.0 if "wide" in active else 2.0)).sum()

    def change() -> None:
        active.discard("base")
        active.add("wide")

    _stale_probe(step, change)


def test_a_frozenset_replaced_in_a_dict_is_guarded() -> None:
    weight = _weight()
    settings = {"active": frozenset({"base"})}

    def step(x: Any) -> cr.Tensor:
        return (weight * cr.tensor(x) * (5.0 if "wide" in settings["active"] else 2.0)).sum()

    _stale_probe(step, lambda: settings.update(active=frozenset({"base", "wide"})))


# ------------------------------------------------------------------ 2. other containers
def _container_cases() -> list[Any]:
    class UserList(list[float]):
        pass

    class UserDict(dict[str, float]):
        pass

    return [
        pytest.param(lambda: collections.deque([2.0]), 0, 5.0, id="deque"),
        pytest.param(lambda: array.array("d", [2.0]), 0, 5.0, id="array.array"),
        pytest.param(lambda: bytearray([2]), 0, 5, id="bytearray"),
        pytest.param(lambda: collections.OrderedDict(s=2.0), "s", 5.0, id="OrderedDict"),
        pytest.param(lambda: collections.defaultdict(float, s=2.0), "s", 5.0, id="defaultdict"),
        pytest.param(lambda: collections.Counter(s=2), "s", 5, id="Counter"),
        pytest.param(lambda: UserList([2.0]), 0, 5.0, id="list subclass"),
        pytest.param(lambda: UserDict(s=2.0), "s", 5.0, id="dict subclass"),
    ]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("make", "key", "new"), _container_cases())
def test_a_container_changed_in_place_is_guarded(
    backend: str, make: Callable[[], Any], key: Any, new: Any
) -> None:
    weight = _weight()
    values = make()

    def step(x: Any) -> cr.Tensor:
        return (weight * cr.tensor(x) * values[key]).sum()

    _stale_probe(step, lambda: values.__setitem__(key, new), backend)


_OUTER_TABLE = {"s": 2.0}


@pytest.mark.parametrize(
    ("make", "read", "change"),
    [
        pytest.param(
            lambda: types.MappingProxyType(_OUTER_TABLE),
            lambda held: held["s"],
            lambda held: _OUTER_TABLE.__setitem__("s", 5.0),
            id="MappingProxyType",
        ),
        pytest.param(
            lambda: memoryview(bytearray([2])),
            lambda held: held[0],
            lambda held: held.__setitem__(0, 5),
            id="memoryview",
        ),
        pytest.param(
            lambda: ctypes.c_double(2.0),
            lambda held: held.value,
            lambda held: setattr(held, "value", 5.0),
            id="ctypes.c_double",
        ),
    ],
)
def test_a_view_or_raw_buffer_changed_in_place_is_guarded(
    make: Callable[[], Any], read: Callable[[Any], float], change: Callable[[Any], None]
) -> None:
    """A read-only view of a dict changed through the dict, a memoryview, a ctypes value."""
    weight = _weight()
    held = make()
    try:
        _stale_probe(lambda x: (weight * cr.tensor(x) * read(held)).sum(), lambda: change(held))
    finally:
        _OUTER_TABLE["s"] = 2.0


def test_a_deque_appended_to_is_guarded() -> None:
    """`scales[-1]` after `scales.append(5.0)`: the entry read by the step moved."""
    weight = _weight()
    scales = collections.deque([2.0], maxlen=4)

    def step(x: Any) -> cr.Tensor:
        return (weight * cr.tensor(x) * scales[-1]).sum()

    _stale_probe(step, lambda: scales.append(5.0))


def test_a_simple_namespace_attribute_is_guarded() -> None:
    weight = _weight()
    settings = types.SimpleNamespace(scale=2.0)

    def step(x: Any) -> cr.Tensor:
        return (weight * cr.tensor(x) * settings.scale).sum()

    _stale_probe(step, lambda: setattr(settings, "scale", 5.0))


# ------------------------------------------------------------------ 3. metaclass property
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("where", ["class attribute", "metaclass attribute"])
def test_a_class_attribute_read_through_a_metaclass_property_is_guarded(
    backend: str, where: str
) -> None:
    """`Config.scale` is a property of the metaclass reading `cls._scale` (set on the class)
    or `Meta.factor` (set on the metaclass)."""
    weight = _weight()

    class Meta(type):
        factor = 1.0

        @property
        def scale(cls) -> float:
            return float(cls._scale * Meta.factor)  # type: ignore[attr-defined]

    class Config(metaclass=Meta):
        _scale = 2.0

    def change() -> None:
        if where == "class attribute":
            Config._scale = 5.0
        else:
            Meta.factor = 2.5

    _stale_probe(lambda x: (weight * cr.tensor(x) * Config.scale).sum(), change, backend)


# ------------------------------------------------------------------ 4. the environment
_ENVIRONMENT_KEY = "CHAINRULE_TEST_GUARDS_SCALE"


@pytest.fixture
def environment_scale(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_ENVIRONMENT_KEY, "2")


def _read_environ_get() -> float:
    return float(os.environ.get(_ENVIRONMENT_KEY, "0"))


def _read_environ_item() -> float:
    return float(os.environ[_ENVIRONMENT_KEY])


def _read_getenv() -> float:
    return float(os.getenv(_ENVIRONMENT_KEY) or 0)


def _read_built_key() -> float:
    # The key is computed, so no string constant of the code names it.
    return float(os.environ["_".join(("CHAINRULE", "TEST", "GUARDS", "SCALE"))])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "read", [_read_environ_get, _read_environ_item, _read_getenv, _read_built_key]
)
@pytest.mark.usefixtures("environment_scale")
def test_an_environment_variable_the_step_reads_is_guarded(
    backend: str, read: Callable[[], float], monkeypatch: pytest.MonkeyPatch
) -> None:
    weight = _weight()
    _stale_probe(
        lambda x: (weight * cr.tensor(x) * read()).sum(),
        lambda: monkeypatch.setenv(_ENVIRONMENT_KEY, "5"),
        backend,
    )


@pytest.mark.usefixtures("environment_scale")
def test_the_environment_held_in_a_variable_is_guarded(monkeypatch: pytest.MonkeyPatch) -> None:
    """`settings = os.environ` then `settings.get(...)`: the code never names `environ`."""
    weight = _weight()
    settings = os.environ

    def step(x: Any) -> cr.Tensor:
        return (weight * cr.tensor(x) * float(settings.get(_ENVIRONMENT_KEY, "0"))).sum()

    _stale_probe(step, lambda: monkeypatch.setenv(_ENVIRONMENT_KEY, "5"))


# ------------------------------------------------------------------ 5. large NumPy arrays
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("read", ["float of an entry", "mean", "last entry"])
def test_a_large_array_read_into_python_is_guarded(backend: str, read: str) -> None:
    """A table of 5000 elements (more than the old 1024-element limit) changed in place."""
    weight = _weight()
    table = np.full(5000, 2.0)

    def step(x: Any) -> cr.Tensor:
        if read == "float of an entry":
            scale = float(table[0])
        elif read == "mean":
            scale = float(table.mean())
        else:
            scale = float(table[-1])
        return (weight * cr.tensor(x) * scale).sum()

    def change() -> None:
        if read == "last entry":
            table[-1] = 5.0  # one element far from the start: no sampled fingerprint misses it
        else:
            table[:] = 5.0

    _stale_probe(step, change, backend)


def test_a_string_array_changed_in_place_is_guarded() -> None:
    weight = _weight()
    names = np.array(["base", "base"])

    def step(x: Any) -> cr.Tensor:
        return (weight * cr.tensor(x) * (5.0 if "wide" in names else 2.0)).sum()

    _stale_probe(step, lambda: names.__setitem__(1, "wide"))


def test_a_large_array_the_step_writes_into_is_refused() -> None:
    """A log the step writes into (`history[i] = ...`) would be written on the traced call
    only: refused, as for a small array."""
    weight = _weight()
    history = np.zeros(5000)

    def step(x: Any) -> cr.Tensor:
        loss = (weight * cr.tensor(x)).sum()
        history[0] += 1.0
        return loss

    with pytest.raises(CompileError, match="history"):
        cr.compile(step)(np.arange(3.0))


# ------------------------------------------------------------------ 6. __getattr__ raising KeyError
class _KeyErrorObject:
    """Attributes backed by a dict, whose `__getattr__` raises KeyError for unknown names."""

    def __init__(self) -> None:
        self.scale = 2.0

    def __getattr__(self, name: str) -> Any:
        raise KeyError(name)


class _KeyErrorSlots:
    __slots__ = ("scale",)

    def __init__(self) -> None:
        self.scale = 2.0

    def __getattr__(self, name: str) -> Any:
        raise KeyError(name)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", [_KeyErrorObject, _KeyErrorSlots])
def test_an_object_whose_getattr_raises_key_error_compiles_and_is_guarded(
    backend: str, kind: type
) -> None:
    weight = _weight()
    settings = kind()
    _stale_probe(
        lambda x: (weight * cr.tensor(x) * settings.scale).sum(),
        lambda: setattr(settings, "scale", 5.0),
        backend,
    )


# ------------------------------------------------------------------ 7. consumed values
def _counting_from_two() -> Iterator[float]:
    value = 1.0
    while True:
        value += 1.0
        yield value


def test_a_generator_the_step_takes_items_from_is_refused_by_name() -> None:
    weight = _weight()
    scales = _counting_from_two()
    next(scales)  # partly consumed before the step sees it

    def step(x: Any) -> cr.Tensor:
        return (weight * cr.tensor(x) * next(scales)).sum()

    with pytest.raises(CompileError, match=r"the generator 'scales'.*pass it as an argument"):
        cr.compile(step)(np.arange(3.0))


def test_a_generator_held_by_a_partial_is_refused_by_its_path() -> None:
    weight = _weight()

    def loss(scales: Iterator[float], x: Any) -> cr.Tensor:
        return (weight * cr.tensor(x) * next(scales)).sum()

    bound = functools.partial(loss, _counting_from_two())
    with pytest.raises(CompileError, match=r"the generator 'bound\.args\[0\]'"):
        cr.compile(lambda x: bound(x))(np.arange(3.0))


@pytest.mark.parametrize(
    "make",
    [lambda: iter([2.0, 3.0, 4.0, 5.0]), lambda: itertools.count(2.0)],
    ids=["list iterator", "itertools.count"],
)
def test_a_builtin_iterator_the_step_advances_is_refused_by_name(
    make: Callable[[], Iterator[float]],
) -> None:
    weight = _weight()
    scales = make()

    def step(x: Any) -> cr.Tensor:
        return (weight * cr.tensor(x) * next(scales)).sum()

    with pytest.raises(CompileError, match=r"'scales'.*pass it as an argument"):
        cr.compile(step)(np.arange(3.0))


def test_a_random_generator_held_by_a_partial_is_named_by_its_path() -> None:
    """Not 'bound' (the partial), but the generator itself: its type and where it is held."""
    weight = _weight()

    def loss(rng: np.random.Generator, x: Any) -> cr.Tensor:
        return (weight * cr.tensor(x)).sum() * float(rng.standard_normal())

    bound = functools.partial(loss, np.random.default_rng(0))
    with pytest.raises(
        CompileError, match=r"np\.random\.Generator 'bound\.args\[0\]'.*pass it as an argument"
    ):
        cr.compile(lambda x: bound(x))(np.arange(3.0))


def test_a_generator_the_step_only_holds_does_not_refuse() -> None:
    """A generator reachable but not advanced by the step traces and replays."""
    weight = _weight()
    scales = _counting_from_two()

    def step(x: Any) -> cr.Tensor:
        assert scales is not None
        return (weight * cr.tensor(x) * 2.0).sum()

    compiled = cr.compile(step)
    for _ in range(4):
        np.testing.assert_allclose(compiled(np.arange(3.0)).numpy(), 6.0, rtol=0)
    assert compiled.traces == 2


# ------------------------------------------------------------------ keys held in variables
def test_a_dict_entry_read_with_a_key_held_in_a_variable_is_guarded() -> None:
    """`table[key]` with `key = "scale"` in the closure: no string constant of the code
    names the entry, the variable's value does."""
    weight = _weight()
    table = {"scale": 2.0}
    key = "scale"

    def step(x: Any) -> cr.Tensor:
        return (weight * cr.tensor(x) * table[key]).sum()

    _stale_probe(step, lambda: table.__setitem__("scale", 5.0))


def test_an_attribute_read_by_getattr_with_a_name_held_in_a_variable_is_guarded() -> None:
    weight = _weight()
    settings = types.SimpleNamespace(scale=2.0)
    name = "scale"

    def step(x: Any) -> cr.Tensor:
        return (weight * cr.tensor(x) * getattr(settings, name)).sum()

    _stale_probe(step, lambda: setattr(settings, "scale", 5.0))
