"""chainrule.compile never replays a stale value: what a replay cannot repeat (in-place writes,
Python conversions of traced values, random draws) is refused when the step is traced, and
what it can (optimizer and scheduler steps, live hyperparameters) equals eager execution."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import chainrule as cr
from chainrule.compiler import CompileError, compile


def _weight(rng: np.random.Generator) -> cr.Tensor:
    return cr.tensor(rng.standard_normal((3, 2)), requires_grad=True)


def _loss(weight: cr.Tensor, x: np.ndarray) -> cr.Tensor:
    return ((cr.tensor(x) @ weight).tanh() ** 2).sum()


def _batches(rng: np.random.Generator, count: int = 4) -> list[np.ndarray]:
    return [rng.standard_normal((4, 3)) for _ in range(count)]


def _eager_then_compiled(
    make_step: Callable[[cr.Tensor], Callable[..., cr.Tensor]],
    batches: list[np.ndarray],
) -> tuple[list[float], list[float], np.ndarray, np.ndarray]:
    """Losses and final weights of fresh copies trained eagerly and compiled."""
    histories = []
    for compiled in (False, True):
        weight = _weight(np.random.default_rng(5))
        step = make_step(weight)
        run = compile(step) if compiled else step
        losses = [run(x).item() for x in batches]
        histories.append((losses, weight.numpy().copy()))
    (eager, eager_weight), (replayed, replayed_weight) = histories
    return eager, replayed, eager_weight, replayed_weight


# ------------------------------------------------------------------ (a) in-place writes
IN_PLACE_UPDATES: dict[str, Callable[[cr.Tensor, float], None]] = {
    "sub_": lambda w, lr: w.sub_(lr * w.grad),
    "add_": lambda w, lr: w.add_(w.grad, alpha=-lr),
    "copy_": lambda w, lr: w.copy_(w - lr * w.grad),
    "mul_": lambda w, lr: w.mul_(1.0 - lr),
    "setitem": lambda w, lr: w.__setitem__(..., w - lr * w.grad),
    "zero_": lambda w, lr: w.zero_(),
    "fill_": lambda w, lr: w.fill_(lr),
    "data assignment": lambda w, lr: setattr(w, "data", w.data - lr * w.grad.data),
}


@pytest.mark.parametrize("update", IN_PLACE_UPDATES.values(), ids=IN_PLACE_UPDATES.keys())
def test_hand_written_in_place_update_inside_the_step_is_refused_at_trace_time(
    rng: np.random.Generator, update: Callable[[cr.Tensor, float], None]
) -> None:
    def make_step(weight: cr.Tensor) -> Callable[..., cr.Tensor]:
        def step(x: np.ndarray) -> cr.Tensor:
            weight.grad = None
            loss = _loss(weight, x)
            loss.backward()
            with cr.no_grad():
                update(weight, 0.1)
            return loss

        return step

    weight = _weight(np.random.default_rng(5))
    before = weight.numpy().copy()
    make_step(weight)(rng.standard_normal((4, 3)))
    assert not np.array_equal(weight.numpy(), before)
    with pytest.raises(CompileError, match=r"in-place change .* outside the compiled step"):
        compile(make_step(_weight(np.random.default_rng(5))))(rng.standard_normal((4, 3)))


def test_augmented_data_assignment_inside_the_step_is_refused(rng: np.random.Generator) -> None:
    weight = _weight(rng)

    def step(x: np.ndarray) -> cr.Tensor:
        loss = _loss(weight, x)
        loss.backward()
        assert weight.grad is not None
        weight.data -= 0.1 * weight.grad.data
        return loss

    with pytest.raises(CompileError, match="in-place change"):
        compile(step)(rng.standard_normal((4, 3)))


def test_in_place_write_to_a_constant_made_inside_the_step_is_refused(
    rng: np.random.Generator,
) -> None:
    weight = _weight(rng)

    def step(x: np.ndarray) -> cr.Tensor:
        mask = cr.tensor(np.ones((4, 2)))
        mask[0] = 0.0
        return (cr.tensor(x) @ weight * mask).sum()

    with pytest.raises(CompileError, match="setitem"):
        compile(step)(rng.standard_normal((4, 3)))


def test_an_optimizer_step_inside_the_step_still_updates_the_weights_on_every_replay(
    rng: np.random.Generator,
) -> None:
    def make_step(weight: cr.Tensor) -> Callable[..., cr.Tensor]:
        optimizer = cr.optim.SGD([weight], lr=0.1)

        def step(x: np.ndarray) -> cr.Tensor:
            optimizer.zero_grad()
            loss = _loss(weight, x)
            loss.backward()
            optimizer.step()
            return loss

        return step

    eager, replayed, eager_weight, replayed_weight = _eager_then_compiled(
        make_step, _batches(rng)
    )
    assert replayed == eager
    assert replayed_weight.shape == eager_weight.shape
    assert np.array_equal(replayed_weight, eager_weight)


# ------------------------------------------------------------------ (e) trace-time errors
def _derived(x: np.ndarray) -> np.ndarray:
    """An array computed from the argument with NumPy: the tracer refuses it as a constant."""
    return x * 2.0


TRACE_TIME_REFUSALS: dict[str, Callable[[cr.Tensor, np.ndarray], cr.Tensor]] = {
    "add": lambda w, x: (cr.tensor(x) + cr.tensor(_derived(x))) @ w,
    "mul": lambda w, x: (cr.tensor(x) * cr.tensor(_derived(x))) @ w,
    "sub": lambda w, x: (cr.tensor(x) - cr.tensor(_derived(x))) @ w,
    "maximum": lambda w, x: cr.maximum(cr.tensor(x), cr.tensor(_derived(x))) @ w,
    "where": lambda w, x: cr.where(x > 0, cr.tensor(x), cr.tensor(_derived(x))) @ w,
    "reshape": lambda w, x: cr.tensor(_derived(x)).reshape(4, 3) @ w,
    "concatenate": lambda w, x: cr.concatenate([cr.tensor(_derived(x)), cr.tensor(x)]) @ w,
    "stack": lambda w, x: cr.stack([cr.tensor(_derived(x)), cr.tensor(x)]) @ w,
}


@pytest.mark.parametrize("body", TRACE_TIME_REFUSALS.values(), ids=TRACE_TIME_REFUSALS.keys())
def test_a_trace_time_refusal_inside_an_op_keeps_its_own_message(
    rng: np.random.Generator, body: Callable[[cr.Tensor, np.ndarray], cr.Tensor]
) -> None:
    weight = _weight(rng)

    def step(x: np.ndarray) -> cr.Tensor:
        return body(weight, x).sum()

    assert np.isfinite(step(rng.standard_normal((4, 3))).item())
    with pytest.raises(CompileError, match="looks computed from one") as raised:
        compile(step)(rng.standard_normal((4, 3)))
    assert "broadcast" not in str(raised.value)
    assert "reshape" not in str(raised.value)
    assert "do not fit" not in str(raised.value)
