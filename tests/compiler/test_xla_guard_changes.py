"""A guarded thing changed between two steady-state calls of compile(backend="xla") (the
values on the device, nothing read since): a submodule swapped, a module setting or closure
value changed, a layer frozen, a parameter group added or a parameter dropped from one. The
call checks the step's guards before its jitted call, whose inputs are donated: the stale
program is not dispatched (counted), and the step is traced again, so the losses,
parameters, `.grad`s and optimizer state (Adam's step counts included) equal eager's after
that call and two more, in float64 to 1e-12.

These cases were written for speculative dispatch (guards checked after the dispatch,
inputs not donated, a stale result dropped), measured and not adopted
(benchmarks/results/session-2026-12-01/xla-spec-notes.md); that patch's own copy of them
expects one stale dispatch, dropped, and the same state as here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import functional as F
from chainrule.compiler import compile

pytest.importorskip("jax")

from chainrule.compiler.xla import XlaProgram, enable_float64

RTOL = 1e-12
WARM = 5  # the trace, its check, the upload, two steady-state calls
AFTER = 3  # the changed call and two more


class _Net(cr.nn.Module):
    def __init__(self, rng: np.random.Generator) -> None:
        super().__init__()
        self.fc1 = cr.nn.Linear(4, 6, rng=rng, dtype=np.float64)
        self.act: cr.nn.Module = cr.nn.LeakyReLU(0.1)
        self.fc2 = cr.nn.Linear(6, 3, rng=rng, dtype=np.float64)
        self.shift = cr.nn.Parameter(np.full(3, 0.25))
        self.scale = 1.0

    def forward(self, x: Any) -> cr.Tensor:
        return self.fc2(self.act(self.fc1(x))) * self.scale + self.shift


class _Run:
    """The net, an optimizer over all but `shift` (added as a group by one change), and the
    step, which also reads `factor` from its closure."""

    def __init__(self, optimizer: str) -> None:
        self.net = _Net(np.random.default_rng(0))
        params = [self.net.fc1.weight, self.net.fc1.bias, self.net.fc2.weight, self.net.fc2.bias]
        self.optimizer: cr.optim.Optimizer = (
            cr.optim.Adam(params, lr=0.01)
            if optimizer == "adam"
            else cr.optim.SGD(params, lr=0.05, momentum=0.9)
        )
        self.factor = 1.0

        def step(x: np.ndarray, target: np.ndarray) -> cr.Tensor:
            self.optimizer.zero_grad()
            loss = F.cross_entropy(self.net(cr.tensor(x)), target) * self.factor
            loss.backward()
            self.optimizer.step()
            return loss

        self.step = step

    def snapshot(self) -> list[Any]:
        state = self.optimizer.state_dict()["state"]
        return [
            *(p.data.copy() for p in self.net.parameters()),
            *(None if p.grad is None else p.grad.data.copy() for p in self.net.parameters()),
            *(
                (key, name, np.array(value))
                for key, entries in sorted(state.items())
                for name, value in sorted(entries.items())
            ),
        ]


def _swap_activation(run: _Run) -> None:
    run.net.act = cr.nn.Tanh()


def _change_slope(run: _Run) -> None:
    run.net.act.negative_slope = 0.3  # type: ignore[assignment]


def _change_module_setting(run: _Run) -> None:
    run.net.scale = 0.5


def _change_closure_value(run: _Run) -> None:
    run.factor = 2.0


def _freeze_layer(run: _Run) -> None:
    run.net.fc1.weight.requires_grad_(False)


def _add_param_group(run: _Run) -> None:
    run.optimizer.add_param_group({"params": [run.net.shift], "lr": 0.02})


def _drop_a_parameter_from_its_group(run: _Run) -> None:
    run.optimizer.param_groups[0]["params"].pop()


CHANGES: dict[str, Callable[[_Run], None]] = {
    "submodule-swapped": _swap_activation,
    "activation-setting": _change_slope,
    "module-attribute": _change_module_setting,
    "closure-value": _change_closure_value,
    "layer-frozen": _freeze_layer,
    "param-group-added": _add_param_group,
    "parameter-left-its-group": _drop_a_parameter_from_its_group,
}


def _batches() -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(1)
    return [(rng.standard_normal((8, 4)), rng.integers(0, 3, 8)) for _ in range(WARM + AFTER)]


def _assert_same(got: list[Any], expected: list[Any]) -> None:
    assert len(got) == len(expected)
    for mine, theirs in zip(got, expected, strict=True):
        if isinstance(theirs, tuple):
            assert mine[:2] == theirs[:2]
            mine, theirs = mine[2], theirs[2]
        if theirs is None:
            assert mine is None
            continue
        assert mine.shape == theirs.shape
        assert mine.dtype == theirs.dtype
        np.testing.assert_allclose(mine, theirs, rtol=RTOL, atol=1e-15)


def _count_dispatches(program: XlaProgram) -> list[int]:
    """Wrap the program's jitted functions to count their calls."""
    count = [0]
    for emission in program._emissions.values():

        def counted(*args: Any, jitted: Any = emission.jitted) -> Any:
            count[0] += 1
            return jitted(*args)

        emission.jitted = counted
    return count


@pytest.mark.parametrize("optimizer", ["adam", "sgd-momentum"])
@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_a_guard_broken_between_steady_calls_retraces_from_the_state_eager_has(
    optimizer: str, change: Callable[[_Run], None]
) -> None:
    enable_float64()
    batches = _batches()
    eager, compiled = _Run(optimizer), _Run(optimizer)
    run = compile(compiled.step, backend="xla")
    eager_losses, losses = [], []
    for number, (x, target) in enumerate(batches):
        if number == WARM:
            program = next(iter(run.programs.values()))[0]
            assert isinstance(program, XlaProgram)
            assert program._live is not None
            assert program._live.deferral is not None
            assert program._live.deferral.active  # the steady state: nothing read since
            count = _count_dispatches(program)
            traces = run.traces
            change(eager)
            change(compiled)
        eager_losses.append(eager.step(x, target).item())
        losses.append(run(x, target).item())
        if number == WARM:
            assert count[0] == 0  # the stale program never ran: its inputs were donated
            assert run.traces == traces + 1
            _assert_same(compiled.snapshot(), eager.snapshot())
    np.testing.assert_allclose(losses, eager_losses, rtol=RTOL)
    _assert_same(compiled.snapshot(), eager.snapshot())


def test_without_a_change_the_steady_state_neither_retraces_nor_copies_the_host() -> None:
    enable_float64()
    batches = _batches()
    eager, compiled = _Run("adam"), _Run("adam")
    run = compile(compiled.step, backend="xla")
    for x, target in batches[:WARM]:
        np.testing.assert_allclose(run(x, target).item(), eager.step(x, target).item(), rtol=RTOL)
    traces = run.traces
    program = next(iter(run.programs.values()))[0]
    live = program._live
    for x, target in batches[WARM:]:
        np.testing.assert_allclose(run(x, target).item(), eager.step(x, target).item(), rtol=RTOL)
    assert run.traces == traces
    assert program._live is live  # no upload: the device values fed each call
    _assert_same(compiled.snapshot(), eager.snapshot())


def test_an_error_of_a_valid_program_is_raised_with_the_state_written_back() -> None:
    # No guard broken: the jitted call's error is the step's; the values the last good call
    # left are written back to the host objects first.
    enable_float64()
    batches = _batches()
    eager, compiled = _Run("adam"), _Run("adam")
    run = compile(compiled.step, backend="xla")
    for x, target in batches[:WARM]:
        run(x, target)
        eager.step(x, target)
    program = next(iter(run.programs.values()))[0]

    def failing(*args: Any) -> Any:
        raise RuntimeError("device lost")

    for emission in program._emissions.values():
        emission.jitted = failing
    with pytest.raises(RuntimeError, match="device lost"):
        run(*batches[WARM])
    _assert_same(compiled.snapshot(), eager.snapshot())  # the last good call's values
