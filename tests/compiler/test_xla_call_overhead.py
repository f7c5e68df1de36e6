"""What compile(step, backend="xla") does per call besides the jitted function: small gradients
leave the program packed in one output per dtype (fewer arrays to allocate and wrap), a large
one stays its own output, and the same JAX arrays passed again reuse their signature. Every
`.grad` and parameter still reads as eager's (float32, rtol 2e-5), and a new shape or dtype is
still traced afresh.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from call_counting import python_calls
from chainrule.compiler import compile

jnp = pytest.importorskip("jax.numpy")

RTOL = 2e-5


class _Run:
    """An MLP of `widths` with SGD + momentum and its step: eager, or compiled to XLA.
    `zero_grad=False` leaves the gradients to accumulate across calls."""

    def __init__(self, backend: str | None, widths: tuple[int, ...], zero_grad: bool = True):
        rng = np.random.default_rng(0)
        layers: list[cr.nn.Module] = []
        for fan_in, fan_out in itertools.pairwise(widths[:-1]):
            layers += [cr.nn.Linear(fan_in, fan_out, rng=rng, dtype=np.float32), cr.nn.ReLU()]
        layers.append(cr.nn.Linear(widths[-2], widths[-1], rng=rng, dtype=np.float32))
        self.model = cr.nn.Sequential(*layers)
        self.optimizer = cr.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9)
        data = np.random.default_rng(1)
        self.x = data.standard_normal((8, widths[0])).astype(np.float32)
        self.y = data.standard_normal((8, widths[-1])).astype(np.float32)

        def step(x: Any, y: Any) -> cr.Tensor:
            if zero_grad:
                self.optimizer.zero_grad()
            loss = ((self.model(cr.tensor(x)) - cr.tensor(y)) ** 2).mean()
            loss.backward()
            self.optimizer.step()
            return loss

        self.step = step if backend is None else compile(step, backend=backend)

    def program(self) -> Any:
        step = self.step
        assert isinstance(step, cr.compiler.compiled.CompiledStep)
        return next(iter(step.programs.values()))[0]


def _close(got: Any, expected: Any) -> None:
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.shape == expected.shape
    assert got.dtype == expected.dtype
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=1e-6)


def _same_as_eager(widths: tuple[int, ...], calls: int = 4, **options: Any) -> _Run:
    eager, compiled = _Run(None, widths, **options), _Run("xla", widths, **options)
    for _ in range(calls):
        _close(compiled.step(compiled.x, compiled.y).item(), eager.step(eager.x, eager.y).item())
    for mine, theirs in zip(compiled.model.parameters(), eager.model.parameters(), strict=True):
        assert mine.grad is not None
        assert theirs.grad is not None
        _close(mine.grad.data, theirs.grad.data)
        _close(mine.data, theirs.data)
    return compiled


# ----------------------------------------------------------------- gradient outputs
def test_small_gradients_leave_the_program_as_one_output() -> None:
    compiled = _Run("xla", (5, 6, 6, 6, 3))
    for _ in range(3):
        compiled.step(compiled.x, compiled.y)
    program = compiled.program()
    assert len(program.grads_touched) == 8
    assert len(program._live.grads) == 1
    assert program._live.grads[0].shape == (5 * 6 + 6 + 2 * (6 * 6 + 6) + 6 * 3 + 3,)


def test_a_large_gradient_stays_its_own_output() -> None:
    compiled = _Run("xla", (200, 100, 3))  # a 20000-element weight, over the packed size
    for _ in range(3):
        compiled.step(compiled.x, compiled.y)
    shapes = sorted(grad.shape for grad in compiled.program()._live.grads)
    assert shapes == [(200, 100), (100 * 3 + 100 + 3,)]


def test_packed_and_unpacked_gradients_read_as_eagers() -> None:
    _same_as_eager((200, 100, 6, 3))


def test_gradients_accumulated_across_calls_through_the_packed_output_match_eager() -> None:
    # No zero_grad: each call reads the packed gradients the last one left.
    _same_as_eager((200, 100, 6, 3), zero_grad=False)


# ----------------------------------------------------------------- arguments
def test_a_steady_state_call_with_the_same_jax_arrays_makes_few_python_calls() -> None:
    compiled = _Run("xla", (5, 6, 6, 3))
    x, y = jnp.asarray(compiled.x), jnp.asarray(compiled.y)
    for _ in range(5):  # traced, verified, uploaded, the emission learnt, its key found
        compiled.step(x, y)
    # 13 (31 before: the signature made again, the emission's key hashed, the outputs
    # checked as from_numpy does): the checks every call needs (guards, requires_grad
    # flags, parameter groups, hyperparameters), the call and the loss's Tensor.
    assert python_calls(lambda: compiled.step(x, y)) <= 13


# Ported in spirit from JAX's tests/api_test.py (a jitted function called again with another
# array of the same shape and dtype reuses its trace; another shape or dtype is traced anew).
def test_another_jax_array_of_the_same_shape_reuses_the_trace_and_its_values() -> None:
    eager, compiled = _Run(None, (5, 6, 3)), _Run("xla", (5, 6, 3))
    x, y = jnp.asarray(compiled.x), jnp.asarray(compiled.y)
    for _ in range(3):
        compiled.step(x, y)
        eager.step(eager.x, eager.y)
    traces = compiled.step.traces  # type: ignore[attr-defined]
    other = compiled.x[::-1].copy()
    _close(compiled.step(jnp.asarray(other), y).item(), eager.step(other, eager.y).item())
    assert compiled.step.traces == traces  # type: ignore[attr-defined]


def test_a_jax_array_of_a_new_shape_after_the_same_ones_is_traced_afresh() -> None:
    eager, compiled = _Run(None, (5, 6, 3)), _Run("xla", (5, 6, 3))
    x, y = jnp.asarray(compiled.x), jnp.asarray(compiled.y)
    for _ in range(3):
        compiled.step(x, y)
        eager.step(eager.x, eager.y)
    half_x, half_y = compiled.x[:4], compiled.y[:4]
    for _ in range(3):  # traced, verified, replayed
        got = compiled.step(jnp.asarray(half_x), jnp.asarray(half_y))
        _close(got.item(), eager.step(half_x, half_y).item())
    for mine, theirs in zip(compiled.model.parameters(), eager.model.parameters(), strict=True):
        _close(mine.data, theirs.data)


def test_a_jax_array_of_a_new_dtype_is_traced_afresh() -> None:
    compiled = _Run("xla", (5, 6, 3))
    x, y = jnp.asarray(compiled.x), jnp.asarray(compiled.y)
    for _ in range(3):
        compiled.step(x, y)
    traces = compiled.step.traces  # type: ignore[attr-defined]
    compiled.step(jnp.asarray(compiled.x, dtype=jnp.float16), y)
    assert compiled.step.traces == traces + 1  # type: ignore[attr-defined]
