"""What a user changes between calls of `compile(step, backend="xla")` reaches its program:
each case runs a training step eagerly and compiled to XLA from the same initial values,
making the same change before the same call, and compares every call's loss and, after every
call, the parameters, their `.grad` and the optimizer's state: same shapes and dtypes, values
to float32 rounding (XLA sums products in another order than OpenBLAS; in a float32 model the
earlier calls' rounding is carried into a weight made float64)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.compiler import compile

pytest.importorskip("jax")
from chainrule.compiler.xla import enable_float64

enable_float64()  # the float64 cases; float32 stays float32

CALLS = 6  # traces, then device calls; the change is made before call 3
RTOL = 2e-5


def _model(dtype: type[np.floating[Any]]) -> nn.Sequential:
    rng = np.random.default_rng(3)
    return nn.Sequential(
        nn.Linear(4, 6, rng=rng, dtype=dtype), nn.ReLU(), nn.Linear(6, 3, rng=rng, dtype=dtype)
    )


def _batches(dtype: type[np.floating[Any]]) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    return [
        (rng.standard_normal((5, 4)).astype(dtype), rng.integers(0, 3, 5)) for _ in range(CALLS)
    ]


Between = Callable[[int, nn.Module, optim.Optimizer], None]


def _state(model: nn.Module, optimizer: optim.Optimizer) -> list[np.ndarray | None]:
    """Copies of every parameter, its `.grad` and its optimizer state entries, in order."""
    arrays: list[np.ndarray | None] = []
    for param in model.parameters():
        arrays.append(param.numpy().copy())
        arrays.append(None if param.grad is None else param.grad.numpy().copy())
        state = optimizer.state.get(param, {})
        for key in sorted(state):
            arrays.append(np.array(state[key]))
    return arrays


def _run(
    backend: str | None,
    dtype: type[np.floating[Any]],
    make_optimizer: Callable[[nn.Module], optim.Optimizer],
    between: Between,
    flat: bool,
) -> list[list[np.ndarray | None]]:
    model = _model(dtype)
    if flat:
        model.flatten_parameters()
    optimizer = make_optimizer(model)
    loss_fn = nn.CrossEntropyLoss()

    def step(x: np.ndarray, y: np.ndarray) -> cr.Tensor:
        optimizer.zero_grad()
        loss: cr.Tensor = loss_fn(model(cr.tensor(x)), y)
        loss.backward()
        optimizer.step()
        return loss

    run = step if backend is None else compile(step, backend=backend)
    record = []
    for index, (x, y) in enumerate(_batches(dtype)):
        between(index, model, optimizer)
        loss = run(x, y).numpy().copy()
        record.append([loss, *_state(model, optimizer)])
    return record


def _assert_xla_equals_eager(
    dtype: type[np.floating[Any]],
    make_optimizer: Callable[[nn.Module], optim.Optimizer],
    between: Between,
    flat: bool,
) -> None:
    eager = _run(None, dtype, make_optimizer, between, flat)
    compiled = _run("xla", dtype, make_optimizer, between, flat)
    for call, (expected_arrays, got_arrays) in enumerate(zip(eager, compiled, strict=True)):
        assert len(got_arrays) == len(expected_arrays), f"call {call}"
        for expected, got in zip(expected_arrays, got_arrays, strict=True):
            if expected is None or got is None:
                assert got is expected, f"call {call}"
                continue
            assert got.shape == expected.shape, f"call {call}"
            assert got.dtype == expected.dtype, f"call {call}"
            np.testing.assert_allclose(
                got, expected, rtol=RTOL, atol=RTOL * 1e-2, err_msg=f"call {call}"
            )


OPTIMIZERS: dict[str, Callable[[nn.Module], optim.Optimizer]] = {
    "sgd": lambda model: optim.SGD(model.parameters(), lr=0.1),
    "momentum": lambda model: optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
    "adam": lambda model: optim.Adam(model.parameters(), lr=0.01),
}


@pytest.mark.parametrize("flat", [True, False], ids=["flat", "own-arrays"])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize(
    ("dtype", "new_dtype"), [(np.float32, np.float64), (np.float64, np.float32)]
)
def test_a_parameter_given_data_of_another_dtype_between_calls_matches_eager(
    dtype: type[np.floating[Any]], new_dtype: type[np.floating[Any]], name: str, flat: bool
) -> None:
    """The jitted body computes with the traced dtypes: a weight given float64 values got
    float32 gradients (and float32-rounded updates). Now the step is traced again."""

    def between(index: int, model: nn.Module, optimizer: optim.Optimizer) -> None:
        if index == 3:
            weight = model[0].weight
            weight.data = weight.numpy().astype(new_dtype)

    _assert_xla_equals_eager(dtype, OPTIMIZERS[name], between, flat)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_a_parameter_given_data_of_the_same_shape_and_dtype_is_read(name: str) -> None:
    """New values of the traced shape and dtype are uploaded (no trace needed)."""

    def between(index: int, model: nn.Module, optimizer: optim.Optimizer) -> None:
        if index == 3:
            model[0].weight.data = np.full((4, 6), 0.25)

    _assert_xla_equals_eager(np.float64, OPTIMIZERS[name], between, False)


def test_a_parameter_given_data_of_another_shape_fails_as_eagerly() -> None:
    """A bias given shape (1, 6): eager's ValueError from linear, not a CompileError that
    blames JAX for a rule it runs (the body was run with the traced shapes)."""
    model = _model(np.float64)
    optimizer = optim.SGD(model.parameters(), lr=0.1)

    def step(x: np.ndarray) -> cr.Tensor:
        optimizer.zero_grad()
        loss = model(cr.tensor(x)).sum()
        loss.backward()
        optimizer.step()
        return loss

    compiled = compile(step, backend="xla")
    batches = _batches(np.float64)
    for x, _ in batches[:3]:
        compiled(x)
    optimizer.zero_grad()
    model[0].bias.data = model[0].bias.numpy().reshape(1, 6).copy()
    with pytest.raises(ValueError, match=r"linear: .*bias \(1, 6\)"):
        step(batches[3][0])
    with pytest.raises(ValueError, match=r"linear: .*bias \(1, 6\)") as raised:
        compiled(batches[3][0])
    assert not isinstance(raised.value, cr.compiler.CompileError)
