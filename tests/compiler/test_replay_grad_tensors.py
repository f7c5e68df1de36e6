"""The `.grad` Tensors of a compiled replay: each replay hands out the Tensor the previous
one did, around the same slice of the flat gradient buffer, with its version bumped (the
values under it changed), and a new one wherever the user changed the old one."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from replay_checks import training_step

import chainrule as cr
from chainrule import nn, optim


def _setup(
    compiled: bool = True,
) -> tuple[nn.Module, Any, list[tuple[np.ndarray, np.ndarray]]]:
    """A 4-3-2 network in a flat buffer, its plain SGD step (compiled or eager) and four
    batches of 5 rows with class targets."""
    rng = np.random.default_rng(3)
    model = nn.Sequential(nn.Linear(4, 3, rng=rng), nn.ReLU(), nn.Linear(3, 2, rng=rng))
    model.flatten_parameters()
    step = training_step(model, optim.SGD(model.parameters(), lr=0.1))
    batches = [
        (rng.standard_normal((5, 4), dtype=np.float32), rng.integers(0, 2, size=5))
        for _ in range(4)
    ]
    return model, cr.compile(step) if compiled else step, batches


def _replayed(step: Any, batches: list[tuple[np.ndarray, np.ndarray]]) -> None:
    """Three calls: the trace, the verification trace and the first replay."""
    for x, y in batches[:3]:
        step(x, y)


def test_a_replay_hands_out_the_previous_replays_grad_tensor_with_its_version_bumped() -> None:
    model, step, batches = _setup()
    _replayed(step, batches)
    before = [(p.grad, p.grad.version) for p in model.parameters() if p.grad is not None]
    step(*batches[3])
    after = [p.grad for p in model.parameters()]
    assert len(before) == len(after) == 4
    for (grad, version), new in zip(before, after, strict=True):
        assert new is grad
        assert new.version == version + 1


def test_a_reused_grad_tensor_holds_the_same_gradient_as_eager_backward() -> None:
    model, step, batches = _setup()
    eager_model, eager_step, _ = _setup(compiled=False)
    for x, y in batches:
        step(x, y)
        eager_step(x, y)
    for param, eager in zip(model.parameters(), eager_model.parameters(), strict=True):
        assert param.grad is not None
        assert eager.grad is not None
        assert param.grad.shape == eager.grad.shape
        assert np.array_equal(param.grad.numpy(), eager.grad.numpy())


def test_a_grad_tensor_the_user_made_require_grad_is_not_handed_out_again() -> None:
    model, step, batches = _setup()
    _replayed(step, batches)
    weight = next(iter(model.parameters()))
    assert weight.grad is not None
    held = weight.grad.requires_grad_()
    step(*batches[3])
    assert weight.grad is not held
    assert not weight.grad.requires_grad


def test_a_grad_tensor_whose_data_was_replaced_is_not_handed_out_again() -> None:
    model, step, batches = _setup()
    _replayed(step, batches)
    weight = next(iter(model.parameters()))
    assert weight.grad is not None
    held = weight.grad
    held.data = np.zeros(weight.shape, np.float32)
    step(*batches[3])
    assert weight.grad is not held
    assert np.array_equal(held.numpy(), np.zeros(weight.shape, np.float32))


def test_a_graph_that_saved_a_reused_grad_tensor_refuses_its_backward() -> None:
    # The values under the held `.grad` changed with the next replay: its version says so,
    # so a backward through a graph that saved it raises instead of using the new values.
    model, step, batches = _setup()
    _replayed(step, batches)
    weight = next(iter(model.parameters()))
    assert weight.grad is not None
    scale = cr.tensor(np.ones(weight.shape, np.float32), requires_grad=True)
    penalty = (weight.grad * scale).sum()
    step(*batches[3])
    with pytest.raises(RuntimeError, match="modified"):
        penalty.backward()


def _penalty_on_the_held_grad(model: nn.Module) -> cr.Tensor:
    """A graph that saved the first parameter's current `.grad` (for the scale's gradient)."""
    weight = next(iter(model.parameters()))
    assert weight.grad is not None
    scale = cr.tensor(np.ones(weight.shape, np.float32), requires_grad=True)
    return (weight.grad * scale).sum()


def test_eager_backward_into_a_flat_slot_bumps_the_version_of_a_grad_kept_past_zero_grad() -> None:
    # zero_grad sets .grad to None, but the old Tensor is a view of the slot the next
    # backward writes into: a graph that saved it must refuse, not read the new gradient.
    model, step, batches = _setup(compiled=False)
    step(*batches[0])
    penalty = _penalty_on_the_held_grad(model)
    step(*batches[1])
    with pytest.raises(RuntimeError, match="modified"):
        penalty.backward()


def test_a_replay_after_eager_steps_bumps_the_version_of_the_eager_grad_it_overwrites() -> None:
    model, eager_step, batches = _setup(compiled=False)
    step = cr.compile(eager_step)
    _replayed(step, batches)
    eager_step(*batches[0])
    penalty = _penalty_on_the_held_grad(model)
    step(*batches[3])
    with pytest.raises(RuntimeError, match="modified"):
        penalty.backward()


def test_an_eager_step_after_replays_bumps_the_version_of_the_replays_grad() -> None:
    model, eager_step, batches = _setup(compiled=False)
    step = cr.compile(eager_step)
    _replayed(step, batches)
    penalty = _penalty_on_the_held_grad(model)
    eager_step(*batches[3])
    with pytest.raises(RuntimeError, match="modified"):
        penalty.backward()
