"""A user optimizer overriding `step` (or `zero_grad`) with code before `super().step()`:
the base step recorded itself as the effect a replay repeats, but `self.step` is the
override, so the replay ran the override's own code twice, once traced as the step's code and
once inside the effect (`p.grad = p.grad * 0.5` halved the gradient twice: a silently wrong
update from the third call on). An override is now recorded as one effect when entered. Each
case trains six calls eagerly and compiled from the same start and compares every loss,
parameter and gradient bit for bit."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.compiler import compile


class _HalvedSGD(optim.SGD):
    """SGD on half the gradient, halved by the override before the base step."""

    def step(self, closure: Any = None) -> Any:
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is not None:
                    param.grad = param.grad * 0.5
        return super().step(closure)


class _ClippedAdam(optim.Adam):
    """Adam whose weights are clipped after each step (`.data` assigned in the override)."""

    def step(self, closure: Any = None) -> Any:
        loss = super().step(closure)
        for group in self.param_groups:
            for param in group["params"]:
                param.data = np.clip(param.numpy(), -0.3, 0.3)
        return loss


class _CountedSGD(_HalvedSGD):
    """An override of an override: both run once per step."""

    steps = 0

    def step(self, closure: Any = None) -> Any:
        self.steps += 1
        return super().step(closure)


OPTIMIZERS = {
    "halved-sgd": lambda params: _HalvedSGD(params, lr=0.1, momentum=0.9),
    "clipped-adam": lambda params: _ClippedAdam(params, lr=0.1),
    "override-of-override": lambda params: _CountedSGD(params, lr=0.1),
}


def _run(case: str, flat: bool, compiled: bool) -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    model = nn.Sequential(
        nn.Linear(4, 6, rng=rng, dtype=np.float64),
        nn.ReLU(),
        nn.Linear(6, 3, rng=rng, dtype=np.float64),
    )
    if flat:
        model.flatten_parameters()
    optimizer = OPTIMIZERS[case](model.parameters())
    loss_fn = nn.CrossEntropyLoss()

    def step(x: np.ndarray, y: np.ndarray) -> cr.Tensor:
        optimizer.zero_grad()
        loss: cr.Tensor = loss_fn(model(cr.tensor(x)), y)
        loss.backward()
        optimizer.step()
        return loss

    run = compile(step) if compiled else step
    data = np.random.default_rng(0)
    record = []
    for _ in range(6):
        record.append(run(data.standard_normal((5, 4)), data.integers(0, 3, 5)).numpy())
        for param in model.parameters():
            assert param.grad is not None
            record += [param.numpy().copy(), param.grad.numpy().copy()]
    record.append(np.array(getattr(optimizer, "steps", 0)))
    return record


@pytest.mark.parametrize("flat", [False, True], ids=["own-arrays", "flat-buffer"])
@pytest.mark.parametrize("case", list(OPTIMIZERS))
def test_an_optimizer_overriding_step_replays_its_override_once(case: str, flat: bool) -> None:
    expected = _run(case, flat, compiled=False)
    got = _run(case, flat, compiled=True)
    for index, (value, reference) in enumerate(zip(got, expected, strict=True)):
        assert value.shape == reference.shape, index
        assert value.dtype == reference.dtype, index
        np.testing.assert_array_equal(value, reference, err_msg=str(index))


class _GradHalvingStepLR(optim.lr_scheduler.StepLR):
    """A schedule that also halves the gradients before its base step (called between
    backward and the optimizer's step)."""

    def step(self) -> None:
        for group in self.optimizer.param_groups:
            for param in group["params"]:
                if param.grad is not None:
                    param.grad = param.grad * 0.5
        super().step()


def _run_scheduled(compiled: bool) -> list[np.ndarray]:
    weight = cr.tensor(np.array([1.0, -0.5, 2.0]), requires_grad=True)
    optimizer = optim.SGD([weight], lr=0.1)
    scheduler = _GradHalvingStepLR(optimizer, step_size=2, gamma=0.5)

    def step(x: np.ndarray) -> cr.Tensor:
        optimizer.zero_grad()
        loss = (cr.tensor(x) * weight).sum() ** 2
        loss.backward()
        scheduler.step()
        optimizer.step()
        return loss

    run = compile(step) if compiled else step
    record = []
    for call in range(6):
        record.append(run(np.array([1.0, 2.0, 3.0]) * (call + 1)).numpy())
        assert weight.grad is not None
        record += [weight.numpy().copy(), weight.grad.numpy().copy()]
        record.append(np.array(optimizer.param_groups[0]["lr"]))
    return record


def test_a_scheduler_overriding_step_replays_its_override_once() -> None:
    expected = _run_scheduled(compiled=False)
    got = _run_scheduled(compiled=True)
    for index, (value, reference) in enumerate(zip(got, expected, strict=True)):
        assert value.shape == reference.shape, index
        assert value.dtype == reference.dtype, index
        np.testing.assert_array_equal(value, reference, err_msg=str(index))
