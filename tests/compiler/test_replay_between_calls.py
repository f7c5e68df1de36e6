"""What a user changes between calls of a compiled step reaches its replay: each case runs a
training step eagerly and compiled from the same initial values, making the same change
before the same call, and compares every call's loss and, after every call, the parameters,
their `.grad` and the optimizer's state, bit for bit (the NumPy replay makes eager's NumPy
calls)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import numpy as np
import pytest
from replay_checks import (
    OPTIMIZERS,
    Between,
    assert_records_match,
    batches,
    run_with_changes,
    small_model,
    training_step,
)

import chainrule as cr
from chainrule import nn, optim
from chainrule.compiler import compile


def _assert_compiled_equals_eager(
    dtype: type[np.floating[Any]],
    make_optimizer: Callable[[nn.Module], optim.Optimizer],
    between: Between,
    flat: bool,
) -> None:
    eager = run_with_changes(None, dtype, make_optimizer, between, flat)
    replayed = run_with_changes("numpy", dtype, make_optimizer, between, flat)
    assert_records_match(eager, replayed, np.testing.assert_array_equal)


@pytest.mark.parametrize("flat", [True, False], ids=["flat", "own-arrays"])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize(
    ("dtype", "new_dtype"), [(np.float32, np.float64), (np.float64, np.float32)]
)
def test_a_parameter_given_data_of_another_dtype_between_calls_matches_eager(
    dtype: type[np.floating[Any]], new_dtype: type[np.floating[Any]], name: str, flat: bool
) -> None:
    """The replay's ops and buffers are fixed for the traced dtype: a weight given float64
    values replayed with float32 gradients and updates. Now the step is traced again."""

    def between(index: int, model: nn.Module, optimizer: optim.Optimizer) -> None:
        if index == 3:
            weight = model[0].weight
            weight.data = weight.numpy().astype(new_dtype)

    _assert_compiled_equals_eager(dtype, OPTIMIZERS[name], between, flat)


def test_a_parameter_given_data_of_the_same_shape_and_dtype_keeps_replaying() -> None:
    """New values of the traced shape and dtype are read by the replay itself (no trace)."""
    model = small_model(np.float64)
    compiled = compile(training_step(model, optim.SGD(model.parameters(), lr=0.1)))
    drawn = batches()
    for x, y in drawn[:3]:
        compiled(x, y)
    traces = compiled.traces
    model[0].weight.data = np.full((4, 6), 0.25)
    compiled(*drawn[3])
    compiled(*drawn[4])
    assert compiled.traces == traces


RETURNED: dict[str, Callable[[nn.Sequential], cr.Tensor]] = {
    "weight": lambda model: model[0].weight,
    "weight.T": lambda model: model[0].weight.T,
    "bias slice": lambda model: model[0].bias[0:2],
    "weight reshaped": lambda model: model[0].weight.reshape(-1),
    "weight.grad": lambda model: cast(cr.Tensor, model[0].weight.grad),
    "weight.grad.T": lambda model: cast(cr.Tensor, model[0].weight.grad).T,
}


@pytest.mark.parametrize("flat", [True, False], ids=["flat", "own-arrays"])
@pytest.mark.parametrize("returned", sorted(RETURNED))
def test_a_returned_parameter_or_grad_keeps_its_values_at_the_next_replay(
    returned: str, flat: bool
) -> None:
    """A step returning a parameter, its `.grad` or a view of either handed out a Tensor
    around the parameter's (or the flat gradient slot's) own array: the next replay's update
    changed it under the user, with no version bump (eager's is the parameter itself, whose
    version counts the change). Now each replay returns a copy: the values eager returned."""
    model = small_model(np.float64)
    if flat:
        model.flatten_parameters()
    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    def step(x: np.ndarray, y: np.ndarray) -> tuple[cr.Tensor, cr.Tensor]:
        optimizer.zero_grad()
        loss: cr.Tensor = loss_fn(model(cr.tensor(x)), y)
        loss.backward()
        kept = RETURNED[returned](model)
        optimizer.step()
        return loss, kept

    compiled = compile(step)
    kept = []
    for x, y in batches():
        _, tensor = compiled(x, y)
        kept.append((tensor, tensor.version, tensor.numpy().copy()))
    for call, (tensor, version, values) in enumerate(kept):
        if tensor.version == version:
            np.testing.assert_array_equal(tensor.numpy(), values, err_msg=f"call {call}")


def test_a_returned_grad_the_step_assigned_keeps_its_values_at_the_next_zero_grad() -> None:
    """`w.grad = w.grad * 0.5` then `return loss, w.grad`: the replay handed out two Tensors
    around the assigned array, `.grad` and the returned one; the next call's
    zero_grad(set_to_none=False) zeroed it in place, bumping `.grad`'s version only."""
    model = small_model(np.float64)
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    loss_fn = nn.CrossEntropyLoss()
    weight = model[0].weight

    def step(x: np.ndarray, y: np.ndarray) -> tuple[cr.Tensor, cr.Tensor]:
        optimizer.zero_grad(set_to_none=False)
        loss: cr.Tensor = loss_fn(model(cr.tensor(x)), y)
        loss.backward()
        with cr.no_grad():
            weight.grad = cast(cr.Tensor, weight.grad) * 0.5
        optimizer.step()
        return loss, cast(cr.Tensor, weight.grad)

    compiled = compile(step)
    kept = []
    for x, y in batches():
        _, grad = compiled(x, y)
        kept.append((grad, grad.version, grad.numpy().copy()))
    for call, (grad, version, values) in enumerate(kept):
        if grad.version == version:
            np.testing.assert_array_equal(grad.numpy(), values, err_msg=f"call {call}")
