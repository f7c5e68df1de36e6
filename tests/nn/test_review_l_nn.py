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


# ------------------------------------------------------------- ported from torch's test_nn
@pytest.mark.parametrize("momentum", [None, 0.3], ids=["cumulative", "momentum"])
@pytest.mark.parametrize("affine", [True, False], ids=["affine", "plain"])
def test_batchnorm_over_batches_of_changing_size_tracks_torch_then_evaluates_as_torch(
    torch: ModuleType, momentum: float | None, affine: bool
) -> None:
    # Running mean and unbiased variance (n = N L), biased variance in the normalisation,
    # num_batches_tracked, and eval mode reading the running statistics.
    rng = np.random.default_rng(5)
    ours = cr.nn.BatchNorm1d(3, momentum=momentum, affine=affine, dtype=np.float64)
    theirs = torch.nn.BatchNorm1d(3, momentum=momentum, affine=affine, dtype=torch.float64)
    for batch, length in [(2, 4), (5, 1), (3, 3), (7, 2)]:
        x = rng.standard_normal((batch, 3, length)) * 2 + 1
        mine = cr.tensor(x, requires_grad=True)
        out = ours(mine)
        cotangent = rng.standard_normal(x.shape)
        out.backward(cotangent)
        reference = torch.tensor(x, requires_grad=True)
        expected = theirs(reference)
        expected.backward(torch.tensor(cotangent))
        np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-12, atol=1e-13)
        assert mine.grad is not None
        assert reference.grad is not None
        np.testing.assert_allclose(mine.grad.numpy(), reference.grad.numpy(), atol=1e-12)
    for name in ("running_mean", "running_var"):
        np.testing.assert_allclose(getattr(ours, name), getattr(theirs, name).numpy(), rtol=1e-13)
    assert int(ours.num_batches_tracked) == int(theirs.num_batches_tracked) == 4
    ours.eval()
    theirs.eval()
    x = rng.standard_normal((4, 3))
    np.testing.assert_allclose(
        ours(x).numpy(), theirs(torch.tensor(x)).detach().numpy(), rtol=1e-12, atol=1e-13
    )


@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
def test_a_module_used_twice_is_one_parameter_set_updated_once_per_step(
    torch: ModuleType, optimizer: str
) -> None:
    # Its gradient is the sum over both uses; an optimizer listing it twice would step twice.
    rng = np.random.default_rng(6)
    weight, bias, x = (
        rng.standard_normal((3, 3)),
        rng.standard_normal(3),
        rng.standard_normal((4, 3)),
    )
    layer = cr.nn.Linear(3, 3, dtype=np.float64)
    layer.weight.data, layer.bias.data = weight.T.copy(), bias.copy()  # ours is (in, out)
    ours = cr.nn.Sequential(layer, cr.nn.Tanh(), layer)
    their_layer = torch.nn.Linear(3, 3, dtype=torch.float64)
    with torch.no_grad():
        their_layer.weight.copy_(torch.tensor(weight))
        their_layer.bias.copy_(torch.tensor(bias))
    theirs = torch.nn.Sequential(their_layer, torch.nn.Tanh(), their_layer)
    assert [name for name, _ in ours.named_parameters()] == ["0.weight", "0.bias"]
    mine = getattr(cr.optim, optimizer)(ours.parameters(), lr=0.1)
    reference = getattr(torch.optim, optimizer)(theirs.parameters(), lr=0.1)
    for _ in range(3):
        mine.zero_grad()
        reference.zero_grad()
        out = ours(x)
        (out * out).sum().backward()
        expected = theirs(torch.tensor(x))
        (expected * expected).sum().backward()
        mine.step()
        reference.step()
    np.testing.assert_allclose(
        layer.weight.numpy().T, their_layer.weight.detach().numpy(), rtol=1e-12
    )
    np.testing.assert_allclose(layer.bias.numpy(), their_layer.bias.detach().numpy(), rtol=1e-12)


def test_binary_cross_entropy_gradient_inside_is_the_derivative_of_its_value() -> None:
    # Central differences in float64 where p (1 - p) >= 1e-12 (the logarithms unclamped).
    rng = np.random.default_rng(7)
    probabilities = np.concatenate([rng.uniform(0.01, 0.99, 6), [1e-6, 1 - 1e-6]])
    targets = rng.random(probabilities.size)
    mine = cr.tensor(probabilities, requires_grad=True)
    F.binary_cross_entropy(mine, targets, reduction="sum").backward()
    numeric = []
    for position, size in enumerate(1e-5 * np.minimum(probabilities, 1 - probabilities)):
        above, below = probabilities.copy(), probabilities.copy()
        above[position] += size
        below[position] -= size
        difference = (
            F.binary_cross_entropy(above, targets, reduction="sum").item()
            - F.binary_cross_entropy(below, targets, reduction="sum").item()
        )
        # Divided by the step as represented (p near 1 rounds p + h).
        numeric.append(difference / (above[position] - below[position]))
    assert mine.grad is not None
    np.testing.assert_allclose(mine.grad.numpy(), numeric, rtol=1e-6)
