"""A compiled replay writes its intermediates into arrays it allocates once and reuses on every
call (`Program.buffers`): nothing it hands to the user may be one of them, or a view of one,
or the next replay would change the values the user holds. Each test keeps everything the
step returned across later calls and compares it, bit for bit in float64, with eager
execution of the same calls."""

from __future__ import annotations

from typing import Any

import numpy as np

import chainrule as cr
from chainrule import nn, optim


def _setup(compiled: bool, returns: str) -> tuple[Any, list[tuple[np.ndarray, np.ndarray]]]:
    """A float64 6-5-5-3 ReLU network in a flat buffer, its plain SGD step (compiled or
    eager) returning the loss and the intermediates named by `returns`, and six batches."""
    rng = np.random.default_rng(11)
    model = nn.Sequential(
        nn.Linear(6, 5, rng=rng),
        nn.ReLU(),
        nn.Linear(5, 5, rng=rng),
        nn.ReLU(),
        nn.Linear(5, 3, rng=rng),
    )
    model = model.double()
    model.flatten_parameters()
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    loss_fn = nn.CrossEntropyLoss()
    first, relu, second, relu2, last = (model[i] for i in range(5))

    def step(x: np.ndarray, y: np.ndarray) -> tuple[cr.Tensor, ...]:
        optimizer.zero_grad()
        pre = first(cr.tensor(x))
        hidden = relu(pre)
        hidden2 = relu2(second(hidden))
        logits = last(hidden2)
        loss: cr.Tensor = loss_fn(logits, y)
        loss.backward()
        optimizer.step()
        held = {
            "logits": (logits,),
            "hidden": (hidden,),
            "pre": (pre,),
            "view": (hidden2[:, 1:4], logits.T),
        }[returns]
        return (loss, *held)

    batches = [(rng.standard_normal((7, 6)), rng.integers(0, 3, size=7)) for _ in range(6)]
    return (cr.compile(step) if compiled else step), batches


def _kept_outputs(compiled: bool, returns: str) -> list[list[np.ndarray]]:
    """The arrays of every call's outputs, read after the last call."""
    step, batches = _setup(compiled, returns)
    kept = [step(x, y) for x, y in batches]
    return [[tensor.numpy() for tensor in outputs] for outputs in kept]


def _check(returns: str) -> None:
    replayed = _kept_outputs(True, returns)
    eager = _kept_outputs(False, returns)
    for call, (got, want) in enumerate(zip(replayed, eager, strict=True)):
        for a, b in zip(got, want, strict=True):
            assert a.shape == b.shape, call
            assert a.dtype == b.dtype == np.float64, call
            assert a.tobytes() == b.tobytes(), f"call {call}: a later replay changed it"


def test_losses_and_logits_kept_across_replays_keep_their_values() -> None:
    _check("logits")


def test_a_returned_relu_output_is_not_the_fused_layers_reused_buffer() -> None:
    _check("hidden")


def test_a_returned_pre_activation_read_by_a_relu_keeps_its_values() -> None:
    _check("pre")


def test_returned_views_of_intermediates_keep_their_values() -> None:
    _check("view")


def test_no_returned_array_shares_memory_with_a_reused_buffer() -> None:
    step, batches = _setup(True, "view")
    outputs = [step(x, y) for x, y in batches]
    ((program, _),) = step.programs.values()
    assert program.buffers.arrays, "the replay reuses no buffer: this test checks nothing"
    for returned in outputs[2:]:  # the replays (calls 0 and 1 trace)
        for tensor in returned:
            for buffer in program.buffers.arrays.values():
                assert not np.shares_memory(tensor.numpy(), buffer)
