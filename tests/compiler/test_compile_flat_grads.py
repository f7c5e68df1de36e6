"""A compiled replay writes parameter gradients into the flat gradient buffer, reuses its own
gradient buffers (in place where one reader allows it) and stays bit-identical to eager."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import functional as F
from chainrule import optim
from chainrule.graph import grad_slot
from chainrule.nn.flat import flatten_parameters
from chainrule.tensor import Tensor

Params = dict[str, Tensor]
Forward = Callable[[Params, Tensor], Tensor]


def _params(rng: np.random.Generator, shapes: dict[str, tuple[int, ...]], dtype: Any) -> Params:
    return {
        name: cr.tensor(rng.standard_normal(shape).astype(dtype) * 0.5, requires_grad=True)
        for name, shape in shapes.items()
    }


def _tied(params: Params, x: Tensor) -> Tensor:
    """One square layer applied twice (its weight and bias read twice, by the fused linear
    kernel), then a head read through matmul and a broadcast add (rules without kernels)."""
    hidden = F.linear(x, params["w"], params["b"]).relu()
    hidden = F.linear(hidden, params["w"], params["b"]).relu()
    return hidden @ params["head"] + params["head_bias"]


def _residual(params: Params, x: Tensor) -> Tensor:
    """a = relu(x W1 + b1); r = relu(a W2 + b2 + a): the gradient of `a` has two readers,
    so neither may be written over the other's grad_out."""
    a = F.linear(x, params["w1"], params["b1"]).relu()
    r = (F.linear(a, params["w2"], params["b2"]) + a).relu()
    return F.linear(r, params["head"], params["head_bias"])


TIED = {"w": (6, 6), "b": (6,), "head": (6, 3), "head_bias": (3,)}
RESIDUAL = {"w1": (6, 8), "b1": (8,), "w2": (8, 8), "b2": (8,), "head": (8, 3), "head_bias": (3,)}


def _train_both(
    forward: Forward, shapes: dict[str, tuple[int, ...]], steps: int = 5
) -> tuple[Params, Params, list[float], list[float]]:
    """The same classifier trained eagerly (parameters on their own) and compiled (parameters
    in a flat buffer), float64, SGD with momentum; returns both parameter sets and losses."""
    rng = np.random.default_rng(3)
    batches = [(rng.standard_normal((5, 6)), rng.integers(0, 3, 5)) for _ in range(steps)]
    eager_params = _params(np.random.default_rng(11), shapes, np.float64)
    compiled_params = _params(np.random.default_rng(11), shapes, np.float64)
    flatten_parameters(compiled_params.values())
    results = []
    for params, compiled in ((eager_params, False), (compiled_params, True)):
        optimizer = optim.SGD(list(params.values()), lr=0.1, momentum=0.9)

        def step(x: np.ndarray, y: np.ndarray, params: Params = params, opt: Any = optimizer):
            opt.zero_grad()
            loss = F.cross_entropy(forward(params, Tensor(x)), y)
            loss.backward()
            opt.step()
            return loss

        run = cr.compile(step) if compiled else step
        results.append([run(x, y).item() for x, y in batches])
    return eager_params, compiled_params, results[0], results[1]


def _assert_same_params_and_grads(eager: Params, compiled: Params) -> None:
    for name, expected in eager.items():
        got = compiled[name]
        assert got.shape == expected.shape
        assert np.array_equal(got.data, expected.data), name
        assert got.grad is not None
        assert expected.grad is not None
        assert np.array_equal(got.grad.data, expected.grad.data), name


def test_parameter_read_twice_accumulates_in_its_flat_slice_bit_identically_to_eager() -> None:
    eager, compiled, eager_losses, compiled_losses = _train_both(_tied, TIED)
    assert compiled_losses == eager_losses
    _assert_same_params_and_grads(eager, compiled)


def test_gradient_read_twice_through_a_skip_connection_is_not_overwritten_in_place() -> None:
    eager, compiled, eager_losses, compiled_losses = _train_both(_residual, RESIDUAL)
    assert compiled_losses == eager_losses
    _assert_same_params_and_grads(eager, compiled)


def test_replays_write_each_parameter_gradient_into_the_same_slice_of_the_flat_buffer() -> None:
    params = _params(np.random.default_rng(0), RESIDUAL, np.float32)
    (buffer,) = flatten_parameters(params.values())
    flat_grad = buffer.grad
    optimizer = optim.SGD(list(params.values()), lr=0.1)
    slices = {name: grad_slot(param) for name, param in params.items()}

    @cr.compile
    def step(x: np.ndarray, y: np.ndarray) -> Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(_residual(params, Tensor(x)), y)
        loss.backward()
        optimizer.step()
        return loss

    x, y = np.ones((4, 6), np.float32), np.array([0, 1, 2, 0])
    for _ in range(4):
        step(x, y)
        assert buffer.grad is flat_grad
        for name, param in params.items():
            assert param.grad is not None
            assert param.grad.data is slices[name], name
    assert step.trace_count == 1


def test_gradient_already_held_is_added_to_as_eager_does() -> None:
    """With `.grad` kept (zero_grad(set_to_none=False)) the replay adds the step's gradient
    to it, summed in eager's order, as eager backward does."""
    rng = np.random.default_rng(5)
    batches = [(rng.standard_normal((5, 6)), rng.integers(0, 3, 5)) for _ in range(3)]
    grads = []
    for compiled in (False, True):
        params = _params(np.random.default_rng(2), TIED, np.float64)
        flatten_parameters(params.values())
        optimizer = optim.SGD(list(params.values()), lr=0.1)

        def step(x: np.ndarray, y: np.ndarray, params: Params = params, opt: Any = optimizer):
            loss = F.cross_entropy(_tied(params, Tensor(x)), y)
            loss.backward()
            opt.step()
            return loss

        run = cr.compile(step) if compiled else step
        for x, y in batches:
            run(x, y)
        grads.append({name: param.grad.data.copy() for name, param in params.items()})
    for name, expected in grads[0].items():
        assert np.array_equal(grads[1][name], expected), name


@pytest.mark.parametrize("rows", [4000])
def test_compiled_w1_like_step_allocates_no_large_array_per_replay(rows: int) -> None:
    """The tutorial's workload shape (rows x 784 -> 50 -> 1, MSE, SGD) at fewer rows: after
    the first replays every activation, mask and gradient lives in a reused buffer or the
    flat gradient buffer, so ten replays allocate less than one (rows, 50) boolean mask,
    which the old replay allocated on every step (with its weight gradients)."""
    rng = np.random.default_rng(1)
    x = rng.random((rows, 784), dtype=np.float32)
    y = rng.standard_normal((rows, 1), dtype=np.float32)
    params = {
        "w1": cr.tensor(
            rng.standard_normal((784, 50), dtype=np.float32) * 0.05, requires_grad=True
        ),
        "b1": cr.tensor(np.zeros(50, np.float32), requires_grad=True),
        "w2": cr.tensor(rng.standard_normal((50, 1), dtype=np.float32) * 0.2, requires_grad=True),
        "b2": cr.tensor(np.zeros(1, np.float32), requires_grad=True),
    }
    flatten_parameters(params.values())
    optimizer = optim.SGD(list(params.values()), lr=0.01)

    @cr.compile
    def step(inputs: np.ndarray, targets: np.ndarray) -> Tensor:
        optimizer.zero_grad()
        hidden = F.linear(inputs, params["w1"], params["b1"]).relu()
        loss = F.mse_loss(F.linear(hidden, params["w2"], params["b2"]), targets)
        loss.backward()
        optimizer.step()
        return loss

    for _ in range(3):
        step(x, y)
    tracemalloc.start()
    try:
        start, _ = tracemalloc.get_traced_memory()
        for _ in range(10):
            step(x, y)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    mask_bytes = rows * 50
    assert peak - start < mask_bytes // 2


def test_tied_weight_gradients_of_replays_match_pytorch(torch: Any) -> None:
    """Ported from PyTorch's test_autograd accumulate-grad cases (a leaf read twice in one
    graph sums both contributions; a second backward without zeroing adds to `.grad`),
    here on replays with the leaf in a flat buffer, checked against PyTorch."""
    rng = np.random.default_rng(4)
    x, targets = rng.standard_normal((5, 6)), rng.integers(0, 3, 5)
    params = _params(np.random.default_rng(9), TIED, np.float64)
    flatten_parameters(params.values())

    @cr.compile
    def backward_only(inputs: np.ndarray, labels: np.ndarray) -> Tensor:
        loss = F.cross_entropy(_tied(params, Tensor(inputs)), labels)
        loss.backward()
        return loss

    backward_only(x, targets)
    backward_only(x, targets)  # a replay: adds the same gradient again
    reference = {
        name: torch.tensor(param.data, requires_grad=True) for name, param in params.items()
    }
    inputs = torch.tensor(x)
    for _ in range(2):
        hidden = torch.relu(inputs @ reference["w"] + reference["b"])
        hidden = torch.relu(hidden @ reference["w"] + reference["b"])
        logits = hidden @ reference["head"] + reference["head_bias"]
        torch.nn.functional.cross_entropy(logits, torch.tensor(targets)).backward()
    for name, param in params.items():
        assert param.grad is not None
        expected = reference[name].grad.numpy()
        assert param.grad.shape == expected.shape
        np.testing.assert_allclose(param.grad.data, expected, rtol=1e-12, atol=1e-15)
