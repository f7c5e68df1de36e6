"""chainrule.compile replays a traced step with exactly eager's results."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import functional as F
from chainrule.compiler import CompileError, compile
from chainrule.modes import record_effect


class TinySGD:
    """A minimal optimizer that registers its effects the way chainrule.optim does."""

    def __init__(self, params: list[cr.Tensor], lr: float) -> None:
        self.params, self.lr = params, lr

    def zero_grad(self) -> None:
        record_effect(self.zero_grad)
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        record_effect(self.step)
        for p in self.params:
            assert p.grad is not None
            p.data -= self.lr * p.grad.data


def _mlp(rng: np.random.Generator, sizes: list[int], dtype: Any) -> list[cr.Tensor]:
    params = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        weight = rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in)
        params.append(cr.tensor(weight.astype(dtype), requires_grad=True))
        params.append(cr.tensor(np.zeros(fan_out, dtype), requires_grad=True))
    return params


def _forward(params: list[cr.Tensor], x: Any) -> cr.Tensor:
    h = cr.tensor(x) if not isinstance(x, cr.Tensor) else x
    for i in range(0, len(params), 2):
        h = h @ params[i] + params[i + 1]
        if i + 2 < len(params):
            h = h.relu()
    return h


def _classifier_step(params: list[cr.Tensor], optimizer: TinySGD) -> Callable[..., cr.Tensor]:
    def step(x: np.ndarray, targets: np.ndarray) -> cr.Tensor:
        loss = F.cross_entropy(_forward(params, x), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss

    return step


def _regression_step(params: list[cr.Tensor], optimizer: TinySGD) -> Callable[..., cr.Tensor]:
    def step(x: np.ndarray, y: np.ndarray) -> cr.Tensor:
        pred = _forward(params, x)
        loss = F.mse_loss(pred.tanh() * 2.0 + pred.sigmoid(), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss

    return step


def _run_both(
    make_step: Callable[..., Callable[..., cr.Tensor]],
    sizes: list[int],
    batches: list[tuple[np.ndarray, np.ndarray]],
    dtype: Any,
) -> tuple[list[float], list[float], list[np.ndarray], list[np.ndarray]]:
    results = []
    for compiled in (False, True):
        params = _mlp(np.random.default_rng(7), sizes, dtype)
        step = make_step(params, TinySGD(params, lr=0.1))
        run = compile(step) if compiled else step
        losses = [run(x, y).item() for x, y in batches]
        results.append((losses, [p.data.copy() for p in params]))
    (eager_losses, eager_params), (compiled_losses, compiled_params) = results
    return eager_losses, compiled_losses, eager_params, compiled_params


@pytest.mark.parametrize("sizes", [[6, 10, 4], [6, 12, 12, 3]])
def test_compiled_classifier_equals_eager_bit_for_bit_in_float64(
    rng: np.random.Generator, sizes: list[int]
) -> None:
    batches = [(rng.standard_normal((5, 6)), rng.integers(0, sizes[-1], 5)) for _ in range(6)]
    eager, compiled, eager_params, compiled_params = _run_both(
        _classifier_step, sizes, batches, np.float64
    )
    assert compiled == eager
    for got, expected in zip(compiled_params, eager_params, strict=True):
        assert got.shape == expected.shape
        assert np.array_equal(got, expected)


def test_compiled_regression_with_several_activations_equals_eager(
    rng: np.random.Generator,
) -> None:
    batches = [(rng.standard_normal((4, 3)), rng.standard_normal((4, 2))) for _ in range(5)]
    eager, compiled, eager_params, compiled_params = _run_both(
        _regression_step, [3, 7, 2], batches, np.float64
    )
    assert compiled == eager
    for got, expected in zip(compiled_params, eager_params, strict=True):
        assert np.array_equal(got, expected)


def test_compiled_float32_matches_eager_to_float32_rounding(rng: np.random.Generator) -> None:
    batches = [
        (rng.standard_normal((8, 6)).astype(np.float32), rng.integers(0, 4, 8)) for _ in range(4)
    ]
    eager, compiled, eager_params, compiled_params = _run_both(
        _classifier_step, [6, 16, 4], batches, np.float32
    )
    np.testing.assert_allclose(compiled, eager, rtol=1e-6)
    for got, expected in zip(compiled_params, eager_params, strict=True):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_new_batch_size_retraces_and_stays_exact(rng: np.random.Generator) -> None:
    batches = [(rng.standard_normal((n, 6)), rng.integers(0, 4, n)) for n in (5, 5, 3, 3, 5, 3)]
    eager, compiled, _, _ = _run_both(_classifier_step, [6, 8, 4], batches, np.float64)
    assert compiled == eager
    params = _mlp(np.random.default_rng(7), [6, 8, 4], np.float64)
    step = compile(_classifier_step(params, TinySGD(params, lr=0.1)))
    for x, y in batches:
        step(x, y)
    assert step.trace_count == 2


def test_returned_values_do_not_change_on_later_steps(rng: np.random.Generator) -> None:
    params = _mlp(np.random.default_rng(7), [6, 8, 4], np.float64)
    step = compile(_classifier_step(params, TinySGD(params, lr=0.5)))
    x, y = rng.standard_normal((5, 6)), rng.integers(0, 4, 5)
    step(x, y)
    second = step(x, y)
    kept = second.item()
    step(rng.standard_normal((5, 6)), rng.integers(0, 4, 5))
    assert second.item() == kept


def test_gradients_do_not_leak_between_replays(rng: np.random.Generator) -> None:
    params = _mlp(np.random.default_rng(7), [6, 8, 4], np.float64)
    optimizer = TinySGD(params, lr=0.0)

    def step(x: np.ndarray, y: np.ndarray) -> cr.Tensor:
        loss = F.cross_entropy(_forward(params, x), y)
        optimizer.zero_grad()
        loss.backward()
        return loss

    compiled = compile(step)
    x, y = rng.standard_normal((5, 6)), rng.integers(0, 4, 5)
    for _ in range(3):
        compiled(x, y)
    replayed = [p.grad.numpy().copy() for p in params if p.grad is not None]
    step(x, y)
    eager = [p.grad.numpy() for p in params if p.grad is not None]
    assert len(replayed) == len(eager) == len(params)
    for got, expected in zip(replayed, eager, strict=True):
        assert np.array_equal(got, expected)


def test_gradients_accumulate_when_the_step_does_not_zero_them(
    rng: np.random.Generator,
) -> None:
    weight = cr.tensor(rng.standard_normal((3, 2)), requires_grad=True)

    def step(x: np.ndarray) -> cr.Tensor:
        loss = (cr.tensor(x) @ weight).sum()
        loss.backward()
        return loss

    compiled = compile(step)
    x = rng.standard_normal((4, 3))
    for _ in range(3):
        compiled(x)
    assert weight.grad is not None
    expected = 3 * np.broadcast_to(x.sum(axis=0)[:, None], (3, 2))
    np.testing.assert_allclose(weight.grad.numpy(), expected, rtol=1e-12)


def test_returning_a_python_number_is_refused(rng: np.random.Generator) -> None:
    weight = cr.tensor(rng.standard_normal(3), requires_grad=True)
    compiled = compile(lambda x: (cr.tensor(x) * weight).sum().item())
    with pytest.raises(CompileError, match="would be frozen"):
        compiled(rng.standard_normal(3))


def test_an_array_derived_from_an_argument_outside_ops_is_refused(
    rng: np.random.Generator,
) -> None:
    weight = cr.tensor(rng.standard_normal((3, 1)), requires_grad=True)

    def step(x: np.ndarray, y: np.ndarray) -> cr.Tensor:
        return F.mse_loss(cr.tensor(x) @ weight, y.astype(np.float32).astype(np.float64))

    with pytest.raises(CompileError, match="looks computed from one"):
        compile(step)(rng.standard_normal((4, 3)), rng.standard_normal((4, 1)))


def test_create_graph_inside_a_compiled_step_is_refused(rng: np.random.Generator) -> None:
    weight = cr.tensor(rng.standard_normal(3), requires_grad=True)

    def step(x: np.ndarray) -> cr.Tensor:
        loss = (cr.tensor(x) * weight).tanh().sum()
        loss.backward(create_graph=True)
        return loss

    with pytest.raises(CompileError, match="create_graph"):
        compile(step)(rng.standard_normal(3))


def _assert_nn_training_replays_exactly(
    make_model: Callable[[], cr.nn.Module],
    make_optimizer: Callable[[Any], Any],
    loss_fn: Callable[[cr.Tensor, np.ndarray], cr.Tensor],
    batches: list[tuple[np.ndarray, np.ndarray]],
) -> None:
    """Train fresh copies of a model eagerly and compiled; losses and weights must be equal."""
    histories = []
    for compiled in (False, True):
        model = make_model()
        optimizer = make_optimizer(model.parameters())

        def step(
            x: np.ndarray, y: np.ndarray, model: cr.nn.Module = model, optimizer: Any = optimizer
        ) -> cr.Tensor:
            loss = loss_fn(model(cr.tensor(x)), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            return loss

        run = compile(step) if compiled else step
        losses = [run(x, y).item() for x, y in batches]
        histories.append((losses, [p.numpy().copy() for p in model.parameters()]))
    (eager, eager_params), (replayed, replayed_params) = histories
    assert replayed == eager
    for got, expected in zip(replayed_params, eager_params, strict=True):
        assert got.dtype == expected.dtype
        assert np.array_equal(got, expected)


@pytest.mark.parametrize(
    "make_optimizer",
    [
        lambda params: cr.optim.SGD(params, lr=0.05, momentum=0.9, nesterov=True),
        lambda params: cr.optim.Adam(params, lr=1e-2),
        lambda params: cr.optim.AdamW(params, lr=1e-2, weight_decay=0.1),
    ],
    ids=["sgd-nesterov", "adam", "adamw"],
)
def test_compiled_nn_and_optim_training_equals_eager(
    rng: np.random.Generator, make_optimizer: Callable[[Any], Any]
) -> None:
    def make_model() -> cr.nn.Module:
        return cr.nn.Sequential(
            cr.nn.Linear(5, 9, rng=np.random.default_rng(3), dtype=np.float64),
            cr.nn.Tanh(),
            cr.nn.Linear(9, 3, rng=np.random.default_rng(4), dtype=np.float64),
        )

    batches = [(rng.standard_normal((6, 5)), rng.integers(0, 3, 6)) for _ in range(6)]
    _assert_nn_training_replays_exactly(make_model, make_optimizer, F.cross_entropy, batches)


def test_relu_fusion_leaves_a_pre_activation_that_is_reused_or_returned_intact(
    rng: np.random.Generator,
) -> None:
    """A ReLU is applied in place only when it is the sole reader of its input; here the
    pre-activation is also added back and returned, so it must keep its negative entries."""
    weight = cr.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    bias = cr.tensor(rng.standard_normal(3), requires_grad=True)

    def step(x: np.ndarray) -> tuple[cr.Tensor, cr.Tensor, cr.Tensor]:
        pre = functional_linear(x)
        hidden = (cr.tensor(x) @ weight).relu()
        loss = (pre.relu() * 2 + pre).sum() + hidden.sum()
        TinySGD([weight, bias], lr=0.0).zero_grad()
        loss.backward()
        return loss, pre, hidden

    def functional_linear(x: np.ndarray) -> cr.Tensor:
        return F.linear(cr.tensor(x), weight, bias)

    compiled = compile(step)
    for _ in range(3):
        x = rng.standard_normal((5, 4))
        loss, pre, hidden = compiled(x)
        assert weight.grad is not None
        replayed_grad = weight.grad.numpy().copy()
        expected_loss, expected_pre, expected_hidden = step(x)
        assert np.array_equal(pre.numpy(), expected_pre.numpy())
        assert np.any(pre.numpy() < 0)
        assert np.array_equal(hidden.numpy(), expected_hidden.numpy())
        assert loss.item() == expected_loss.item()
        assert np.array_equal(replayed_grad, weight.grad.numpy())


def test_a_returned_view_of_a_reused_buffer_keeps_its_values(rng: np.random.Generator) -> None:
    weight = cr.tensor(rng.standard_normal((4, 6)), requires_grad=True)

    def step(x: np.ndarray) -> tuple[cr.Tensor, cr.Tensor]:
        hidden = (cr.tensor(x) @ weight) * 2.0
        TinySGD([weight], lr=0.0).zero_grad()
        loss = hidden.sum()
        loss.backward()
        return loss, hidden.reshape(-1)

    compiled = compile(step)
    compiled(rng.standard_normal((3, 4)))
    _, first = compiled(rng.standard_normal((3, 4)))
    kept = first.numpy().copy()
    compiled(rng.standard_normal((3, 4)))
    assert np.array_equal(first.numpy(), kept)


def test_replays_reuse_their_buffers(rng: np.random.Generator) -> None:
    params = _mlp(np.random.default_rng(7), [6, 8, 8, 4], np.float64)
    step = compile(_classifier_step(params, TinySGD(params, lr=0.1)))
    x, y = rng.standard_normal((5, 6)), rng.integers(0, 4, 5)
    step(x, y)
    step(x, y)
    ((program, _),) = step.programs.values()
    first = {key: id(array) for key, array in program.buffers.arrays.items()}
    step(x, y)
    assert first
    assert {key: id(array) for key, array in program.buffers.arrays.items()} == first


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_compiled_tutorial_network_with_one_output_equals_eager(
    rng: np.random.Generator, dtype: Any
) -> None:
    """n_out = 1 takes the broadcast-multiply path of the products, forward and backward."""

    def make_model() -> cr.nn.Module:
        return cr.nn.Sequential(
            cr.nn.Linear(4, 6, rng=np.random.default_rng(3), dtype=dtype),
            cr.nn.ReLU(),
            cr.nn.Linear(6, 1, rng=np.random.default_rng(4), dtype=dtype),
        )

    batches = [
        (rng.standard_normal((9, 4)).astype(dtype), rng.standard_normal((9, 1)).astype(dtype))
        for _ in range(4)
    ]
    _assert_nn_training_replays_exactly(
        make_model, lambda params: cr.optim.SGD(params, lr=0.1), F.mse_loss, batches
    )


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        (lambda: cr.nn.Dropout(0.5, rng=np.random.default_rng(0)), "Dropout"),
        (lambda: cr.nn.BatchNorm1d(3, dtype=np.float64), "BatchNorm1d"),
    ],
    ids=["dropout", "batchnorm"],
)
def test_layers_with_state_outside_the_graph_refuse_to_be_traced(
    rng: np.random.Generator, layer: Callable[[], cr.nn.Module], message: str
) -> None:
    module = layer()
    weight = cr.tensor(rng.standard_normal((3, 3)), requires_grad=True)

    def step(x: np.ndarray) -> cr.Tensor:
        return module(cr.tensor(x) @ weight).sum()

    assert np.isfinite(step(rng.standard_normal((4, 3))).item())
    with pytest.raises(CompileError, match=message):
        compile(step)(rng.standard_normal((4, 3)))
