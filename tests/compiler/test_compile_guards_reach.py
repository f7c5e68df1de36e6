"""Python values a compiled step reads that the guards used to miss: a number held in a list
(`weights[0]`), an attribute of an object with __slots__ (a `@dataclass(slots=True)`
config), and a default argument (a mutable default dict, or `__defaults__` replaced).
Changed after the trace and its check (from the fourth call on), each used to be replayed at
its traced value; now the change traces the step again. Each case compares eager and
compiled runs from the same weights: bit for bit on the NumPy replay, to 1e-12 on XLA
(float64).
"""

from __future__ import annotations

import importlib.util
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import functional as F
from chainrule.compiler import compile

NEEDS_JAX = pytest.mark.skipif(
    importlib.util.find_spec("jax") is None, reason="backend='xla' needs jax"
)
BACKENDS = ["numpy", pytest.param("xla", marks=NEEDS_JAX)]
CALLS = 6
CHANGE_AT = 3  # after the trace (call 0), its check (call 1) and a replay (call 2)


def _value(index: int) -> float:
    return 1.0 if index < CHANGE_AT else 0.5 * index


def _compare(
    setup: Callable[[], tuple[cr.nn.Module, Callable[..., Any], Callable[[int], None]]],
    backend: str,
) -> None:
    if backend == "xla":
        from chainrule.compiler.xla import enable_float64

        enable_float64()
    rng = np.random.default_rng(0)
    batches = [(rng.standard_normal((8, 4)), rng.integers(0, 3, 8)) for _ in range(CALLS)]
    runs = []
    for compiled in (False, True):
        model, step, between = setup()
        run = compile(step, backend=backend) if compiled else step
        losses = []
        for index, (x, y) in enumerate(batches):
            between(index)
            losses.append(run(x, y).numpy().copy())
        runs.append((losses, [p.numpy().copy() for p in model.parameters()]))
    (eager_losses, eager_params), (losses, params) = runs
    for got, expected in zip(losses + params, eager_losses + eager_params, strict=True):
        assert got.shape == expected.shape
        if backend == "numpy":
            np.testing.assert_array_equal(got, expected)
        else:
            np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)


def _model_and_optimizer() -> tuple[cr.nn.Module, cr.optim.Optimizer]:
    rng = np.random.default_rng(3)
    model = cr.nn.Sequential(
        cr.nn.Linear(4, 6, rng=rng, dtype=np.float64),
        cr.nn.ReLU(),
        cr.nn.Linear(6, 3, rng=rng, dtype=np.float64),
    )
    return model, cr.optim.SGD(model.parameters(), lr=0.1)


def _step(
    model: cr.nn.Module, optimizer: cr.optim.Optimizer, weight: Callable[[], float]
) -> Callable[[np.ndarray, np.ndarray], cr.Tensor]:
    def step(x: np.ndarray, y: np.ndarray) -> cr.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y) * weight()
        loss.backward()
        optimizer.step()
        return loss

    return step


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_number_in_a_list_changed_between_calls_is_used_by_the_next_call(backend: str) -> None:
    def setup() -> tuple[cr.nn.Module, Callable[..., Any], Callable[[int], None]]:
        model, optimizer = _model_and_optimizer()
        weights = [1.0]

        def between(index: int) -> None:
            weights[0] = _value(index)

        return model, _step(model, optimizer, lambda: weights[0]), between

    _compare(setup, backend)


@dataclass(slots=True)
class _SlotsConfig:
    loss_weight: float


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_slots_dataclass_setting_changed_between_calls_is_used_by_the_next_call(
    backend: str,
) -> None:
    def setup() -> tuple[cr.nn.Module, Callable[..., Any], Callable[[int], None]]:
        model, optimizer = _model_and_optimizer()
        config = _SlotsConfig(1.0)

        def between(index: int) -> None:
            config.loss_weight = _value(index)

        return model, _step(model, optimizer, lambda: config.loss_weight), between

    _compare(setup, backend)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("how", ["mutable default changed", "defaults replaced"])
def test_a_default_argument_changed_between_calls_is_used_by_the_next_call(
    backend: str, how: str
) -> None:
    def setup() -> tuple[cr.nn.Module, Callable[..., Any], Callable[[int], None]]:
        model, optimizer = _model_and_optimizer()

        def step(
            x: np.ndarray, y: np.ndarray, settings: dict[str, float] | None = None
        ) -> cr.Tensor:
            assert settings is not None
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y) * settings["weight"]
            loss.backward()
            optimizer.step()
            return loss

        step.__defaults__ = ({"weight": 1.0},)

        def between(index: int) -> None:
            if how == "defaults replaced":
                step.__defaults__ = ({"weight": _value(index)},)
            else:
                step.__defaults__[0]["weight"] = _value(index)  # type: ignore[index]

        return model, step, between

    _compare(setup, backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_value_read_from_a_numpy_array_written_in_place_between_calls_is_used(
    backend: str,
) -> None:
    # The array itself is the same object: its values are guarded (by their bytes).
    def setup() -> tuple[cr.nn.Module, Callable[..., Any], Callable[[int], None]]:
        model, optimizer = _model_and_optimizer()
        weights = np.ones(3)

        def between(index: int) -> None:
            if backend == "xla":
                from chainrule.compiler.xla import flush

                flush()
            weights[0] = _value(index)

        return model, _step(model, optimizer, lambda: float(weights[0])), between

    _compare(setup, backend)


def test_a_parameters_array_kept_in_a_variable_does_not_make_every_call_a_trace() -> None:
    # The optimizer changes it at every call; a replay reads it afresh, so it is not guarded.
    model, optimizer = _model_and_optimizer()
    bias = model[0].bias.data
    step = compile(_step(model, optimizer, lambda: 1.0 + 0.0 * bias.size))
    rng = np.random.default_rng(0)
    for _ in range(5):
        step(rng.standard_normal((8, 4)), rng.integers(0, 3, 8))
    assert step.traces == 2


SETTINGS = types.ModuleType("compile_test_settings")  # a user's settings module
SETTINGS.LOSS_WEIGHT = 1.0  # type: ignore[attr-defined]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_setting_of_a_user_module_changed_between_calls_is_used_by_the_next_call(
    backend: str,
) -> None:
    def setup() -> tuple[cr.nn.Module, Callable[..., Any], Callable[[int], None]]:
        model, optimizer = _model_and_optimizer()
        SETTINGS.LOSS_WEIGHT = 1.0  # type: ignore[attr-defined]

        def step(x: np.ndarray, y: np.ndarray) -> cr.Tensor:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y) * SETTINGS.LOSS_WEIGHT
            loss.backward()
            optimizer.step()
            return loss

        def between(index: int) -> None:
            SETTINGS.LOSS_WEIGHT = _value(index)  # type: ignore[attr-defined]

        return model, step, between

    _compare(setup, backend)


def test_a_step_defined_where_globals_have_no_name_compiles_and_is_guarded() -> None:
    """Code run by `exec` in a namespace without `__name__` makes functions whose
    `__module__` is None; the guards treat them as the user's own code."""
    namespace: dict[str, object] = {"cr": cr, "np": np, "SCALE": 2.0}
    exec(
        "weight = cr.tensor(np.ones(3), requires_grad=True)\n"
        "def helper(x):\n"
        "    return SCALE * cr.tensor(x)\n"
        "def step(x):\n"
        "    return (weight * helper(x)).sum()\n",
        namespace,
    )
    assert namespace["step"].__module__ is None  # type: ignore[attr-defined]
    step = cr.compile(namespace["step"])  # type: ignore[arg-type]
    values = [float(step(np.arange(3.0)).item()) for _ in range(3)]
    assert values == [6.0, 6.0, 6.0]
    namespace["SCALE"] = 3.0
    assert float(step(np.arange(3.0)).item()) == 9.0


def _replayed_then_changed(step: Callable[..., Any], change: Callable[[], None]) -> None:
    """Three calls (trace, check, replay) at 6, then `change()` makes eager's value 15: the
    compiled step must trace again and give 15, not replay the stale 6."""
    compiled = cr.compile(step)
    x = np.arange(3.0)
    assert [float(compiled(x).item()) for _ in range(3)] == [6.0, 6.0, 6.0]
    change()
    assert float(step(x).item()) == 15.0
    assert float(compiled(x).item()) == 15.0


def test_a_partial_s_function_and_arguments_are_guarded() -> None:
    """functools.partial hides its function and arguments from `vars`: the function's
    globals and a mutable argument must still be guarded."""
    import functools

    settings = {"scale": 2.0}
    weight = cr.tensor(np.ones(3), requires_grad=True)

    def loss(scales: list[float], x: Any, offset: float) -> cr.Tensor:
        return (weight * cr.tensor(x) * settings["scale"] * scales[0]).sum() + offset

    scales = [1.0]
    by_dict = functools.partial(loss, [1.0], offset=0.0)
    _replayed_then_changed(lambda x: by_dict(x), lambda: settings.update(scale=5.0))
    settings["scale"] = 2.0
    by_list = functools.partial(loss, scales, offset=0.0)
    _replayed_then_changed(lambda x: by_list(x), lambda: scales.__setitem__(0, 2.5))
    by_keyword = functools.partial(loss, [1.0], offset=0.0)
    _replayed_then_changed(
        lambda x: by_keyword(x), lambda: by_keyword.keywords.__setitem__("offset", 9.0)
    )


def test_an_object_of_a_class_defined_where_globals_have_no_name_is_guarded() -> None:
    """A class made by `exec` in a namespace without `__name__` has `__module__` 'builtins'
    (its body's `__name__` falls back to the builtins module's): it is the user's own class,
    not a built-in type, and its objects' attributes are guarded."""
    namespace: dict[str, object] = {"cr": cr, "np": np}
    exec(
        "class Scaled:\n"
        "    def __init__(self):\n"
        "        self.weight = cr.tensor(np.ones(3), requires_grad=True)\n"
        "        self.k = 2.0\n"
        "    def __call__(self, x):\n"
        "        return (self.weight * cr.tensor(x) * self.k).sum()\n",
        namespace,
    )
    model = namespace["Scaled"]()  # type: ignore[operator]
    assert type(model).__module__ == "builtins"
    _replayed_then_changed(lambda x: model(x), lambda: setattr(model, "k", 5.0))


def test_the_object_of_a_builtin_bound_method_is_guarded() -> None:
    """`get = settings.get` called in the step reads `settings`, as a Python method would."""
    settings = {"scale": 2.0}
    get = settings.get
    weight = cr.tensor(np.ones(3), requires_grad=True)

    def step(x: Any) -> cr.Tensor:
        return (weight * cr.tensor(x) * get("scale")).sum()

    _replayed_then_changed(step, lambda: settings.update(scale=5.0))


def test_an_attribute_of_a_user_class_the_step_reads_is_guarded() -> None:
    """`Settings.scale` read through the class (here in a static method): set on the class
    after the trace, it is read afresh, as eager execution reads it."""
    weight = cr.tensor(np.ones(3), requires_grad=True)

    class Settings:
        scale = 2.0

        @staticmethod
        def loss(x: Any) -> cr.Tensor:
            return (weight * cr.tensor(x) * Settings.scale).sum()

    def step(x: Any) -> cr.Tensor:
        return Settings.loss(x)

    def change() -> None:
        Settings.scale = 5.0

    _replayed_then_changed(step, change)
