"""chainrule.compile never replays a stale value: what a replay cannot repeat (in-place writes,
Python conversions of traced values, random draws) is refused when the step is traced, and
what it can (optimizer and scheduler steps, live hyperparameters) equals eager execution."""

from __future__ import annotations

import os
import random
import secrets
import uuid
from collections.abc import Callable
from typing import Any

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

    eager, replayed, eager_weight, replayed_weight = _eager_then_compiled(make_step, _batches(rng))
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


# ------------------------------------------------------------------ (b) Python conversions
def _branch_on_item(loss: cr.Tensor) -> cr.Tensor:
    return loss * 2.0 if loss.item() > 1.0 else loss


def _branch_on_comparison(loss: cr.Tensor) -> cr.Tensor:
    return loss * 2.0 if bool(loss > 1.0) else loss


def _branch_on_if(loss: cr.Tensor) -> cr.Tensor:
    if loss > 1.0:
        return loss * 2.0
    return loss


CONVERSIONS: dict[str, tuple[Callable[[cr.Tensor], Any], str]] = {
    "item": (_branch_on_item, r"item\(\)"),
    "float": (lambda loss: loss * min(float(loss), 1.0), r"float\(\)"),
    "bool": (lambda loss: loss * 2.0 if loss else loss, r"bool\(\)"),
    "bool of a comparison": (_branch_on_comparison, "comparison >"),
    "if on a comparison": (_branch_on_if, "comparison >"),
    "equality": (lambda loss: loss * 2.0 if (loss == 0.0).all() else loss, "comparison =="),
    "np.asarray": (lambda loss: loss * np.asarray(loss.detach()), r"np\.asarray\(\)"),
    "np.isfinite": (lambda loss: loss if np.isfinite(loss).all() else loss * 0.0, "isfinite"),
    "mask for where": (lambda loss: cr.where(loss > 1.0, loss, loss * 2.0), "comparison >"),
}


@pytest.mark.parametrize(("use", "named"), CONVERSIONS.values(), ids=CONVERSIONS.keys())
def test_converting_a_traced_value_to_python_is_refused_at_trace_time(
    rng: np.random.Generator, use: Callable[[cr.Tensor], Any], named: str
) -> None:
    weight = _weight(rng)

    def step(x: np.ndarray) -> cr.Tensor:
        loss: cr.Tensor = use(_loss(weight, x))
        return loss

    assert np.isfinite(step(rng.standard_normal((4, 3))).item())
    with pytest.raises(CompileError, match=named) as raised:
        compile(step)(rng.standard_normal((4, 3)))
    assert "move it out of the step" in str(raised.value)
    assert "pass" in str(raised.value)


def test_a_traced_tensor_may_be_converted_after_the_compiled_step_returns(
    rng: np.random.Generator,
) -> None:
    weight = _weight(rng)
    compiled = compile(lambda x: _loss(weight, x))
    for x in _batches(rng, 3):
        loss = compiled(x)
        assert loss.item() == _loss(weight, x).item()
        assert float(loss > 0.0) == 1.0


def test_an_integer_scalar_array_argument_is_a_setting_that_retraces_per_value(
    rng: np.random.Generator,
) -> None:
    """int() of a 0-d integer array reads its value in Python, so its value is part of the
    signature (as a Python int's is), and each value replays its own trace."""
    weight = _weight(rng)

    def step(x: np.ndarray, repeats: np.ndarray) -> cr.Tensor:
        loss = _loss(weight, x)
        for _ in range(int(repeats)):
            loss = loss * 1.5
        return loss

    compiled = compile(step)
    counts = [np.array(n) for n in (1, 2, 1, 3, 2)]
    x = rng.standard_normal((4, 3))
    for repeats in counts:
        assert compiled(x, repeats).item() == step(x, repeats).item()
    assert compiled.trace_count == 3


# ------------------------------------------------------------------ (c) Python state
def _sgd_step(weight: cr.Tensor, optimizer: Any) -> Callable[..., cr.Tensor]:
    def step(x: np.ndarray) -> cr.Tensor:
        optimizer.zero_grad()
        loss = _loss(weight, x)
        loss.backward()
        optimizer.step()
        return loss

    return step


def test_a_scheduler_stepped_outside_the_step_changes_the_replayed_lr(
    rng: np.random.Generator,
) -> None:
    batches = _batches(rng, 6)
    histories = []
    for compiled in (False, True):
        weight = _weight(np.random.default_rng(5))
        optimizer = cr.optim.SGD([weight], lr=0.5, momentum=0.9)
        scheduler = cr.optim.StepLR(optimizer, step_size=1, gamma=0.5)
        step = _sgd_step(weight, optimizer)
        run = compile(step) if compiled else step
        losses = []
        for x in batches:
            losses.append(run(x).item())
            scheduler.step()
        histories.append((losses, weight.numpy().copy()))
    (eager, eager_weight), (replayed, replayed_weight) = histories
    assert replayed == eager
    assert np.array_equal(replayed_weight, eager_weight)


def test_a_scheduler_stepped_inside_the_step_is_replayed(rng: np.random.Generator) -> None:
    batches = _batches(rng, 6)
    histories = []
    for compiled in (False, True):
        weight = _weight(np.random.default_rng(5))
        optimizer = cr.optim.Adam([weight], lr=0.1)
        scheduler = cr.optim.CosineAnnealingLR(optimizer, T_max=4)
        sgd_step = _sgd_step(weight, optimizer)

        def step(
            x: np.ndarray, sgd_step: Callable[..., cr.Tensor] = sgd_step, scheduler: Any = scheduler
        ) -> cr.Tensor:
            loss = sgd_step(x)
            scheduler.step()
            return loss

        run = compile(step) if compiled else step
        losses = [run(x).item() for x in batches]
        histories.append((losses, weight.numpy().copy(), scheduler.get_last_lr()))
    (eager, eager_weight, eager_lr), (replayed, replayed_weight, replayed_lr) = histories
    assert replayed_lr == eager_lr
    assert replayed == eager
    assert np.array_equal(replayed_weight, eager_weight)


@pytest.mark.parametrize(
    "make",
    [
        lambda params: cr.optim.SGD(params, lr=0.1, momentum=0.9),
        lambda params: cr.optim.StepLR(cr.optim.SGD(params, lr=0.1), step_size=2),
    ],
    ids=["optimizer", "scheduler"],
)
def test_creating_an_optimizer_or_scheduler_inside_the_step_is_refused(
    rng: np.random.Generator, make: Callable[[list[cr.Tensor]], Any]
) -> None:
    """Eagerly each call would start from fresh state (momentum, epoch); a replay would
    keep stepping the one object made while tracing."""
    weight = _weight(rng)

    def step(x: np.ndarray) -> cr.Tensor:
        make([weight])
        return _loss(weight, x)

    with pytest.raises(CompileError, match="outside the compiled step"):
        compile(step)(rng.standard_normal((4, 3)))


def test_a_python_float_read_from_a_closure_and_changed_later_makes_the_step_retrace(
    rng: np.random.Generator,
) -> None:
    """As torch.compile's guards (not jax.jit, which keeps the first value): a Python number
    the step reads is a constant of its trace, checked before each replay; changing it traces
    the step again, so every call equals eager."""
    weight = _weight(rng)
    settings = {"scale": 2.0}

    def step(x: np.ndarray) -> cr.Tensor:
        return _loss(weight, x) * settings["scale"]

    compiled = compile(step)
    x = rng.standard_normal((4, 3))
    traced = compiled(x).item()
    settings["scale"] = 3.0
    assert compiled(x).item() == step(x).item() == traced * 1.5


def test_a_python_float_argument_retraces_per_value(rng: np.random.Generator) -> None:
    weight = _weight(rng)

    def step(x: np.ndarray, scale: float) -> cr.Tensor:
        return _loss(weight, x) * scale

    compiled = compile(step)
    x = rng.standard_normal((4, 3))
    for scale in (2.0, 3.0, 2.0):
        assert compiled(x, scale).item() == step(x, scale).item()
    assert compiled.trace_count == 2


def test_an_optimizer_step_with_a_closure_is_refused(rng: np.random.Generator) -> None:
    """step(closure) reruns the forward in Python, which a replay cannot repeat."""
    weight = _weight(rng)
    optimizer = cr.optim.SGD([weight], lr=0.1)

    def step(x: np.ndarray) -> cr.Tensor:
        def closure() -> cr.Tensor:
            optimizer.zero_grad()
            loss = _loss(weight, x)
            loss.backward()
            return loss

        loss = optimizer.step(closure)
        assert loss is not None
        return loss

    with pytest.raises(CompileError, match="closure"):
        compile(step)(rng.standard_normal((4, 3)))


# ------------------------------------------------------------------ (d) random draws
_MODULE_RNG = np.random.default_rng(11)


def test_a_draw_from_numpys_global_generator_inside_the_step_is_refused(
    rng: np.random.Generator,
) -> None:
    weight = _weight(rng)

    def step(x: np.ndarray) -> cr.Tensor:
        noise = np.random.standard_normal((3, 2))  # noqa: NPY002
        return _loss(weight + cr.tensor(0.01 * noise), x)

    with pytest.raises(CompileError, match=r"np\.random.*pass it as an argument"):
        compile(step)(rng.standard_normal((4, 3)))


def test_a_draw_from_a_generator_in_the_closure_is_refused(rng: np.random.Generator) -> None:
    weight = _weight(rng)
    noise_rng = np.random.default_rng(3)

    def step(x: np.ndarray) -> cr.Tensor:
        return _loss(weight + cr.tensor(0.01 * noise_rng.standard_normal((3, 2))), x)

    with pytest.raises(CompileError, match="'noise_rng'"):
        compile(step)(rng.standard_normal((4, 3)))


def test_a_draw_from_a_module_level_generator_is_refused(rng: np.random.Generator) -> None:
    weight = _weight(rng)

    def step(x: np.ndarray) -> cr.Tensor:
        return _loss(weight + cr.tensor(0.01 * _MODULE_RNG.standard_normal((3, 2))), x)

    with pytest.raises(CompileError, match="'_MODULE_RNG'"):
        compile(step)(rng.standard_normal((4, 3)))


def test_a_draw_from_the_generator_of_a_bound_steps_object_is_refused(
    rng: np.random.Generator,
) -> None:
    class Trainer:
        def __init__(self) -> None:
            self.weight = _weight(rng)
            self.rng = np.random.default_rng(3)

        def step(self, x: np.ndarray) -> cr.Tensor:
            noise = cr.tensor(0.01 * self.rng.standard_normal((3, 2)))
            return _loss(self.weight + noise, x)

    with pytest.raises(CompileError, match=r"np\.random\.Generator 'self\.rng'"):
        compile(Trainer().step)(rng.standard_normal((4, 3)))


def test_random_noise_passed_as_an_argument_replays_exactly(rng: np.random.Generator) -> None:
    def make_step(weight: cr.Tensor) -> Callable[..., cr.Tensor]:
        optimizer = cr.optim.SGD([weight], lr=0.1)

        def step(x: np.ndarray, noise: np.ndarray) -> cr.Tensor:
            optimizer.zero_grad()
            loss = _loss(weight + cr.tensor(noise), x)
            loss.backward()
            optimizer.step()
            return loss

        return step

    noise_rng = np.random.default_rng(3)
    batches = [(x, 0.01 * noise_rng.standard_normal((3, 2))) for x in _batches(rng)]
    histories = []
    for compiled in (False, True):
        weight = _weight(np.random.default_rng(5))
        run = compile(make_step(weight)) if compiled else make_step(weight)
        histories.append(([run(x, noise).item() for x, noise in batches], weight.numpy().copy()))
    (eager, eager_weight), (replayed, replayed_weight) = histories
    assert replayed == eager
    assert np.array_equal(replayed_weight, eager_weight)


def test_a_generator_seeded_afresh_inside_the_step_gives_a_constant_that_replays(
    rng: np.random.Generator,
) -> None:
    """Eagerly the same seed draws the same values on every call, so freezing them is right."""

    def make_step(weight: cr.Tensor) -> Callable[..., cr.Tensor]:
        def step(x: np.ndarray) -> cr.Tensor:
            fixed = np.random.default_rng(0).standard_normal((3, 2))
            return _loss(weight + cr.tensor(0.01 * fixed), x)

        return step

    eager, replayed, _, _ = _eager_then_compiled(make_step, _batches(rng))
    assert replayed == eager


# ------------------------------------------------------------------ gradients read in the step
def test_a_gradient_read_inside_the_step_is_read_afresh_on_every_replay(
    rng: np.random.Generator,
) -> None:
    """`.grad` is a new tensor after each backward; ops on it use the current one."""
    batches = _batches(rng)
    histories = []
    for compiled in (False, True):
        weight = _weight(np.random.default_rng(5))
        optimizer = cr.optim.SGD([weight], lr=0.1)

        def step(
            x: np.ndarray, weight: cr.Tensor = weight, optimizer: Any = optimizer
        ) -> tuple[cr.Tensor, cr.Tensor]:
            optimizer.zero_grad()
            loss = _loss(weight, x)
            loss.backward()
            assert weight.grad is not None
            grad_norm = (weight.grad * weight.grad).sum().sqrt()
            optimizer.step()
            return loss, grad_norm

        run = compile(step) if compiled else step
        histories.append([tuple(t.item() for t in run(x)) for x in batches])
    eager, replayed = histories
    assert len({norm for _, norm in eager}) == len(eager)
    assert replayed == eager


def test_a_param_groups_lr_read_into_an_op_is_guarded_and_a_change_traces_again(
    rng: np.random.Generator,
) -> None:
    """Read in the step's own Python code, the lr is a constant of the trace; the guards watch
    the param_groups entries the step names, so a change between calls traces the step again
    instead of replaying the old value (it was baked in silently before)."""
    weight = _weight(rng)
    optimizer = cr.optim.SGD([weight], lr=0.1)

    def step(x: np.ndarray) -> cr.Tensor:
        return _loss(weight, x) * optimizer.param_groups[0]["lr"]

    compiled = compile(step)
    x = rng.standard_normal((4, 3))
    traced = compiled(x).item()
    assert compiled(x).item() == traced  # the verification trace
    assert compiled(x).item() == traced  # a replay
    optimizer.param_groups[0]["lr"] = 0.2
    assert compiled(x).item() == step(x).item() == traced * 2.0


def test_the_lr_a_scheduler_set_read_through_get_last_lr_is_guarded(
    rng: np.random.Generator,
) -> None:
    weight = _weight(rng)
    optimizer = cr.optim.SGD([weight], lr=0.1)
    scheduler = cr.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)

    def step(x: np.ndarray) -> cr.Tensor:
        return _loss(weight, x) * scheduler.get_last_lr()[0]

    compiled = compile(step)
    x = rng.standard_normal((4, 3))
    for _ in range(3):
        assert compiled(x).item() == step(x).item()
    scheduler.step()  # between calls, as an epoch loop does
    for _ in range(3):
        assert compiled(x).item() == step(x).item()


def test_a_step_that_does_not_read_the_lr_is_not_traced_again_when_a_schedule_changes_it(
    rng: np.random.Generator,
) -> None:
    weight = _weight(rng)
    optimizer = cr.optim.SGD([weight], lr=0.1)
    scheduler = cr.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    compiled = compile(_sgd_step(weight, optimizer))
    batches = _batches(rng, 6)
    for x in batches:
        compiled(x)
        scheduler.step()
    assert compiled.traces == 2  # the optimizer's replayed step reads the live lr


# ------------------------------------------------------------------ follow-up: more stale sources
def _noise_from_module_rng() -> np.ndarray:
    """A helper the step calls: the generator is in the helper's globals, not the step's."""
    return 0.01 * _MODULE_RNG.standard_normal((3, 2))


class _NoiseSource:
    def __init__(self) -> None:
        self.rng = np.random.default_rng(4)

    def noise(self) -> np.ndarray:
        return 0.01 * self.rng.standard_normal((3, 2))


def test_a_draw_from_pythons_random_module_inside_the_step_is_refused(
    rng: np.random.Generator,
) -> None:
    weight = _weight(rng)

    def step(x: np.ndarray) -> cr.Tensor:
        return _loss(weight, x) * (1.0 + 0.01 * random.random())

    with pytest.raises(CompileError, match=r"Python's random module.*pass it as an argument"):
        compile(step)(rng.standard_normal((4, 3)))


def test_a_draw_from_a_module_level_generator_through_a_helper_is_refused(
    rng: np.random.Generator,
) -> None:
    weight = _weight(rng)

    def step(x: np.ndarray) -> cr.Tensor:
        return _loss(weight + cr.tensor(_noise_from_module_rng()), x)

    with pytest.raises(CompileError, match=r"'_MODULE_RNG'.*pass it as an argument"):
        compile(step)(rng.standard_normal((4, 3)))


def test_a_draw_from_a_generator_held_by_an_object_in_the_closure_is_refused(
    rng: np.random.Generator,
) -> None:
    weight = _weight(rng)
    source = _NoiseSource()

    def step(x: np.ndarray) -> cr.Tensor:
        return _loss(weight + cr.tensor(source.noise()), x)

    with pytest.raises(CompileError, match=r"'source\.rng'.*pass it as an argument"):
        compile(step)(rng.standard_normal((4, 3)))


@pytest.mark.parametrize(
    "make",
    [
        lambda: np.random.default_rng(),
        lambda: np.random.Generator(np.random.PCG64()),
        lambda: np.random.RandomState(),
    ],
    ids=["default_rng", "Generator(PCG64())", "RandomState"],
)
def test_an_unseeded_generator_created_inside_the_step_is_refused(
    rng: np.random.Generator, make: Callable[[], Any]
) -> None:
    weight = _weight(rng)

    def step(x: np.ndarray) -> cr.Tensor:
        return _loss(weight + cr.tensor(0.01 * make().standard_normal((3, 2))), x)

    with pytest.raises(CompileError, match=r"without a seed.*pass them as an argument"):
        compile(step)(rng.standard_normal((4, 3)))


@pytest.mark.parametrize(
    "draw",
    [
        lambda: os.urandom(1)[0] / 255.0,
        lambda: secrets.randbelow(1000) / 1000.0,
        lambda: uuid.uuid4().int % 1000 / 1000.0,
    ],
    ids=["os.urandom", "secrets", "uuid4"],
)
def test_fresh_randomness_from_the_os_inside_the_step_is_refused_naming_its_source(
    rng: np.random.Generator, draw: Callable[[], float]
) -> None:
    weight = _weight(rng)

    def step(x: np.ndarray) -> cr.Tensor:
        return _loss(weight * draw(), x)

    with pytest.raises(CompileError, match=r"os\.urandom, secrets, uuid\.uuid4.*as an argument"):
        compile(step)(rng.standard_normal((4, 3)))


def test_changing_param_groups_inside_the_step_is_refused(rng: np.random.Generator) -> None:
    weight = _weight(rng)
    optimizer = cr.optim.SGD([weight], lr=0.1)

    def step(x: np.ndarray) -> cr.Tensor:
        optimizer.param_groups[0]["lr"] *= 0.5
        return _sgd_step(weight, optimizer)(x)

    with pytest.raises(
        CompileError,
        match=r"param_groups\[0\]\['lr'\].*outside the compiled "
        r"step",
    ):
        compile(step)(rng.standard_normal((4, 3)))


@pytest.mark.parametrize(
    "convert",
    [
        float,
        int,
        lambda value: value.item(),
        lambda value: value.tolist(),
        bool,
        lambda value: value[()],
    ],
    ids=["float", "int", "item", "tolist", "bool", "index"],
)
def test_converting_a_0d_float_array_argument_to_python_inside_the_step_is_refused(
    rng: np.random.Generator, convert: Callable[[np.ndarray], Any]
) -> None:
    weight = _weight(rng)

    def step(x: np.ndarray, scale: np.ndarray) -> cr.Tensor:
        return _loss(weight, x) * (convert(scale) or 1.0)

    with pytest.raises(
        CompileError,
        match=r"0-d array argument 1 .*pass it as a Python "
        r"number",
    ):
        compile(step)(rng.standard_normal((4, 3)), np.array(2.0))


def test_a_0d_float_array_argument_used_in_ops_replays_its_new_value(
    rng: np.random.Generator,
) -> None:
    weight = _weight(rng)

    def step(x: np.ndarray, scale: np.ndarray) -> cr.Tensor:
        return _loss(weight, x) * cr.tensor(scale)

    compiled = compile(step)
    x = rng.standard_normal((4, 3))
    for scale in (np.array(2.0), np.array(3.0)):
        assert compiled(x, scale).item() == step(x, scale).item()
    assert compiled.trace_count == 1
