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
