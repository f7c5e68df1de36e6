"""no_grad / enable_grad as torch's: as decorators of generator functions every step of the
generator's body runs under the mode, the caller's code between the steps under its own; and
the mode belongs to one thread, so another thread's no_grad does not stop this one recording."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np
import pytest

import chainrule as cr


def _leaf(values: list[float]) -> cr.Tensor:
    return cr.Tensor(np.array(values, dtype=np.float64), requires_grad=True)


def test_no_grad_decorated_generator_records_none_of_its_steps() -> None:
    @cr.no_grad()
    def multiples(t: cr.Tensor) -> Iterator[cr.Tensor]:
        yield t * 2
        yield t * 3

    x = _leaf([1.0, 2.0])
    seen = []
    for y in multiples(x):
        seen.append((y.requires_grad, cr.is_grad_enabled()))
    assert seen == [(False, True), (False, True)]


def test_enable_grad_decorated_generator_records_inside_no_grad() -> None:
    @cr.enable_grad()
    def squares(t: cr.Tensor) -> Iterator[cr.Tensor]:
        yield t * t

    x = _leaf([1.0, 3.0])
    with cr.no_grad():
        (y,) = list(squares(x))
        assert not cr.is_grad_enabled()
    y.sum().backward()
    assert x.grad is not None
    np.testing.assert_allclose(x.grad.numpy(), np.array([2.0, 6.0]), rtol=1e-12)


def test_decorated_generator_passes_send_throw_and_return_through() -> None:
    @cr.no_grad()
    def echo() -> Iterator[object]:
        received = yield cr.is_grad_enabled()
        try:
            yield received
        except KeyError:
            yield "caught"
        return "done"

    steps = echo()
    assert next(steps) is False
    assert steps.send("sent") == "sent"
    assert steps.throw(KeyError()) == "caught"
    with pytest.raises(StopIteration) as stop:
        next(steps)
    assert stop.value.value == "done"
    assert cr.is_grad_enabled()


def test_no_grad_in_another_thread_leaves_this_threads_recording_on() -> None:
    entered, release = threading.Event(), threading.Event()

    def evaluate_under_no_grad() -> None:
        with cr.no_grad():
            entered.set()
            release.wait(10)

    evaluator = threading.Thread(target=evaluate_under_no_grad)
    evaluator.start()
    try:
        assert entered.wait(10)
        w = _leaf([2.0, -1.0])
        loss = (w * w).sum()
    finally:
        release.set()
        evaluator.join()
    loss.backward()
    assert w.grad is not None
    np.testing.assert_allclose(w.grad.numpy(), np.array([4.0, -2.0]), rtol=1e-12)


def test_a_new_thread_records_even_while_its_starter_is_under_no_grad() -> None:
    recorded: list[bool] = []

    def compute() -> None:
        recorded.append((_leaf([1.0]) * 3).requires_grad)

    with cr.no_grad():
        worker = threading.Thread(target=compute)
        worker.start()
        worker.join()
    assert recorded == [True]
