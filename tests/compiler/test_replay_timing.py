"""`Program.run_timed`, what benchmarks/replay_times.py reports: the same replay as `run`, one
duration per step, and a label per step saying what it does."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

import chainrule as cr
from chainrule import nn, optim
from chainrule.compiler.compiled import CompiledStep


def _compiled(seed: int = 0) -> tuple[CompiledStep, nn.Module, list[Any]]:
    rng = np.random.default_rng(seed)
    model = nn.Sequential(nn.Linear(8, 6, rng=rng), nn.ReLU(), nn.Linear(6, 3, rng=rng))
    model.flatten_parameters()
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    loss_fn = nn.CrossEntropyLoss()

    @cr.compile
    def train_step(inputs: cr.Tensor, labels: np.ndarray) -> cr.Tensor:
        optimizer.zero_grad()
        loss: cr.Tensor = loss_fn(model(inputs), labels)
        loss.backward()
        optimizer.step()
        return loss

    data = np.random.default_rng(1)
    x = cr.tensor(data.standard_normal((5, 8), dtype=np.float32))
    targets = data.integers(0, 3, size=5)
    train_step(x, targets)
    return train_step, model, [x.data, targets]


def test_each_step_of_a_program_has_a_label_saying_what_it_does() -> None:
    step, _, _ = _compiled()
    ((program, _),) = step.programs.values()
    assert program.labels == [
        "SGD.zero_grad",
        "linear+relu (5, 6)",
        "linear (5, 3)",
        "cross_entropy ()",
        "backward",
        "SGD.step",
    ]


def test_run_timed_replays_exactly_as_run_and_times_every_step() -> None:
    timed, timed_model, arrays = _compiled()
    plain, plain_model, _ = _compiled()
    ((timed_program, _),) = timed.programs.values()
    ((plain_program, _),) = plain.programs.values()
    ticks = itertools.count()
    for _ in range(3):
        timed_outputs, durations = timed_program.run_timed(arrays, lambda: next(ticks))
        plain_outputs = plain_program.run(arrays)
        assert durations == [1] * len(timed_program.steps)
        for got, expected in zip(timed_outputs, plain_outputs, strict=True):
            np.testing.assert_array_equal(got, expected)
    for got, expected in zip(timed_model.parameters(), plain_model.parameters(), strict=True):
        np.testing.assert_array_equal(got.data, expected.data)
