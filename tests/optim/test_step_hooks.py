"""`Optimizer.register_step_pre_hook`: a hook runs at the start of every step, after the
closure and before any update, also when chainrule.compile replays the step; its remover
stops it."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule import nn, optim
from chainrule.compiler import compile
from chainrule.tensor import Tensor


def test_the_hook_sees_the_gradient_before_the_update() -> None:
    weight = nn.Parameter(np.zeros(2))
    optimizer = optim.SGD([weight], lr=1.0)
    seen: list[np.ndarray] = []
    optimizer.register_step_pre_hook(lambda opt: seen.append(weight.numpy().copy()))
    weight.grad = Tensor(np.ones(2))
    optimizer.step()
    np.testing.assert_array_equal(seen[0], [0.0, 0.0])
    np.testing.assert_array_equal(weight.numpy(), [-1.0, -1.0])


def test_a_hook_may_change_the_gradient_the_step_uses() -> None:
    weight = nn.Parameter(np.zeros(2))
    optimizer = optim.SGD([weight], lr=1.0)

    def halve(opt: optim.Optimizer) -> None:
        weight.grad.data[...] *= 0.5

    optimizer.register_step_pre_hook(halve)
    weight.grad = Tensor(np.ones(2))
    optimizer.step()
    np.testing.assert_array_equal(weight.numpy(), [-0.5, -0.5])


def test_a_removed_hook_no_longer_runs() -> None:
    weight = nn.Parameter(np.zeros(1))
    optimizer = optim.Adam([weight])
    calls: list[optim.Optimizer] = []
    handle = optimizer.register_step_pre_hook(calls.append)
    weight.grad = Tensor(np.ones(1))
    optimizer.step()
    handle.remove()
    optimizer.step()
    assert calls == [optimizer]


def test_compiled_replays_run_the_hook_every_step() -> None:
    weight = nn.Parameter(np.ones((3, 2)))
    optimizer = optim.SGD([weight], lr=0.1)
    calls: list[int] = []
    optimizer.register_step_pre_hook(lambda opt: calls.append(1))

    def step(x: np.ndarray) -> Tensor:
        optimizer.zero_grad()
        loss = (Tensor(x) @ weight).sum()
        loss.backward()
        optimizer.step()
        return loss

    compiled = compile(step)
    for _ in range(4):
        compiled(np.ones((5, 3)))
    assert len(calls) == 4


def test_with_a_closure_the_hook_sees_the_closures_gradient() -> None:
    # A documented difference from torch (which runs its hooks before the closure): the
    # hook sees the gradients the update uses, as DataParallel's averaging hook needs.
    weight = nn.Parameter(np.array([1.0, -2.0]))
    optimizer = optim.SGD([weight], lr=0.1)
    seen: list[np.ndarray] = []
    optimizer.register_step_pre_hook(lambda opt: seen.append(weight.grad.numpy().copy()))

    def closure() -> Tensor:
        optimizer.zero_grad()
        loss = (weight * weight).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    np.testing.assert_array_equal(seen[0], [2.0, -4.0])
    np.testing.assert_allclose(weight.numpy(), [0.8, -1.6], rtol=1e-15)


def test_an_lr_set_by_the_hook_is_checked_before_it_is_used() -> None:
    weight = nn.Parameter(np.zeros(2))
    optimizer = optim.SGD([weight], lr=1.0)

    def set_negative_lr(opt: optim.Optimizer) -> None:
        opt.param_groups[0]["lr"] = -1.0

    optimizer.register_step_pre_hook(set_negative_lr)
    weight.grad = Tensor(np.ones(2))
    with pytest.raises(ValueError, match=r"SGD: lr must be a finite number in \[0, inf\)"):
        optimizer.step()
    np.testing.assert_array_equal(weight.numpy(), [0.0, 0.0])
