"""The compiled replay's inlined kernels (dense layers forward and backward, ReLU, the
cross-entropy forward, the flat optimizer step) compute eager's NumPy calls, bit for bit,
on every shape that changes which call they make."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import functional as F
from chainrule import nn, optim


def _model(widths: list[int], dtype: Any) -> nn.Module:
    rng = np.random.default_rng(5)
    layers: list[nn.Module] = []
    for index, (fan_in, fan_out) in enumerate(itertools.pairwise(widths)):
        layers.append(nn.Linear(fan_in, fan_out, rng=rng, dtype=dtype))
        if index < len(widths) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _train(
    widths: list[int],
    batches: list[tuple[np.ndarray, np.ndarray]],
    loss_fn: Callable[[cr.Tensor, Any], cr.Tensor],
    make_optimizer: Callable[[Any], optim.Optimizer],
    compiled: bool,
) -> tuple[list[float], list[np.ndarray], list[np.ndarray]]:
    """Losses, then parameters and gradients after the last step; the compiled run has its
    parameters in a flat buffer, so its replay takes the planned backward and flat step."""
    model = _model(widths, batches[0][0].dtype)
    if compiled:
        model.flatten_parameters()
    optimizer = make_optimizer(model.parameters())

    def step(x: np.ndarray, y: Any) -> cr.Tensor:
        optimizer.zero_grad()
        loss = loss_fn(model(cr.tensor(x)), y)
        loss.backward()
        optimizer.step()
        return loss

    run = cr.compile(step) if compiled else step
    losses = [run(x, y).item() for x, y in batches]
    params = list(model.parameters())
    grads = []
    for param in params:
        assert param.grad is not None
        grads.append(param.grad.numpy().copy())
    return losses, [param.numpy().copy() for param in params], grads


def _assert_replay_equals_eager(
    widths: list[int],
    batches: list[tuple[np.ndarray, np.ndarray]],
    loss_fn: Callable[[cr.Tensor, Any], cr.Tensor],
    make_optimizer: Callable[[Any], optim.Optimizer] = lambda p: optim.SGD(p, lr=0.1),
) -> None:
    eager = _train(widths, batches, loss_fn, make_optimizer, compiled=False)
    replayed = _train(widths, batches, loss_fn, make_optimizer, compiled=True)
    assert replayed[0] == eager[0]
    for got_list, expected_list in zip(replayed[1:], eager[1:], strict=True):
        for got, expected in zip(got_list, expected_list, strict=True):
            assert got.shape == expected.shape
            assert got.dtype == expected.dtype
            assert np.array_equal(got, expected)


def _class_batches(rows: int, features: int, classes: int, dtype: Any) -> list[Any]:
    rng = np.random.default_rng(2)
    return [
        (rng.standard_normal((rows, features)).astype(dtype), rng.integers(0, classes, rows))
        for _ in range(4)
    ]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    ("rows", "widths"),
    [
        pytest.param(1, [4, 5, 5, 3], id="one-row-outer-product-weight-gradients"),
        pytest.param(6, [1, 5, 5, 3], id="one-input-feature-outer-product-forward"),
        pytest.param(6, [4, 7, 5, 3], id="matrix-products"),
    ],
)
def test_dense_layer_replay_equals_eager_bit_for_bit(
    rows: int, widths: list[int], dtype: Any
) -> None:
    _assert_replay_equals_eager(
        widths, _class_batches(rows, widths[0], widths[-1], dtype), F.cross_entropy
    )


def test_dense_layer_with_one_output_replays_its_outer_product_gradient_exactly() -> None:
    rng = np.random.default_rng(4)
    batches = [(rng.standard_normal((6, 4)), rng.standard_normal((6, 1))) for _ in range(4)]
    _assert_replay_equals_eager([4, 5, 1], batches, F.mse_loss)


@pytest.mark.parametrize("bad_target", [3, -1])
def test_cross_entropy_replay_refuses_a_target_outside_the_classes(bad_target: int) -> None:
    # The replay's cross-entropy kernel checks each call's targets as the rule does.
    model = _model([4, 5, 3], np.float32)
    loss_fn = nn.CrossEntropyLoss()
    compiled = cr.compile(lambda x, y: loss_fn(model(cr.tensor(x)), y))
    x = np.random.default_rng(0).standard_normal((4, 4)).astype(np.float32)
    compiled(x, np.array([0, 1, 2, 0]))
    compiled(x, np.array([0, 1, 2, 0]))  # replayed
    with pytest.raises(ValueError, match=rf"target {bad_target} is outside the 3 classes"):
        compiled(x, np.array([0, 1, bad_target, 0]))
