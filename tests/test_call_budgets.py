"""Python-level call budgets of the hot paths of a training step: a compiled replay per dense
layer, a flat optimizer step per parameter, and eager backward per recorded node.

On the benchmark's small workloads (benchmarks/run.py, W3 and W4) these calls, not the NumPy
arithmetic, are what separates chainrule from the hand-written NumPy floor, so each budget is
pinned here: counted with a profile hook (deterministic, unlike timings), as the growth between
a network of 2 and one of 6 hidden layers, so fixed per-step costs do not count.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from call_counting import python_calls
from chainrule import nn, optim
from chainrule.compiler.tracer import CompileError

SHALLOW, DEEP = 2, 6


def _network(depth: int) -> tuple[nn.Module, optim.SGD, cr.Tensor, np.ndarray]:
    """`depth` x (Linear(8, 8) + ReLU), then Linear(8, 3), float32 in one flat buffer, plain
    SGD, and a batch of 5 with class targets: the benchmark's W4 in miniature."""
    rng = np.random.default_rng(0)
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Linear(8, 8, rng=rng), nn.ReLU()]
    model = nn.Sequential(*layers, nn.Linear(8, 3, rng=rng))
    model.flatten_parameters()
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    x = cr.tensor(rng.standard_normal((5, 8), dtype=np.float32))
    return model, optimizer, x, rng.integers(0, 3, size=5)


def _per_layer(calls_of: Callable[[int], int]) -> float:
    return (calls_of(DEEP) - calls_of(SHALLOW)) / (DEEP - SHALLOW)


def _replay_calls(depth: int) -> int:
    model, optimizer, x, targets = _network(depth)
    loss_fn = nn.CrossEntropyLoss()

    @cr.compile
    def train_step(inputs: cr.Tensor, labels: np.ndarray) -> cr.Tensor:
        optimizer.zero_grad()
        loss: cr.Tensor = loss_fn(model(inputs), labels)
        loss.backward()
        optimizer.step()
        return loss

    train_step(x, targets)  # traced
    train_step(x, targets)  # traced again, to verify the first trace
    train_step(x, targets)  # the first replay makes the `.grad` Tensors later ones reuse
    return python_calls(lambda: train_step(x, targets))


def test_compiled_replay_makes_at_most_3_python_calls_per_dense_layer() -> None:
    # Per layer: the fused linear + relu forward (1: its kernels inlined) and the linear and
    # relu vjp calls (2: inlined too); the `.grad` Tensors are the previous replay's, the
    # leaves are read from their field, and the optimizer step makes no call per parameter.
    # Before: 5 (two new `.grad` Tensors per layer at every replay); 25
    # (leaves read through `.data`, kernels through forward_into/vjp_into/product_into,
    # `.grad` through from_numpy, the step's membership check through `.data` and its
    # version bumps through increment_version); 33 before `.grad` was cleared and set
    # through its slot.
    assert _per_layer(_replay_calls) <= 3


def test_compiled_replay_of_a_two_layer_network_makes_at_most_40_python_calls() -> None:
    # The fixed part too: plain SGD's update is made inside the replayed backward, and the
    # step's replay keeps only its bookkeeping (`FusedUpdate.finish`), not `step()`'s group
    # checks, flat-span search, state gather/scatter and version loop. Measured: 39 (before:
    # 47).
    assert _replay_calls(SHALLOW) <= 40


def _flat_step_calls(depth: int) -> int:
    model, optimizer, x, targets = _network(depth)
    nn.CrossEntropyLoss()(model(x), targets).backward()
    optimizer.step()  # the flat state is built on the first step
    optimizer.zero_grad()
    nn.CrossEntropyLoss()(model(x), targets).backward()
    return python_calls(optimizer.step)


def test_flat_sgd_step_makes_no_python_call_per_parameter() -> None:
    # The arithmetic is one call over the whole buffer; the membership check reads each
    # parameter's `.data` and `.grad` from their slots, and the version bumps go through the
    # counters the flat span keeps. Before: four per parameter (five with `.grad` through
    # its getter).
    assert _per_layer(_flat_step_calls) == 0


def test_flat_sgd_step_of_six_parameters_makes_at_most_11_python_calls_in_all() -> None:
    # The fixed part too: no no_grad() context around the flat update (it records nothing),
    # no rebuilding of the (empty) state views of plain SGD, one `.data` read per work
    # array lookup, no record_effect call when no step is traced. Before: 12, 36 (44, 50
    # before the membership check read `.grad`'s slot).
    assert _flat_step_calls(SHALLOW) <= 11


def _eager_calls(depth: int) -> int:
    model, optimizer, x, targets = _network(depth)
    loss_fn = nn.CrossEntropyLoss()
    loss_fn(model(x), targets).backward()
    optimizer.zero_grad()  # as in a training loop's later steps
    # A flat buffer an earlier test left to the cycle collector keeps its slots registered
    # until collected, and sends every dense node through the slot check: collect it first.
    gc.collect()
    return python_calls(lambda: loss_fn(model(x), targets).backward())


def test_eager_forward_and_backward_make_at_most_15_python_calls_per_dense_layer() -> None:
    # Two recorded ops per layer (linear, relu), each through its module's forward (called
    # directly by Sequential), Tensor.apply_tensors and a Node, then run by its rule, and two
    # `.grad` wrapped; the schedule reads each node's producers in C, the slot hand-out is
    # inline, and the dense layer's rules compute their products inline. Measured: 15.
    # Before: 27 (a module call, Tensor.apply, the schedule's producer list and the slot
    # hand-out per op, a product helper per rule and `.shape` in nn.Linear); 83 (the sweep
    # called three functions per node and read version/grad_fn/data through properties, a
    # call per parent; dtype promotion was a call and two comprehensions per op;
    # Tensor.apply made a generator; ReLU looked up its namespace; a `.grad` went through
    # from_numpy's checks); 111 before that.
    assert _per_layer(_eager_calls) <= 15


def test_eager_forward_and_backward_of_a_two_layer_network_make_at_most_63_calls() -> None:
    # The fixed part too: cross-entropy's target checks reduce in C (ndarray.min/max are
    # Python wrappers) and it reads the logits' shape in C, its fused rule returns a 0-d
    # array, backward's seed is made without np.ones's Python wrapper, and the sweep finds
    # its order as it goes (the recording order reversed) instead of walking the graph with
    # `schedule` first. Measured: 63 (before: 65, 75 with the per-layer savings, 107, 284
    # before that).
    assert _eager_calls(SHALLOW) <= 63


def test_flat_sgd_step_updates_a_parameter_whose_grad_left_the_buffer_on_its_own() -> None:
    # The cheaper membership check must keep every case it had: a `.grad` replaced by an
    # array of its own is stepped per parameter, with the same result.
    model, optimizer, x, targets = _network(SHALLOW)
    nn.CrossEntropyLoss()(model(x), targets).backward()
    first = next(iter(model.parameters()))
    assert first.grad is not None
    own_grad = first.grad.data.copy()
    first.grad = cr.Tensor.from_numpy(own_grad)
    before = first.data.copy()
    optimizer.step()
    np.testing.assert_array_equal(first.data, before - np.float32(0.1) * own_grad)


@pytest.mark.parametrize(
    "input_dtype",
    [
        pytest.param(np.float32, id="planned-backward"),
        pytest.param(np.float64, id="generic-sweep"),  # float32 weights: no kernels
    ],
)
def test_a_cached_replay_inside_another_trace_still_refuses_its_grad_assignments(
    input_dtype: Any,
) -> None:
    # A replay sets `.grad` directly only when no tracer watches; inside another step's trace
    # its assignments still reach that tracer, which refuses them as before.
    model, optimizer, x, targets = _network(SHALLOW)
    x = cr.tensor(x.data.astype(input_dtype))
    loss_fn = nn.CrossEntropyLoss()

    @cr.compile
    def inner(inputs: cr.Tensor, labels: np.ndarray) -> cr.Tensor:
        optimizer.zero_grad()
        loss: cr.Tensor = loss_fn(model(inputs), labels)
        loss.backward()
        optimizer.step()
        return loss

    inner(x, targets)
    inner(x, targets)  # the verification trace: the next call replays

    @cr.compile
    def outer(inputs: cr.Tensor, labels: np.ndarray) -> cr.Tensor:
        doubled: cr.Tensor = inner(inputs, labels) * 2
        return doubled

    with pytest.raises(CompileError, match=r"\.grad"):
        outer(x, targets)


def _argument_check_calls(count: int) -> int:
    from chainrule.compiler.compiled import _argument_arrays

    rng = np.random.default_rng(0)
    arguments = tuple(cr.tensor(rng.standard_normal((5, 8))) for _ in range(count))
    return python_calls(lambda: _argument_arrays(arguments))


def test_a_compiled_calls_argument_signature_makes_no_python_call_per_tensor_argument() -> None:
    # Each call of a compiled step reads its arguments' arrays and signature: `.data` is read
    # from its field, the dtype kept as it is (hashable). Before: one call per Tensor
    # argument (the `.data` property).
    assert (_argument_check_calls(DEEP) - _argument_check_calls(SHALLOW)) == 0
