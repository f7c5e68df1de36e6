"""Review nn-review: losses against PyTorch 2.13 in float64 where an earlier sweep had not
looked: ignored targets whose inputs hold -inf or NaN (a masked-out row)."""

from __future__ import annotations

import itertools
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import functional as F
from chainrule import nn

pytestmark = [
    pytest.mark.torch,
    # log_softmax of a row of -inf or NaN: NumPy's divide and invalid warnings (torch is silent)
    pytest.mark.filterwarnings("ignore::RuntimeWarning"),
]


def _masked_logits() -> np.ndarray:
    """(4, 3, 2) logits whose positions (1, 0) and (2, 1) are masked out: every class -inf
    (log_softmax is NaN there) or NaN; their targets are ignored."""
    logits = np.random.default_rng(3).normal(size=(4, 3, 2))
    logits[1, :, 0] = -np.inf
    logits[2, :, 1] = np.nan
    return logits


TARGETS = np.array([[0, 2], [-100, 1], [2, -100], [1, 0]])
OPTIONS = list(
    itertools.product(["none", "sum", "mean"], [None, np.array([0.5, 2.0, 1.5])], [0.0, 0.2])
)


def _finite_where_counted(got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(("reduction", "weight", "smoothing"), OPTIONS)
def test_cross_entropy_of_a_masked_out_ignored_position_is_0_as_torch(
    torch: ModuleType, reduction: str, weight: np.ndarray | None, smoothing: float
) -> None:
    # Was NaN: the ignored position's -inf/NaN log-probabilities were multiplied by 0.
    logits = _masked_logits()
    ours = cr.tensor(logits, requires_grad=True)
    theirs = torch.tensor(logits, requires_grad=True)
    loss = F.cross_entropy(ours, TARGETS, weight, reduction=reduction, label_smoothing=smoothing)
    expected = torch.nn.functional.cross_entropy(
        theirs,
        torch.tensor(TARGETS),
        None if weight is None else torch.tensor(weight),
        reduction=reduction,
        label_smoothing=smoothing,
    )
    _finite_where_counted(loss.numpy(), expected.detach().numpy())
    assert np.all(np.isfinite(loss.numpy()))
    cotangent = np.arange(1.0, 1.0 + expected.numel()).reshape(tuple(expected.shape))
    loss.backward(cotangent)
    expected.backward(torch.tensor(cotangent))
    # The masked positions' gradients are NaN in both (log_softmax's backward of NaN).
    _finite_where_counted(ours.grad.numpy(), theirs.grad.numpy())


@pytest.mark.parametrize(("reduction", "weight"), [(r, w) for r, w, s in OPTIONS if not s])
def test_nll_loss_of_an_ignored_minus_inf_or_nan_input_is_0_as_torch(
    torch: ModuleType, reduction: str, weight: np.ndarray | None
) -> None:
    log_probs = _masked_logits()
    ours = cr.tensor(log_probs, requires_grad=True)
    theirs = torch.tensor(log_probs, requires_grad=True)
    loss = F.nll_loss(ours, TARGETS, weight, reduction=reduction)
    expected = torch.nn.functional.nll_loss(
        theirs,
        torch.tensor(TARGETS),
        None if weight is None else torch.tensor(weight),
        reduction=reduction,
    )
    _finite_where_counted(loss.numpy(), expected.detach().numpy())
    cotangent = np.arange(1.0, 1.0 + expected.numel()).reshape(tuple(expected.shape))
    loss.backward(cotangent)
    expected.backward(torch.tensor(cotangent))
    _finite_where_counted(ours.grad.numpy(), theirs.grad.numpy())  # 0 at the ignored ones


def test_a_compiled_step_ignores_a_masked_out_position_as_eager(torch: ModuleType) -> None:
    logits = _masked_logits()
    expected = torch.nn.functional.cross_entropy(
        torch.tensor(logits), torch.tensor(TARGETS), label_smoothing=0.1
    ).item()

    @cr.compile
    def loss_of(x: Any, targets: np.ndarray) -> Any:
        return F.cross_entropy(x, targets, label_smoothing=0.1)

    for _ in range(3):  # trace, check, replay
        got = loss_of(cr.tensor(logits), TARGETS).item()
        assert got == pytest.approx(expected, rel=1e-12)


# ------------------------------------------------ facts from PyTorch's test_nn, in our words
@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("smoothing", [0.0, 0.3])
def test_ignored_samples_weigh_as_if_they_were_not_there(reduction: str, smoothing: float) -> None:
    # torch test_nn (label smoothing with weights and ignore_index): dropping the ignored
    # samples beforehand gives the same loss; here one of them is also masked out (-inf).
    rng = np.random.default_rng(5)
    logits = rng.normal(size=(6, 4))
    targets = np.array([0, 3, -100, 1, -100, 2])
    logits[4] = -np.inf
    weight = np.array([0.3, 1.0, 2.5, 0.7])
    kept = targets != -100
    with np.errstate(all="ignore"):
        whole = F.cross_entropy(
            logits, targets, weight, reduction=reduction, label_smoothing=smoothing
        )
    part = F.cross_entropy(
        logits[kept], targets[kept], weight, reduction=reduction, label_smoothing=smoothing
    )
    assert whole.item() == pytest.approx(part.item(), rel=1e-13)


@pytest.mark.parametrize(
    ("reduction", "weighted"), [("sum", True), ("none", True), ("mean", False)]
)
def test_one_hot_probabilities_give_the_index_targets_loss(reduction: str, weighted: bool) -> None:
    # torch test_nn (one-hot targets): equal for sum and none with weights, and for the
    # mean without (the weighted mean divides by the weights only for index targets).
    rng = np.random.default_rng(6)
    logits = rng.normal(size=(5, 3, 2))
    targets = rng.integers(0, 3, size=(5, 2))
    one_hot = np.moveaxis(np.eye(3)[targets], -1, 1)
    weight = np.array([0.5, 2.0, 1.25]) if weighted else None
    by_index = F.cross_entropy(logits, targets, weight, reduction=reduction)
    by_probability = F.cross_entropy(logits, one_hot, weight, reduction=reduction)
    assert by_index.shape == by_probability.shape
    np.testing.assert_allclose(by_probability.numpy(), by_index.numpy(), rtol=1e-13)


def test_pos_weight_of_ones_and_a_broadcast_pos_weight_change_nothing() -> None:
    # torch test_nn (pos_weight of ones is none; a (C,) pos_weight broadcasts over samples).
    rng = np.random.default_rng(7)
    logits = rng.normal(size=(8, 4)) * 3
    targets = rng.uniform(size=(8, 4))
    plain = F.binary_cross_entropy_with_logits(logits, targets)
    ones = F.binary_cross_entropy_with_logits(logits, targets, pos_weight=np.ones(4))
    assert ones.item() == plain.item()
    pos_weight = rng.uniform(0.5, 3.0, size=4)
    per_class = F.binary_cross_entropy_with_logits(logits, targets, pos_weight=pos_weight)
    spread = F.binary_cross_entropy_with_logits(
        logits, targets, pos_weight=np.broadcast_to(pos_weight, (8, 4))
    )
    assert per_class.item() == pytest.approx(spread.item(), rel=1e-14)


def test_bce_with_logits_gradient_at_zero_is_minus_a_half_over_n_for_target_1() -> None:
    # torch test_nn (bce_with_logits gradient at 0): sigmoid(0) - 1 = -1/2, over n entries.
    logits = cr.tensor(np.zeros((10, 1)), requires_grad=True)
    F.binary_cross_entropy_with_logits(logits, np.ones((10, 1))).backward()
    np.testing.assert_array_equal(logits.grad.numpy(), np.full((10, 1), -0.05))


@pytest.mark.parametrize(("reduction", "expected"), [("sum", 0.0), ("none", np.zeros(3))])
def test_nll_loss_with_every_target_ignored(reduction: str, expected: Any) -> None:
    # torch test_nn (nll_loss, all targets ignored): sum 0, none zeros, mean NaN.
    log_probs = cr.tensor(np.log(np.full((3, 2), 0.5)), requires_grad=True)
    loss = F.nll_loss(log_probs, np.full(3, -100), reduction=reduction)
    np.testing.assert_array_equal(loss.numpy(), expected)
    loss.sum().backward()
    np.testing.assert_array_equal(log_probs.grad.numpy(), np.zeros((3, 2)))
    assert np.isnan(F.nll_loss(log_probs, np.full(3, -100)).item())


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda w: nn.CrossEntropyLoss(w), "weight"),
        (lambda w: nn.NLLLoss(w), "weight"),
        (lambda w: nn.BCEWithLogitsLoss(weight=w), "weight"),
        (lambda w: nn.BCEWithLogitsLoss(pos_weight=w), "pos_weight"),
    ],
)
def test_a_loss_module_refuses_weights_that_require_grad(make: Any, name: str) -> None:
    # Was silent: the module copied the values into a buffer, so weight.grad stayed None
    # (torch's backward refuses; F.cross_entropy already refused).
    weight = nn.Parameter(np.array([1.0, 2.0, 3.0]))
    with pytest.raises(TypeError, match=rf"{name} is a constant .* pass {name}\.detach\(\)"):
        make(weight)
    loss = make(weight.detach())
    np.testing.assert_array_equal(getattr(loss, name), [1.0, 2.0, 3.0])
