"""Coverage sweep of the elementwise losses against torch.nn.functional in float64: values,
input gradients and target gradients for every reduction, odd shapes (0-d, N = 1, 3-D),
distances exactly at delta / beta, equal input and target (l1's sign(0) = 0), beta = 0,
binary_cross_entropy's weights and its ends (p = 0 and 1), and
binary_cross_entropy_with_logits' 0-d and 2-D pos_weight."""

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

from chainrule import Tensor
from chainrule import functional as F

REDUCTIONS = ["none", "mean", "sum"]
SHAPES = [(), (1,), (1, 1), (3, 4), (2, 3, 4)]
# (name, ours, torch's, keyword arguments)
REGRESSION: list[tuple[str, Callable[..., Tensor], Callable[..., Any], dict[str, float]]] = [
    ("mse", F.mse_loss, TF.mse_loss, {}),
    ("l1", F.l1_loss, TF.l1_loss, {}),
    *[(f"huber_d{d}", F.huber_loss, TF.huber_loss, {"delta": d}) for d in (1.0, 0.3, 4.0)],
    *[
        (f"smooth_l1_b{b}", F.smooth_l1_loss, TF.smooth_l1_loss, {"beta": b})
        for b in (1.0, 0.0, 0.3, 4.0)
    ],
]
TOLERANCE = 1e-12


def _check(
    ours: Callable[..., Tensor],
    theirs: Callable[..., Any],
    arrays: list[np.ndarray],
    reduction: str,
    seed: int = 0,
) -> None:
    """Loss value (shape, dtype, numbers) and the gradient of <upstream, loss> for each
    array, against torch."""
    mine = [Tensor(a, requires_grad=True) for a in arrays]
    reference = [torch.tensor(a, requires_grad=True) for a in arrays]
    loss = ours(*mine, reduction=reduction)
    expected = theirs(*reference, reduction=reduction)
    assert loss.shape == tuple(expected.shape)
    assert loss.numpy().dtype == expected.detach().numpy().dtype
    np.testing.assert_allclose(
        loss.numpy(), expected.detach().numpy(), rtol=TOLERANCE, atol=TOLERANCE
    )
    upstream = np.random.default_rng(seed).standard_normal(loss.shape)
    (loss * Tensor(upstream)).sum().backward()
    (expected * torch.tensor(upstream)).sum().backward()
    for tensor, torch_tensor in zip(mine, reference, strict=True):
        assert tensor.grad is not None
        assert torch_tensor.grad is not None
        np.testing.assert_allclose(
            tensor.grad.numpy(), torch_tensor.grad.numpy(), rtol=TOLERANCE, atol=TOLERANCE
        )


@pytest.mark.parametrize(
    ("ours", "theirs", "options"),
    [case[1:] for case in REGRESSION],
    ids=[case[0] for case in REGRESSION],
)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_regression_losses_match_torch(
    ours: Callable[..., Tensor],
    theirs: Callable[..., Any],
    options: dict[str, float],
    shape: tuple[int, ...],
    reduction: str,
) -> None:
    rng = np.random.default_rng(len(shape))
    x = 2 * rng.standard_normal(shape)
    y = rng.standard_normal(shape)
    if x.ndim:
        y.flat[0] = x.flat[0]  # one distance of exactly 0
    _check(
        lambda a, b, reduction: ours(a, b, reduction=reduction, **options),
        lambda a, b, reduction: theirs(a, b, reduction=reduction, **options),
        [x, y],
        reduction,
    )


@pytest.mark.parametrize(
    ("ours", "theirs", "knob"),
    [(F.huber_loss, TF.huber_loss, "delta"), (F.smooth_l1_loss, TF.smooth_l1_loss, "beta")],
    ids=["huber", "smooth_l1"],
)
@pytest.mark.parametrize("size", [1.0, 0.5, 2.0])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_distances_exactly_at_delta_match_torch(
    ours: Callable[..., Tensor],
    theirs: Callable[..., Any],
    knob: str,
    size: float,
    reduction: str,
) -> None:
    x = size * np.array([1.0, -1.0, 0.5, -2.0, 0.0, 1.0])
    y = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 2 * size])  # the last: -size
    _check(
        lambda a, b, reduction: ours(a, b, reduction=reduction, **{knob: size}),
        lambda a, b, reduction: theirs(a, b, reduction=reduction, **{knob: size}),
        [x, y],
        reduction,
    )


@pytest.mark.parametrize("weight_shape", [None, "full", "last"])
@pytest.mark.parametrize("shape", [(), (1,), (4,), (2, 3, 2)], ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_matches_torch(
    weight_shape: str | None, shape: tuple[int, ...], reduction: str
) -> None:
    if weight_shape == "last" and not shape:
        weight_shape = "full"
    rng = np.random.default_rng(7)
    p = rng.uniform(0.02, 0.98, shape)
    t = rng.uniform(0.0, 1.0, shape)
    weight = (
        None
        if weight_shape is None
        else rng.uniform(0.2, 2.0, shape if weight_shape == "full" else shape[-1:])
    )
    _check(
        lambda a, b, reduction: F.binary_cross_entropy(a, b, weight, reduction=reduction),
        lambda a, b, reduction: TF.binary_cross_entropy(
            a, b, None if weight is None else torch.tensor(weight), reduction=reduction
        ),
        [p, t],
        reduction,
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_at_probabilities_0_and_1_matches_torch(reduction: str) -> None:
    """Value and input gradient (torch's target gradient is inf there; chainrule's is finite
    by design, see binary_cross_entropy's docstring)."""
    p = np.array([0.0, 1.0, 0.0, 1.0, 0.5, 1e-300])
    t = np.array([0.0, 1.0, 1.0, 0.0, 0.3, 1.0])
    mine = Tensor(p, requires_grad=True)
    reference = torch.tensor(p, requires_grad=True)
    loss = F.binary_cross_entropy(mine, t, reduction=reduction)
    expected = TF.binary_cross_entropy(reference, torch.tensor(t), reduction=reduction)
    np.testing.assert_allclose(loss.numpy(), expected.detach().numpy(), rtol=TOLERANCE)
    loss.sum().backward()
    expected.sum().backward()
    assert mine.grad is not None
    assert reference.grad is not None
    np.testing.assert_allclose(mine.grad.numpy(), reference.grad.numpy(), rtol=TOLERANCE)


@pytest.mark.parametrize("pos_weight_shape", [(), (2,), (3, 2)], ids=str)
@pytest.mark.parametrize("scale", [3.0, 1e3])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_pos_weight_broadcasts_as_torch(
    pos_weight_shape: tuple[int, ...], scale: float, reduction: str
) -> None:
    rng = np.random.default_rng(11)
    logits = scale * rng.standard_normal((2, 3, 2))
    targets = rng.uniform(0.0, 1.0, (2, 3, 2))
    pos_weight = rng.uniform(0.2, 3.0, pos_weight_shape)
    weight = rng.uniform(0.2, 2.0, (3, 1))
    _check(
        lambda a, b, reduction: F.binary_cross_entropy_with_logits(
            a, b, weight, reduction=reduction, pos_weight=pos_weight
        ),
        lambda a, b, reduction: TF.binary_cross_entropy_with_logits(
            a,
            b,
            torch.tensor(weight),
            reduction=reduction,
            pos_weight=torch.tensor(pos_weight),
        ),
        [logits, targets],
        reduction,
    )
