"""compile(step, backend="xla") leaves out of the jitted program the gradients that the next
call drops (its zero_grad() or `.grad = ...` comes before any read): a flush computes them
from the last call's inputs with a second jitted function, so `.grad` read after any call is
eager's (float32 rounding, rtol 2e-5), while gradients the next call reads (accumulation,
zero_grad(set_to_none=False)) are still returned by the program.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.compiler import compile

pytest.importorskip("jax")
import jax

from chainrule.compiler import xla

RTOL = 2e-5


class _Run:
    """An MLP (5 -> 6 -> 3, float32) trained by SGD with momentum, eagerly or compiled."""

    def __init__(
        self,
        backend: str | None,
        set_to_none: bool | None = True,
        read_grads: bool = False,
        flat: bool = False,
    ) -> None:
        rng = np.random.default_rng(0)
        self.model = cr.nn.Sequential(
            cr.nn.Linear(5, 6, rng=rng, dtype=np.float32),
            cr.nn.ReLU(),
            cr.nn.Linear(6, 3, rng=rng, dtype=np.float32),
        )
        if flat:
            self.model.flatten_parameters()
        self.optimizer = cr.optim.SGD(self.model.parameters(), lr=0.05, momentum=0.9)

        def step(x: Any, y: Any) -> Any:
            if set_to_none is not None:  # None: accumulate across calls
                self.optimizer.zero_grad(set_to_none)
            loss = ((self.model(cr.tensor(x)) - cr.tensor(y)) ** 2).mean()
            loss.backward()
            if read_grads:  # the gradients read inside the step, before the update
                norm = sum((p.grad**2).sum() for p in self.model.parameters())
                self.optimizer.step()
                return loss, norm
            self.optimizer.step()
            return loss

        self.step = step if backend is None else compile(step, backend=backend)
        data = np.random.default_rng(1)
        self.batches = [
            (
                data.standard_normal((8, 5)).astype(np.float32),
                data.standard_normal((8, 3)).astype(np.float32),
            )
            for _ in range(6)
        ]

    def train(self, calls: int) -> list[Any]:
        return [self.step(*self.batches[k % len(self.batches)]) for k in range(calls)]

    @property
    def params(self) -> list[cr.Tensor]:
        return list(self.model.parameters())

    def program(self) -> Any:
        (program, _), *_ = self.step.programs.values()  # type: ignore[attr-defined]
        return program


def _close(got: Any, expected: Any) -> None:
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.shape == expected.shape
    assert got.dtype == expected.dtype
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=1e-6)


def _assert_grads_equal(compiled: _Run, eager: _Run) -> None:
    for got, expected in zip(compiled.params, eager.params, strict=True):
        assert (got.grad is None) == (expected.grad is None)
        if expected.grad is not None:
            assert got.grad is not None
            _close(got.grad.data, expected.grad.data)


def _returned_grads(run: _Run) -> int:
    """How many gradients the last call's jitted program returned (its non-None outputs)."""
    return sum(grad is not None for grad in run.program()._live.grads)


# ----------------------------------------------------------------- the dropped case
def test_the_program_returns_no_gradients_when_the_next_call_drops_them() -> None:
    run = _Run("xla")
    run.train(4)  # trace, verification, two jitted calls
    live = run.program()._live
    assert live.inputs is not None  # kept for a flush
    emission = run.program()._emissions[live.key]
    leaves = jax.tree_util.tree_leaves(jax.eval_shape(emission.jitted, *live.inputs))
    parameters, momenta, loss = len(run.params), len(run.params), 1
    assert len(leaves) == parameters + momenta + loss


@pytest.mark.parametrize("calls", [3, 4, 7])
def test_grads_read_after_any_call_equal_eagers(calls: int) -> None:
    eager, compiled = _Run(None), _Run("xla")
    eager.train(calls)
    compiled.train(calls)
    _assert_grads_equal(compiled, eager)


def test_grads_read_between_calls_each_time_equal_eagers() -> None:
    eager, compiled = _Run(None), _Run("xla")
    for _ in range(4):
        eager.train(2)
        compiled.train(2)
        _assert_grads_equal(compiled, eager)
        for got, expected in zip(compiled.params, eager.params, strict=True):
            _close(got.data, expected.data)


def test_grads_read_after_the_data_was_read_equal_eagers() -> None:
    eager, compiled = _Run(None), _Run("xla")
    eager.train(5)
    compiled.train(5)
    _close(compiled.params[0].data, eager.params[0].data)  # the flush
    _assert_grads_equal(compiled, eager)


def test_flat_buffer_grads_read_after_calls_equal_eagers() -> None:
    eager, compiled = _Run(None, flat=True), _Run("xla", flat=True)
    eager.train(5)
    compiled.train(5)
    _assert_grads_equal(compiled, eager)


def test_a_numpy_batch_overwritten_after_the_call_does_not_change_the_grads() -> None:
    # The lazy gradients are computed from the call's inputs: a batch array the user refills
    # in place for the next step must not leak into them.
    eager, compiled = _Run(None), _Run("xla")
    eager.train(4)
    compiled.train(4)
    last = compiled.batches[3]
    last[0][...] = 7.0
    last[1][...] = -7.0
    _assert_grads_equal(compiled, eager)


def test_the_lazy_gradient_function_is_traced_only_when_a_flush_needs_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    traces = []
    body = xla.XlaProgram._lazy_grads_body

    def counting(self: Any, *args: Any) -> Any:
        traces.append(1)
        return body(self, *args)

    monkeypatch.setattr(xla.XlaProgram, "_lazy_grads_body", counting)
    eager, compiled = _Run(None), _Run("xla")
    eager.train(6)
    compiled.train(6)
    assert traces == []
    _assert_grads_equal(compiled, eager)
    assert len(traces) == 1
    eager.train(3)
    compiled.train(3)
    _assert_grads_equal(compiled, eager)
    assert len(traces) == 1  # jitted once, then reused


# ----------------------------------------------------------------- gradients the step reads
def test_grads_read_inside_the_step_equal_eagers() -> None:
    eager, compiled = _Run(None, read_grads=True), _Run("xla", read_grads=True)
    for (loss, norm), (eager_loss, eager_norm) in zip(
        compiled.train(5), eager.train(5), strict=True
    ):
        _close(loss.data, eager_loss.data)
        _close(norm.data, eager_norm.data)
    _assert_grads_equal(compiled, eager)


def test_gradients_accumulated_across_calls_are_returned_and_equal_eagers() -> None:
    eager, compiled = _Run(None, set_to_none=None), _Run("xla", set_to_none=None)
    eager.train(5)
    compiled.train(5)
    assert _returned_grads(compiled) == len(compiled.params)
    assert compiled.program()._live.inputs is None  # nothing kept: no flush recomputes
    _assert_grads_equal(compiled, eager)


@pytest.mark.parametrize("set_to_none", [True, False])
def test_zero_grad_at_the_start_of_the_step_matches_eager(set_to_none: bool) -> None:
    eager, compiled = _Run(None, set_to_none), _Run("xla", set_to_none)
    eager.train(5)
    compiled.train(5)
    # zero_grad(set_to_none=False) zeroes the Tensors the call holds: the program reads them
    expected_returned = 0 if set_to_none else len(compiled.params)
    assert _returned_grads(compiled) == expected_returned
    _assert_grads_equal(compiled, eager)
