"""Comparing a compiled step's results with the eager run's, shared by the compile tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import chainrule as cr
from chainrule import nn, optim
from chainrule.compiler import compile


def assert_same(got: np.ndarray, expected: np.ndarray, backend: str) -> None:
    """Same shape and dtype; bit for bit on the NumPy replay, to 1e-12 relative on XLA."""
    assert got.shape == expected.shape
    assert got.dtype == expected.dtype
    if backend == "numpy":
        np.testing.assert_array_equal(got, expected)
    else:
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max())


# ------------------------------------------------- changes made between calls of a step
CALLS = 6  # a trace, its verification (or device calls), replays; changes come before call 3

Between = Callable[[int, nn.Module, optim.Optimizer], None]
Record = list[list[np.ndarray | None]]  # per call: the loss, then `training_state`

OPTIMIZERS: dict[str, Callable[[nn.Module], optim.Optimizer]] = {
    "sgd": lambda model: optim.SGD(model.parameters(), lr=0.1),
    "momentum": lambda model: optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
    "adam": lambda model: optim.Adam(model.parameters(), lr=0.01),
}


def small_model(dtype: type[np.floating[Any]]) -> nn.Sequential:
    """A 4-6-3 ReLU network of `dtype`, the same initial values at every call."""
    rng = np.random.default_rng(3)
    return nn.Sequential(
        nn.Linear(4, 6, rng=rng, dtype=dtype), nn.ReLU(), nn.Linear(6, 3, rng=rng, dtype=dtype)
    )


def batches(
    input_dtype: type[np.floating[Any]] | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """CALLS batches of 5 rows and class targets; inputs float64 unless `input_dtype`."""
    rng = np.random.default_rng(0)
    drawn = [(rng.standard_normal((5, 4)), rng.integers(0, 3, 5)) for _ in range(CALLS)]
    if input_dtype is None:
        return drawn
    return [(x.astype(input_dtype), y) for x, y in drawn]


def training_step(
    model: nn.Module, optimizer: optim.Optimizer
) -> Callable[[np.ndarray, np.ndarray], cr.Tensor]:
    """The plain step: zero_grad, cross-entropy loss, backward, optimizer step."""
    loss_fn = nn.CrossEntropyLoss()

    def step(x: np.ndarray, y: np.ndarray) -> cr.Tensor:
        optimizer.zero_grad()
        loss: cr.Tensor = loss_fn(model(cr.tensor(x)), y)
        loss.backward()
        optimizer.step()
        return loss

    return step


def training_state(model: nn.Module, optimizer: optim.Optimizer) -> list[np.ndarray | None]:
    """Copies of every parameter, its `.grad` and its optimizer state entries, in order."""
    arrays: list[np.ndarray | None] = []
    for param in model.parameters():
        arrays.append(param.numpy().copy())
        arrays.append(None if param.grad is None else param.grad.numpy().copy())
        state = optimizer.state.get(param, {})
        for key in sorted(state):
            value = state[key]
            arrays.append(np.array(value.numpy() if isinstance(value, cr.Tensor) else value))
    return arrays


def run_with_changes(
    backend: str | None,
    dtype: type[np.floating[Any]],
    make_optimizer: Callable[[nn.Module], optim.Optimizer],
    between: Between,
    flat: bool,
    input_dtype: type[np.floating[Any]] | None = None,
) -> Record:
    """Run the step CALLS times, eagerly (`backend` None) or compiled, calling `between`
    before each call; record each call's loss and the training state after it."""
    model = small_model(dtype)
    if flat:
        model.flatten_parameters()
    optimizer = make_optimizer(model)
    step = training_step(model, optimizer)
    run = step if backend is None else compile(step, backend=backend)
    record = []
    for index, (x, y) in enumerate(batches(input_dtype)):
        between(index, model, optimizer)
        loss = run(x, y).numpy().copy()
        record.append([loss, *training_state(model, optimizer)])
    return record


def assert_records_match(
    eager: Record, compiled: Record, assert_values: Callable[[np.ndarray, np.ndarray, str], None]
) -> None:
    """Call by call, the same arrays (None where eager has None), shapes and dtypes, and
    values as `assert_values(got, expected, err_msg)` asserts."""
    for call, (expected_arrays, got_arrays) in enumerate(zip(eager, compiled, strict=True)):
        assert len(got_arrays) == len(expected_arrays), f"call {call}"
        for expected, got in zip(expected_arrays, got_arrays, strict=True):
            if expected is None or got is None:
                assert got is expected, f"call {call}"
                continue
            assert got.shape == expected.shape, f"call {call}"
            assert got.dtype == expected.dtype, f"call {call}"
            assert_values(got, expected, f"call {call}")
