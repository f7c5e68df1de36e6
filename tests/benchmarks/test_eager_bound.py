"""benchmarks/eager_bound.py, the lean define-by-run bound, is an honest engine: its gradients
equal the hand-written floor's bit for bit, a gradient reaching a value twice is summed, the
graph is recorded anew each step (a different branch gives a different graph), and its
derivatives agree with float64 central differences and with PyTorch."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks"
sys.path.insert(0, str(BENCH))
_spec = importlib.util.spec_from_file_location("eager_bound", BENCH / "eager_bound.py")
assert _spec is not None
assert _spec.loader is not None
bound = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bound)
workloads = importlib.import_module("workloads")


@pytest.mark.parametrize("key", ["W1", "W2", "W3", "W4"])
def test_gradients_losses_and_updates_equal_the_floors(key: str) -> None:
    bound.check_against_floor(workloads.make_problem(workloads.WORKLOADS[key], quick=True))


def test_the_floor_check_fails_when_a_gradient_is_off_by_one_ulp(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The check compares bits: a bias gradient nudged by one ulp must fail it."""
    reduce = bound.np.add.reduce

    def nudged(array: np.ndarray, axis: int) -> np.ndarray:
        result: np.ndarray = reduce(array, axis)
        return np.nextafter(result, np.float32(np.inf))

    monkeypatch.setattr(bound, "np", _NumpyWithAdd(nudged))
    with pytest.raises(AssertionError):
        bound.check_against_floor(workloads.make_problem(workloads.WORKLOADS["W3"]))


class _NumpyWithAdd:
    """numpy, except that add.reduce is `reduce`."""

    def __init__(self, reduce: object) -> None:
        self.add = type("add", (), {"reduce": staticmethod(reduce)})

    def __getattr__(self, name: str) -> object:
        return getattr(np, name)


def _tied_loss(params: list[np.ndarray], x: np.ndarray, targets: np.ndarray, twice: bool) -> float:
    """Forward and backward of a net that applies (W, b) twice when `twice` (so both get two
    gradients, and so does nothing else), then a head; fills grads, returns the loss."""
    w, b, head_w, head_b = (bound.Var(p, True) for p in params)
    h = bound.relu(bound.linear(bound.Var(x), w, b))
    if twice:
        h = bound.relu(bound.linear(h, w, b))
    loss = bound.cross_entropy(bound.linear(h, head_w, head_b), targets)
    bound.backward(loss)
    for var, p in zip((w, b, head_w, head_b), params, strict=True):
        p[...] = var.grad if var.grad is not None else 0
    assert not bound.TAPE
    value: float = loss.data
    return value


def _problem(rng: np.random.Generator) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    params = [
        rng.standard_normal((4, 4)) * 0.7,
        rng.standard_normal(4) * 0.3,
        rng.standard_normal((4, 3)),
        rng.standard_normal(3) * 0.3,
    ]
    return params, rng.standard_normal((5, 4)), rng.integers(0, 3, size=5)


@pytest.mark.parametrize("twice", [True, False])
def test_a_tied_weight_gets_the_sum_of_its_gradients_as_central_differences_say(
    twice: bool,
) -> None:
    params, x, targets = _problem(np.random.default_rng(1))
    grads = [p.copy() for p in params]
    _tied_loss(grads, x, targets, twice)

    def loss_at(values: list[np.ndarray]) -> float:
        return _tied_loss([v.copy() for v in values], x, targets, twice)

    eps = 1e-6
    for index, p in enumerate(params):
        numeric = np.zeros_like(p)
        for flat in range(p.size):
            up = [q.copy() for q in params]
            down = [q.copy() for q in params]
            up[index].reshape(-1)[flat] += eps
            down[index].reshape(-1)[flat] -= eps
            numeric.reshape(-1)[flat] = (loss_at(up) - loss_at(down)) / (2 * eps)
        np.testing.assert_allclose(grads[index], numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.torch
def test_a_tied_weight_and_a_changing_graph_match_pytorch(torch: ModuleType) -> None:
    """Step 1 applies the layer twice, step 2 once: each backward follows the graph its own
    forward recorded, and the gradients match PyTorch's on the same graph."""
    params, x, targets = _problem(np.random.default_rng(2))
    for twice in (True, False, True):
        grads = [p.copy() for p in params]
        loss = _tied_loss(grads, x, targets, twice)
        w, b, head_w, head_b = (torch.tensor(p, requires_grad=True) for p in params)
        h = torch.relu(torch.tensor(x) @ w + b)
        if twice:
            h = torch.relu(h @ w + b)
        expected = torch.nn.functional.cross_entropy(h @ head_w + head_b, torch.tensor(targets))
        expected.backward()
        assert loss == pytest.approx(expected.item(), rel=1e-12)
        for got, t in zip(grads, (w, b, head_w, head_b), strict=True):
            assert got.shape == tuple(t.shape)
            np.testing.assert_allclose(got, t.grad.numpy(), rtol=1e-10, atol=1e-13)


def test_a_value_no_gradient_reaches_is_skipped_and_a_frozen_weight_gets_none() -> None:
    rng = np.random.default_rng(3)
    x = bound.Var(rng.standard_normal((5, 4)))
    frozen = bound.Var(rng.standard_normal((4, 4)))
    b = bound.Var(np.zeros(4), True)
    side = bound.relu(bound.linear(x, bound.Var(np.eye(4), True), b))  # recorded, never used
    loss = bound.mse(bound.linear(x, frozen, b), np.zeros((5, 4)))
    bound.backward(loss)
    assert frozen.grad is None
    assert side.grad is None
    # L = sum((x W + b)^2) / 20, so dL/db = 2 sum_rows(x W + b) / 20
    expected = 2 * (x.data @ frozen.data).sum(axis=0) / 20
    np.testing.assert_allclose(b.grad, expected, rtol=1e-12)
