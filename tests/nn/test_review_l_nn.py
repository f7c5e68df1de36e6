"""Adversarial review (review-l) of chainrule.nn against torch 2.13: each case here was
a silent wrong result, or its sibling, compared side by side in float64."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest

import chainrule as cr
from chainrule import functional as F

pytestmark = pytest.mark.torch


@pytest.mark.parametrize("weight_shape", [(4, 1), (2, 4), (1, 1, 4)], ids=str)
def test_binary_cross_entropy_refuses_a_weight_that_broadcasts_past_the_input(
    torch: ModuleType, weight_shape: tuple[int, ...]
) -> None:
    # It was silently the mean over the broadcast (4, 4) grid; torch refuses it too.
    rng = np.random.default_rng(0)
    probabilities, target = rng.random(4), rng.random(4)
    with pytest.raises(RuntimeError):
        torch.nn.functional.binary_cross_entropy(
            torch.tensor(probabilities), torch.tensor(target), torch.ones(weight_shape)
        )
    with pytest.raises(ValueError, match=r"binary_cross_entropy: weight of shape .* \(4,\)"):
        F.binary_cross_entropy(probabilities, target, np.ones(weight_shape))


def test_binary_cross_entropy_with_a_broadcast_weight_matches_torch(torch: ModuleType) -> None:
    rng = np.random.default_rng(1)
    probabilities, target, weight = rng.random((3, 4)), rng.random((3, 4)), rng.random(4)
    mine = cr.tensor(probabilities, requires_grad=True)
    loss = F.binary_cross_entropy(mine, target, weight, reduction="sum")
    loss.backward()
    theirs = torch.tensor(probabilities, requires_grad=True)
    expected = torch.nn.functional.binary_cross_entropy(
        theirs, torch.tensor(target), torch.tensor(weight), reduction="sum"
    )
    expected.backward()
    np.testing.assert_allclose(loss.numpy(), expected.detach().numpy(), rtol=1e-13)
    assert mine.grad is not None
    assert theirs.grad is not None
    np.testing.assert_allclose(mine.grad.numpy(), theirs.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize(
    ("loss", "label_smoothing"),
    [("cross_entropy", 0.0), ("cross_entropy", 0.2), ("nll_loss", 0.0)],
)
def test_weighted_mean_with_a_negative_weight_total_matches_torch(
    torch: ModuleType, loss: str, label_smoothing: float
) -> None:
    # The weighted mean divides by the summed weights of the counted targets; a negative sum
    # (negative class weights) was silently NaN, as if no target counted.
    rng = np.random.default_rng(2)
    logits = rng.standard_normal((5, 4))
    targets = np.array([1, 1, 0, 1, 2])
    weight = np.array([1.0, -1.0, 0.5, 0.2])  # counted total: -1 - 1 + 1 - 1 + 0.5 = -1.5
    options = {"label_smoothing": label_smoothing} if label_smoothing else {}
    mine = cr.tensor(logits, requires_grad=True)
    value = getattr(F, loss)(mine, targets, weight, **options)
    value.backward()
    theirs = torch.tensor(logits, requires_grad=True)
    expected = getattr(torch.nn.functional, loss)(
        theirs, torch.tensor(targets), torch.tensor(weight), **options
    )
    expected.backward()
    assert np.isfinite(expected.item())
    np.testing.assert_allclose(value.numpy(), expected.detach().numpy(), rtol=1e-13)
    assert mine.grad is not None
    assert theirs.grad is not None
    np.testing.assert_allclose(mine.grad.numpy(), theirs.grad.numpy(), rtol=1e-12, atol=1e-15)
