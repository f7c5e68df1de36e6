"""Review of issue 14's losses, layers and activations as a user porting PyTorch code would
use them: defects found after the merge, each pinned by the behaviour it broke."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import functional as F
from chainrule import nn, optim

pytestmark = pytest.mark.torch

CLASSES = 4


def _linear_step(loss: Callable[[cr.Tensor, Any], cr.Tensor]) -> Callable[..., cr.Tensor]:
    """A training step x, t -> loss(linear(x), t) with one SGD update, from fixed weights."""
    layer = nn.Linear(CLASSES, CLASSES)
    layer.weight.data[...] = np.eye(CLASSES) * 0.5 + 0.1
    layer.bias.data[...] = 0.0
    opt = optim.SGD(layer.parameters(), lr=0.1)

    def step(x: np.ndarray, t: Any) -> cr.Tensor:
        opt.zero_grad()
        value = loss(layer(x), t)
        (value if value.ndim == 0 else value.sum()).backward()
        opt.step()
        return value

    return step


def test_compiled_cross_entropy_ignores_an_in_range_ignore_index_first_seen_after_tracing(
    torch: ModuleType,
) -> None:
    # Traced on targets without class 0, the fused node was frozen in and a later target 0
    # (= ignore_index) was counted as a class instead of ignored.
    rng = np.random.default_rng(3)
    xs = [rng.normal(size=(6, CLASSES)) for _ in range(2)]
    targets = [np.array([1, 2, 3, 1, 2, 3]), np.array([0, 2, 3, 1, 0, 3])]

    def loss(z: cr.Tensor, t: Any) -> cr.Tensor:
        return F.cross_entropy(z, t, ignore_index=0)

    eager, compiled = _linear_step(loss), cr.compile(_linear_step(loss))
    for x, t in zip(xs, targets, strict=True):
        want = eager(x, t).numpy()
        got = compiled(x, t).numpy()
        np.testing.assert_array_equal(got, want)
    reference = torch.nn.functional.cross_entropy(
        torch.tensor(xs[1]), torch.tensor(targets[1]), ignore_index=0
    )
    fresh = F.cross_entropy(xs[1], targets[1], ignore_index=0)
    np.testing.assert_allclose(fresh.numpy(), reference.numpy(), rtol=1e-13)


def test_compiled_cross_entropy_refuses_an_ignored_negative_target_first_seen_after_tracing() -> (
    None
):
    # ignore_index=-1 first met in a replay of the fused node used to pick the last class.
    rng = np.random.default_rng(4)
    compiled = cr.compile(_linear_step(lambda z, t: F.cross_entropy(z, t, ignore_index=-1)))
    compiled(rng.normal(size=(3, CLASSES)), np.array([0, 1, 2]))
    compiled(rng.normal(size=(3, CLASSES)), np.array([1, 2, 0]))  # its verification trace
    with pytest.raises(ValueError, match=r"target -1 is outside the 4 classes.*weight="):
        compiled(rng.normal(size=(3, CLASSES)), np.array([0, -1, 2]))


def test_compiled_embedding_takes_int_tensor_indices_as_the_argument_they_are() -> None:
    # An int64 Tensor of indices was copied by astype, so chainrule.compile saw a value
    # computed from its argument and refused the step.
    rng = np.random.default_rng(5)

    def make() -> Callable[..., cr.Tensor]:
        table = nn.Embedding(10, 3, padding_idx=-1)
        table.weight.data[...] = np.arange(30.0).reshape(10, 3) / 30
        opt = optim.SGD(table.parameters(), lr=0.1)

        def step(indices: cr.Tensor) -> cr.Tensor:
            opt.zero_grad()
            value = (table(indices) ** 2).sum()
            value.backward()
            opt.step()
            return value

        return step

    eager, compiled = make(), cr.compile(make())
    for _ in range(3):
        indices = cr.tensor(rng.integers(0, 10, size=(2, 4)), dtype=np.int64)
        np.testing.assert_array_equal(compiled(indices).numpy(), eager(indices).numpy())


def test_explain_does_not_fail_the_embedding_padding_row_that_gets_no_gradient() -> None:
    # The padding row is looked up (finite differences see it) but gets no gradient by
    # definition, as in PyTorch: explain probed it and reported SOME CHECKS FAILED.
    table = nn.Embedding(3, 2, padding_idx=-1)
    loss = (table(np.array([2, 2, 2, 2])) ** 2).sum()
    explanation = cr.explain(loss, table.weight, samples=6)
    assert explanation.passed
    (lookup,) = [check for check in explanation.checks if check.input == "weight"]
    assert lookup.entries
    assert all(row != 2 for row, _ in lookup.entries)


def test_explain_accepts_layer_norm_mean_gradient_that_is_small_by_cancellation() -> None:
    # d(x - mean)/dmean pushes back -sum of the upstream gradient, near 0 here; the central
    # difference's rounding (1e-11) was held to a tolerance scaled by that small result.
    rng = np.random.default_rng(0)
    table = nn.Embedding(6, 4, padding_idx=-1)
    norm = nn.LayerNorm(4)
    logits = norm(table(np.array([[0, 5], [2, 3]]))).reshape(-1, 4)
    loss = F.cross_entropy(
        logits, np.array([1, -100, 2, 3]), np.array([1.0, 2, 3, 4]), label_smoothing=0.1
    )
    explanation = cr.explain(loss, table.weight, rng=rng)
    assert explanation.passed, str(explanation)


@pytest.mark.parametrize("shift", [1000.0, -1000.0])
def test_compiled_log_softmax_shifts_each_call_by_its_own_max(shift: float) -> None:
    # The max subtracted before exp was read from the traced batch's array and frozen, so
    # a replay on logits 1000 larger overflowed (inf loss) and any replay was off in the
    # last bits; cross_entropy with any option goes through log_softmax.
    rng = np.random.default_rng(6)
    logits, targets = rng.normal(size=(3, CLASSES)), np.array([0, 1, 3])

    def step(z: np.ndarray, t: np.ndarray) -> tuple[cr.Tensor, cr.Tensor, cr.Tensor]:
        tensor = cr.tensor(z, requires_grad=True)
        return (
            F.cross_entropy(tensor, t, label_smoothing=0.1),
            tensor.softmax(axis=1),
            tensor.logsumexp(axis=1),
        )

    compiled = cr.compile(step)
    compiled(logits, targets)
    replayed, eager = compiled(logits + shift, targets), step(logits + shift, targets)
    for got, want in zip(replayed, eager, strict=True):
        np.testing.assert_array_equal(got.numpy(), want.numpy())


@pytest.mark.parametrize("loss", [F.cross_entropy, F.nll_loss])
def test_class_weights_that_require_grad_are_refused_not_silently_detached(
    loss: Callable[..., cr.Tensor],
) -> None:
    # They were detached, so backward left weight.grad None without a word; PyTorch's
    # backward raises "the derivative for 'weight' is not implemented".
    weight = cr.tensor(np.ones(3), requires_grad=True)
    logits = np.random.default_rng(7).normal(size=(4, 3))
    with pytest.raises(TypeError, match=r"weight.*requires grad.*weight\.detach\(\)"):
        loss(logits, np.array([0, 1, 2, 1]), weight)
