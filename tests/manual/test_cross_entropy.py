"""manual.SoftmaxCrossEntropy: loss and hand-derived gradient against the autograd engine,
PyTorch and finite differences; stable for large logits; clear errors for bad targets."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest

import chainrule as cr
from chainrule import functional as F
from chainrule import manual
from chainrule.check import compare, numerical_grad


def logits_and_targets(
    rng: np.random.Generator, count: int = 9, classes: int = 5, scale: float = 3.0
) -> tuple[np.ndarray, np.ndarray]:
    return scale * rng.standard_normal((count, classes)), rng.integers(0, classes, count)


def test_loss_and_gradient_match_the_autograd_engine(rng: np.random.Generator) -> None:
    logits, targets = logits_and_targets(rng)
    criterion = manual.SoftmaxCrossEntropy()
    loss = criterion.forward(logits, targets)
    grad_logits = criterion.backward()
    logits_tensor = cr.tensor(logits, requires_grad=True)
    engine_loss = F.cross_entropy(logits_tensor, targets)
    engine_loss.backward()
    assert logits_tensor.grad is not None
    assert loss == pytest.approx(engine_loss.item(), rel=1e-14)
    result = compare("dlogits", grad_logits, logits_tensor.grad.numpy(), rtol=1e-13, atol=1e-16)
    assert result.close, str(result)


@pytest.mark.torch
def test_loss_and_gradient_match_pytorch(torch: ModuleType, rng: np.random.Generator) -> None:
    logits, targets = logits_and_targets(rng)
    criterion = manual.SoftmaxCrossEntropy()
    loss = criterion.forward(logits, targets)
    grad_logits = criterion.backward()
    reference = torch.tensor(logits, requires_grad=True)
    torch_loss = torch.nn.functional.cross_entropy(reference, torch.tensor(targets))
    torch_loss.backward()
    assert loss == pytest.approx(torch_loss.item(), rel=1e-14)
    result = compare("dlogits", grad_logits, reference.grad.numpy(), rtol=1e-13, atol=1e-16)
    assert result.close, str(result)


def test_gradient_matches_finite_differences(rng: np.random.Generator) -> None:
    logits, targets = logits_and_targets(rng, count=4, classes=3)
    criterion = manual.SoftmaxCrossEntropy()
    criterion.forward(logits, targets)
    numerical = numerical_grad(lambda z: manual.SoftmaxCrossEntropy().forward(z, targets), logits)
    result = compare("dlogits", criterion.backward(), numerical, rtol=1e-6, atol=1e-9)
    assert result.close, str(result)


def test_backward_scales_by_grad_out(rng: np.random.Generator) -> None:
    logits, targets = logits_and_targets(rng)
    criterion = manual.SoftmaxCrossEntropy()
    criterion.forward(logits, targets)
    np.testing.assert_allclose(criterion.backward(2.5), 2.5 * criterion.backward(), rtol=1e-15)


def test_large_logits_give_finite_exact_values() -> None:
    logits = np.array([[1e4, 0.0, -1e4], [0.0, 1e4, 1e4 - 1.0]])
    criterion = manual.SoftmaxCrossEntropy()
    loss = criterion.forward(logits, np.array([0, 2]))
    grad_logits = criterion.backward()
    expected_loss = (0.0 + (1.0 + np.log1p(np.exp(-1.0)))) / 2
    assert loss == pytest.approx(expected_loss, rel=1e-14)
    assert grad_logits.shape == (2, 3)
    assert np.isfinite(grad_logits).all()
    np.testing.assert_allclose(grad_logits.sum(axis=1), np.zeros(2), atol=1e-15)


def test_float32_logits_give_a_float32_gradient(rng: np.random.Generator) -> None:
    logits, targets = logits_and_targets(rng)
    criterion = manual.SoftmaxCrossEntropy()
    criterion.forward(logits.astype(np.float32), targets)
    assert criterion.backward().dtype == np.float32


def test_float_targets_are_refused_with_the_fix(rng: np.random.Generator) -> None:
    logits, targets = logits_and_targets(rng)
    with pytest.raises(TypeError, match=r"integer class indices.*argmax"):
        manual.SoftmaxCrossEntropy().forward(logits, targets.astype(np.float64))


def test_out_of_range_target_names_index_and_class_count(rng: np.random.Generator) -> None:
    logits, targets = logits_and_targets(rng, classes=5)
    targets[3] = 5
    with pytest.raises(ValueError, match=r"target 5 at index 3 is outside the 5 classes"):
        manual.SoftmaxCrossEntropy().forward(logits, targets)


def test_mismatched_target_shape_is_refused(rng: np.random.Generator) -> None:
    logits, targets = logits_and_targets(rng, count=9)
    with pytest.raises(ValueError, match=r"shape \(9,\)"):
        manual.SoftmaxCrossEntropy().forward(logits, targets.reshape(-1, 1))


def test_backward_before_forward_says_what_to_call() -> None:
    with pytest.raises(RuntimeError, match=r"call forward\(logits, targets\) first"):
        manual.SoftmaxCrossEntropy().backward()


def test_targets_written_after_forward_do_not_change_the_gradient(
    rng: np.random.Generator,
) -> None:
    # A label buffer refilled for the next batch before backward: the gradient must stay
    # this batch's (and a -1 written there must not wrap to the last class unseen).
    logits, targets = logits_and_targets(rng)
    targets = targets.astype(np.intp)
    expected = manual.SoftmaxCrossEntropy()
    expected.forward(logits, targets.copy())
    criterion = manual.SoftmaxCrossEntropy()
    criterion.forward(logits, targets)
    targets[:] = -1
    np.testing.assert_array_equal(criterion.backward(), expected.backward())
