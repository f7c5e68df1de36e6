"""binary_cross_entropy at and near p = 0 and 1, against torch 2.13: its value, its gradient
with respect to p (PyTorch's w (p - t) / max(p (1 - p), 1e-12), which points at the target
where the floored logarithms are flat: it used to be the floored value's slope there, +0.5
at p = 0 for t = 0.5, and up to 1e32 times too small between e^-100 and 1e-12), and its
gradient with respect to t (the derivative of the floored value; PyTorch's skips the floors
and agrees wherever both logarithms are above -100). Then second derivatives and compiled
replays (NumPy and XLA), which must repeat the check of p's range."""

from __future__ import annotations

import importlib.util
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import functional as F
from chainrule.compiler import compile
from chainrule.graph import gradients

pytestmark = pytest.mark.torch

POINTS = (0.0, 1e-300, 1e-50, 1e-13, 1e-6, 0.5, 1 - 1e-13, 1.0)
TARGETS = (0.0, 0.3, 1.0)
REDUCTIONS = ("none", "sum", "mean")
TOLERANCES = {np.float64: 1e-12, np.float32: 2e-6}
NEEDS_JAX = pytest.mark.skipif(
    importlib.util.find_spec("jax") is None, reason="backend='xla' needs jax"
)


def _grid(dtype: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every point with every target, (len(POINTS), len(TARGETS)), and a weight of that
    shape, in `dtype` (float32 rounds 1e-300, 1e-50 to 0 and 1 - 1e-13 to 1)."""
    p, t = np.meshgrid(np.array(POINTS), np.array(TARGETS), indexing="ij")
    weight = np.linspace(0.5, 2.0, p.size).reshape(p.shape)
    return p.astype(dtype), t.astype(dtype), weight.astype(dtype)


def _close(ours: np.ndarray, theirs: np.ndarray, dtype: Any) -> None:
    assert ours.shape == theirs.shape
    assert ours.dtype == dtype
    np.testing.assert_allclose(ours, theirs, rtol=TOLERANCES[dtype], atol=0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_value_and_gradients_match_torch_at_and_near_0_and_1(
    torch: ModuleType, dtype: Any, reduction: str, weighted: bool
) -> None:
    p, t, w = _grid(dtype)
    weight = w if weighted else None
    mine_p, mine_t = cr.tensor(p, requires_grad=True), cr.tensor(t, requires_grad=True)
    loss = F.binary_cross_entropy(mine_p, mine_t, weight, reduction=reduction)
    their_p = torch.tensor(p, requires_grad=True)
    their_t = torch.tensor(t, requires_grad=True)
    expected = torch.nn.functional.binary_cross_entropy(
        their_p, their_t, None if weight is None else torch.tensor(weight), reduction=reduction
    )
    _close(loss.numpy(), expected.detach().numpy(), dtype)
    cotangent = np.linspace(-1.5, 2.0, loss.size).reshape(loss.shape).astype(dtype)
    loss.backward(cr.tensor(cotangent))
    expected.backward(torch.tensor(cotangent))
    assert mine_p.grad is not None
    assert mine_t.grad is not None
    _close(mine_p.grad.numpy(), their_p.grad.numpy(), dtype)
    # dL/dt: torch's -logit(p) wherever both logarithms are above the floor; where one is
    # floored (p = 0 or 1, or p < e^-100) the floored value's derivative, which is finite.
    unfloored = (p > np.exp(-100.0)) & (1 - p.astype(np.float64) > np.exp(-100.0))
    _close(mine_t.grad.numpy()[unfloored], their_t.grad.numpy()[unfloored], dtype)
    scale = (cotangent if reduction == "none" else cotangent * np.ones_like(p)) / (
        p.size if reduction == "mean" else 1
    )
    scale = scale * (1 if weight is None else weight)
    with np.errstate(divide="ignore"):
        floored = np.maximum(np.log1p(-p), -100.0) - np.maximum(np.log(p), -100.0)
    _close(mine_t.grad.numpy()[~unfloored], (scale * floored)[~unfloored].astype(dtype), dtype)


def test_the_gradient_at_0_points_at_the_target_as_torch(torch: ModuleType) -> None:
    # The reviewer's case: p = 0, t = 0.5; the floored value's slope was +0.5 (away).
    p = cr.tensor(np.array([0.0, 1.0]), requires_grad=True)
    F.binary_cross_entropy(p, np.array([0.5, 0.5]), reduction="sum").backward()
    assert p.grad is not None
    eps = float(np.float32(1e-12))
    np.testing.assert_allclose(p.grad.numpy(), [-0.5 / eps, 0.5 / eps], rtol=1e-15)


def test_the_target_gradient_is_the_derivative_of_the_value_everywhere() -> None:
    # The loss is linear in t, so a central difference is exact up to rounding, floors too.
    p = np.array(POINTS)
    t = np.linspace(0.1, 0.9, p.size)
    mine = cr.tensor(t, requires_grad=True)
    F.binary_cross_entropy(p, mine, reduction="sum").backward()
    step = 1e-3
    numeric = [
        (
            F.binary_cross_entropy(p, t + step * np.eye(p.size)[i], reduction="sum").item()
            - F.binary_cross_entropy(p, t - step * np.eye(p.size)[i], reduction="sum").item()
        )
        / (2 * step)
        for i in range(p.size)
    ]
    assert mine.grad is not None
    np.testing.assert_allclose(mine.grad.numpy(), numeric, rtol=1e-9, atol=1e-9)


def test_second_derivatives_match_torch_away_from_the_floor(torch: ModuleType) -> None:
    rng = np.random.default_rng(5)
    p, t = rng.uniform(0.02, 0.98, 6), rng.uniform(0, 1, 6)
    mine = [cr.tensor(p, requires_grad=True), cr.tensor(t, requires_grad=True)]
    theirs = [torch.tensor(p, requires_grad=True), torch.tensor(t, requires_grad=True)]
    cotangent = rng.uniform(0.5, 1.5, 6)
    loss = F.binary_cross_entropy(*mine, reduction="sum")
    first = gradients(loss, np.ones(()), mine, retain_graph=True, create_graph=True)
    inner = sum((g * c).sum() for g, c in zip(first, [cotangent, cotangent[::-1]], strict=True))
    second = gradients(inner, np.ones(()), mine, retain_graph=False, create_graph=False)
    expected_loss = torch.nn.functional.binary_cross_entropy(*theirs, reduction="sum")
    their_first = torch.autograd.grad(expected_loss, theirs, create_graph=True)
    their_inner = sum(
        (g * torch.tensor(c)).sum()
        for g, c in zip(their_first, [cotangent, cotangent[::-1].copy()], strict=True)
    )
    their_second = torch.autograd.grad(their_inner, theirs)
    for ours, expected in zip(second, their_second, strict=True):
        # torch's double backward divides by (p + 1e-12)^2 (1 - p + 1e-12)^2.
        np.testing.assert_allclose(np.asarray(ours), expected.numpy(), rtol=1e-9)


def test_second_derivatives_are_finite_at_0_and_1() -> None:
    p = cr.tensor(np.array([0.0, 1e-300, 1.0]), requires_grad=True)
    loss = F.binary_cross_entropy(p, np.array([0.5, 0.5, 0.5]), reduction="sum")
    (first,) = gradients(loss, np.ones(()), [p], retain_graph=True, create_graph=True)
    (second,) = gradients(first.sum(), np.ones(()), [p], retain_graph=False, create_graph=False)
    eps = float(np.float32(1e-12))
    # Where p (1 - p) is floored the gradient is (p - t) / eps, whose derivative is 1 / eps.
    np.testing.assert_allclose(np.asarray(second), np.full(3, 1 / eps), rtol=1e-15)


def _compiled_step(backend: str) -> tuple[Any, cr.Tensor]:
    if backend == "xla":
        from chainrule.compiler.xla import enable_float64

        enable_float64()
    logits = cr.tensor(np.zeros(4), requires_grad=True)
    optimizer = cr.optim.SGD([logits], lr=0.0)

    def step(p: np.ndarray, t: np.ndarray) -> cr.Tensor:
        optimizer.zero_grad()
        mine = logits + cr.tensor(p)
        loss = F.binary_cross_entropy(mine, t, reduction="sum")
        loss.backward()
        optimizer.step()
        return loss

    return compile(step, backend=backend), logits


@pytest.mark.parametrize("backend", ["numpy", pytest.param("xla", marks=NEEDS_JAX)])
def test_a_compiled_step_takes_torchs_gradient_at_0_and_1(torch: ModuleType, backend: str) -> None:
    run, logits = _compiled_step(backend)
    t = np.array([0.5, 0.3, 1.0, 0.0])
    for p in (np.full(4, 0.5), np.array([0.2, 0.4, 0.6, 0.8]), np.array([0.0, 1.0, 1e-13, 0.5])):
        loss = run(p, t)
        their_p = torch.tensor(p, requires_grad=True)
        expected = torch.nn.functional.binary_cross_entropy(
            their_p, torch.tensor(t), reduction="sum"
        )
        expected.backward()
        np.testing.assert_allclose(float(loss.item()), expected.item(), rtol=1e-12)
        assert logits.grad is not None
        np.testing.assert_allclose(logits.grad.numpy(), their_p.grad.numpy(), rtol=1e-12)


def test_a_numpy_replay_checks_the_range_of_each_new_batch() -> None:
    run, _ = _compiled_step("numpy")
    t = np.full(4, 0.5)
    for p in (np.full(4, 0.5), np.full(4, 0.25), np.full(4, 0.75)):  # trace, verify, replay
        run(p, t)
    with pytest.raises(ValueError, match=r"binary_cross_entropy: input must hold probabilities"):
        run(np.array([0.5, 1.5, 0.5, 0.5]), t)
    with pytest.raises(ValueError, match=r"from -0.25 to 0.5"):
        run(np.array([0.5, -0.25, 0.5, 0.5]), t)


@NEEDS_JAX
def test_an_xla_replay_makes_the_loss_of_a_probability_outside_0_1_nan() -> None:
    run, _ = _compiled_step("xla")
    t = np.full(4, 0.5)
    for p in (np.full(4, 0.5), np.full(4, 0.25), np.full(4, 0.75)):
        assert np.isfinite(run(p, t).item())
    assert np.isnan(run(np.array([0.5, 1.5, 0.5, 0.5]), t).item())
    assert np.isnan(run(np.array([0.5, -0.25, 0.5, 0.5]), t).item())
