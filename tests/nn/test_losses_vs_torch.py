"""CrossEntropyLoss, NLLLoss and BCEWithLogitsLoss (and their functional forms) against
PyTorch: values and gradients in float32 and float64 over shapes and options, the weighted
means, ignore_index, label smoothing, class-probability targets, large logits, the fused
fast path, chainrule.compile, and clear errors."""

from __future__ import annotations

import itertools
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import functional as F
from chainrule import nn
from chainrule import primitives as P

pytestmark = pytest.mark.torch

TOLERANCE = {np.dtype(np.float32): 2e-6, np.dtype(np.float64): 1e-13}


def _close(got: np.ndarray, want: np.ndarray, dtype: Any) -> None:
    """Equal shapes, NaN where the reference is NaN, normwise relative error within the
    dtype's tolerance elsewhere."""
    assert got.shape == want.shape
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    finite = ~np.isnan(want)
    scale = max(float(np.max(np.abs(want[finite]), initial=0.0)), 1e-30)
    error = float(np.max(np.abs(got[finite] - want[finite]), initial=0.0))
    assert error <= TOLERANCE[np.dtype(dtype)] * scale


def _compare(
    torch: ModuleType, ours: Any, theirs: Any, arrays: list[np.ndarray], dtype: Any
) -> None:
    """ours(*tensors) against theirs(*torch_tensors): value and every input's gradient."""
    mine = [cr.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    reference = [torch.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    out = ours(*mine)
    expected = theirs(*reference)
    assert out.dtype == dtype
    cotangent = np.random.default_rng(9).normal(size=tuple(expected.shape)).astype(dtype)
    out.backward(cotangent)
    expected.backward(torch.from_numpy(cotangent))
    _close(out.numpy(), expected.detach().numpy(), dtype)
    for tensor, torch_tensor in zip(mine, reference, strict=True):
        assert tensor.grad is not None
        _close(tensor.grad.numpy(), torch_tensor.grad.numpy(), dtype)


def _torch_array(torch: ModuleType, values: np.ndarray | None, dtype: Any) -> Any:
    return None if values is None else torch.from_numpy(np.asarray(values, dtype=dtype))


# ------------------------------------------------------------------ cross-entropy, indices
SHAPES = [(6, 4), (2, 4, 3, 2)]
OPTIONS = list(itertools.product([False, True], ["mean", "sum", "none"], [0.0, 0.15], [-100, 2]))


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize(
    ("weighted", "reduction", "label_smoothing", "ignore_index"),
    OPTIONS,
    ids=[f"w{int(w)}-{r}-ls{s}-ig{i}" for w, r, s, i in OPTIONS],
)
def test_cross_entropy_loss_matches_torch(
    torch: ModuleType,
    shape: tuple[int, ...],
    weighted: bool,
    reduction: str,
    label_smoothing: float,
    ignore_index: int,
    dtype: Any,
) -> None:
    rng = np.random.default_rng(sum(shape))
    logits = 4 * rng.normal(size=shape)
    targets = rng.integers(0, shape[1], size=(shape[0], *shape[2:]))
    weight = rng.uniform(0.2, 3.0, size=shape[1]) if weighted else None
    options = {
        "ignore_index": ignore_index,
        "reduction": reduction,
        "label_smoothing": label_smoothing,
    }
    ours = nn.CrossEntropyLoss(weight, **options)
    theirs = torch.nn.CrossEntropyLoss(_torch_array(torch, weight, dtype), **options)
    _compare(
        torch,
        lambda z: ours(z, targets),
        lambda z: theirs(z, torch.from_numpy(targets)),
        [logits],
        dtype,
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True], ids=["plain", "weighted"])
@pytest.mark.parametrize("shape", [(5, 3), (2, 3, 4)], ids=str)
def test_cross_entropy_with_class_probabilities_matches_torch(
    torch: ModuleType, shape: tuple[int, ...], weighted: bool, reduction: str, dtype: Any
) -> None:
    rng = np.random.default_rng(3)
    logits = 3 * rng.normal(size=shape)
    probabilities = np.moveaxis(
        rng.dirichlet(np.ones(shape[1]), size=(shape[0], *shape[2:])), -1, 1
    )
    weight = rng.uniform(0.5, 2.0, size=shape[1]) if weighted else None
    options = {"reduction": reduction, "label_smoothing": 0.2}
    _compare(
        torch,
        lambda z, q: F.cross_entropy(z, q, weight, **options),
        lambda z, q: torch.nn.functional.cross_entropy(
            z, q, _torch_array(torch, weight, dtype), **options
        ),
        [logits, probabilities],
        dtype,
    )


def test_label_smoothing_with_indices_equals_smoothing_of_one_hot_probabilities() -> None:
    # Ported from PyTorch's test_nn (test_cross_entropy_label_smoothing_consistent_index_
    # target_and_probs): the same loss for index targets and their one-hot rows.
    rng = np.random.default_rng(4)
    logits = rng.normal(size=(6, 5))
    targets = rng.integers(0, 5, size=6)
    one_hot = np.eye(5)[targets]
    for reduction in ("mean", "sum", "none"):
        from_indices = F.cross_entropy(logits, targets, reduction=reduction, label_smoothing=0.3)
        from_rows = F.cross_entropy(logits, one_hot, reduction=reduction, label_smoothing=0.3)
        np.testing.assert_allclose(from_indices.numpy(), from_rows.numpy(), rtol=1e-14)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.4])
def test_every_target_ignored_gives_torchs_result(
    torch: ModuleType, reduction: str, label_smoothing: float
) -> None:
    # NaN for "mean" (0 / 0), 0 for "sum", zeros for "none"; the gradient is 0 throughout.
    logits = np.random.default_rng(5).normal(size=(3, 4))
    targets = np.array([2, 2, 2])
    options = {"ignore_index": 2, "reduction": reduction, "label_smoothing": label_smoothing}
    _compare(
        torch,
        lambda z: F.cross_entropy(z, targets, np.array([1.0, 2.0, 3.0, 4.0]), **options),
        lambda z: torch.nn.functional.cross_entropy(
            z,
            torch.from_numpy(targets),
            torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=z.dtype),
            **options,
        ),
        [logits],
        np.float64,
    )


def test_plain_cross_entropy_stays_one_fused_node_and_options_use_nll_loss() -> None:
    logits = cr.tensor(np.random.default_rng(6).normal(size=(4, 3)), requires_grad=True)
    targets = np.array([0, 2, 1, 2])
    assert F.cross_entropy(logits, targets).grad_fn.primitive is P.SoftmaxCrossEntropy
    assert nn.CrossEntropyLoss()(logits, targets).grad_fn.primitive is P.SoftmaxCrossEntropy
    # An ignore_index among the classes takes nll_loss even while absent from the targets:
    # the choice may not depend on their values, which chainrule.compile would freeze.
    absent = F.cross_entropy(logits, np.array([0, 1, 1, 0]), ignore_index=2)
    assert absent.grad_fn.primitive is P.NLLLoss
    weighted = F.cross_entropy(logits, targets, np.ones(3))
    assert weighted.grad_fn.primitive is P.NLLLoss
    assert F.cross_entropy(logits, targets, reduction="sum").grad_fn.primitive is P.NLLLoss


def test_weighted_cross_entropy_replays_under_compile() -> None:
    def losses(compiled: bool) -> list[float]:
        model = nn.Linear(4, 3, rng=np.random.default_rng(1), dtype=np.float64)
        optimizer = cr.optim.SGD(model.parameters(), lr=0.1)
        criterion = nn.CrossEntropyLoss(
            np.array([1.0, 2.0, 0.5]), ignore_index=1, label_smoothing=0.1
        )

        def step(x: np.ndarray, y: np.ndarray) -> cr.Tensor:
            optimizer.zero_grad()
            loss = criterion(model(x), y)
            loss.backward()
            optimizer.step()
            return loss

        run = cr.compile(step) if compiled else step
        batches = np.random.default_rng(5)
        return [
            float(run(batches.normal(size=(5, 4)), batches.integers(0, 3, size=5)).numpy())
            for _ in range(4)
        ]

    assert losses(True) == losses(False)


# ------------------------------------------------------------------ nll_loss
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("shape", [(6, 4), (2, 4, 3)], ids=str)
@pytest.mark.parametrize(
    ("weighted", "reduction", "ignore_index"),
    list(itertools.product([False, True], ["mean", "sum", "none"], [-100, 1])),
)
def test_nll_loss_matches_torch(
    torch: ModuleType,
    shape: tuple[int, ...],
    weighted: bool,
    reduction: str,
    ignore_index: int,
    dtype: Any,
) -> None:
    rng = np.random.default_rng(8)
    log_probs = rng.normal(size=shape)
    targets = rng.integers(0, shape[1], size=(shape[0], *shape[2:]))
    weight = rng.uniform(0.2, 3.0, size=shape[1]) if weighted else None
    ours = nn.NLLLoss(weight, ignore_index=ignore_index, reduction=reduction)
    theirs = torch.nn.NLLLoss(
        _torch_array(torch, weight, dtype), ignore_index=ignore_index, reduction=reduction
    )
    _compare(
        torch,
        lambda p: ours(p, targets),
        lambda p: theirs(p, torch.from_numpy(targets)),
        [log_probs],
        dtype,
    )


def test_nll_of_log_softmax_is_cross_entropy() -> None:
    logits = np.random.default_rng(10).normal(size=(5, 3, 2))
    targets = np.array([[0, 1], [2, 2], [1, 0], [0, 0], [2, 1]])
    weight = np.array([0.3, 1.0, 2.0])
    composed = F.nll_loss(cr.log_softmax(logits, axis=1), targets, weight)
    np.testing.assert_allclose(
        composed.numpy(), F.cross_entropy(logits, targets, weight).numpy(), rtol=1e-15
    )


# ------------------------------------------------------------------ BCE with logits
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize(
    ("weight_shape", "pos_weight_shape"),
    [(None, None), ((4,), None), (None, (4,)), ((3, 4), (4,)), ((3, 1), (1,))],
    ids=str,
)
def test_bce_with_logits_loss_matches_torch(
    torch: ModuleType,
    weight_shape: tuple[int, ...] | None,
    pos_weight_shape: tuple[int, ...] | None,
    reduction: str,
    dtype: Any,
) -> None:
    rng = np.random.default_rng(12)
    logits = 6 * rng.normal(size=(3, 4))
    targets = rng.uniform(size=(3, 4))
    weight = None if weight_shape is None else rng.uniform(0.2, 2.0, size=weight_shape)
    pos_weight = None if pos_weight_shape is None else rng.uniform(0.5, 4.0, size=pos_weight_shape)
    ours = nn.BCEWithLogitsLoss(weight, reduction=reduction, pos_weight=pos_weight)
    theirs = torch.nn.BCEWithLogitsLoss(
        _torch_array(torch, weight, dtype),
        reduction=reduction,
        pos_weight=_torch_array(torch, pos_weight, dtype),
    )
    _compare(torch, ours, theirs, [logits, targets], dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_bce_with_logits_is_stable_for_large_logits(torch: ModuleType, dtype: Any) -> None:
    # After PyTorch's test_nn (test_bce_with_logits_stability): logits of +-1e4 and beyond.
    logits = np.array([-1e4, -800.0, -50.0, 50.0, 800.0, 1e4])
    targets = np.array([0.0, 1.0, 0.3, 1.0, 0.0, 0.6])
    _compare(
        torch,
        lambda z, t: F.binary_cross_entropy_with_logits(z, t, reduction="none"),
        lambda z, t: torch.nn.functional.binary_cross_entropy_with_logits(z, t, reduction="none"),
        [logits, targets],
        dtype,
    )


def test_bce_with_logits_equals_bce_of_the_sigmoid() -> None:
    # Ported from PyTorch's test_nn (test_bce_with_logits_gives_same_result_as_sigmoid_and_
    # bce_loss), with the binary cross-entropy written out.
    rng = np.random.default_rng(13)
    logits, targets = rng.normal(size=(4, 3)), rng.uniform(size=(4, 3))
    probabilities = 1 / (1 + np.exp(-logits))
    expected = -np.mean(targets * np.log(probabilities) + (1 - targets) * np.log1p(-probabilities))
    got = F.binary_cross_entropy_with_logits(logits, targets).item()
    assert got == pytest.approx(expected, rel=1e-13)


# ------------------------------------------------------------------ errors
ERRORS = [
    (
        lambda: F.cross_entropy(np.ones((2, 3)), np.array([0.5, 1.0])),
        TypeError,
        r"cross_entropy: targets must be integer class indices, got dtype float64",
    ),
    (
        lambda: F.cross_entropy(np.ones((2, 3, 4)), np.array([0, 1])),
        ValueError,
        r"cross_entropy: targets must have shape \(2, 4\) for logits \(2, 3, 4\), got \(2,\)",
    ),
    (
        lambda: F.cross_entropy(np.ones((2, 3, 2)), np.array([[0, 1], [3, 0]])),
        ValueError,
        r"cross_entropy: target 3 at index \(1, 0\) is outside the 3 classes \[0, 2\]",
    ),
    (
        lambda: F.cross_entropy(np.ones((2, 3)), np.array([0, -1])),
        ValueError,
        r"cross_entropy: target -1 at index 1 is outside the 3 classes",
    ),
    (
        lambda: F.cross_entropy(np.ones((2, 3)), np.ones((2, 3)) / 3, ignore_index=0),
        ValueError,
        r"cross_entropy: ignore_index is not supported with class-probability targets",
    ),
    (
        lambda: F.cross_entropy(np.ones((2, 3)), np.array([0, 1]), reduction="avg"),
        ValueError,
        r"cross_entropy: reduction must be 'mean', 'sum' or 'none', got 'avg'",
    ),
    (
        lambda: F.cross_entropy(np.ones((2, 3)), np.array([0, 1]), label_smoothing=1.5),
        ValueError,
        r"cross_entropy: label_smoothing must be in \[0, 1\]",
    ),
    (
        lambda: F.cross_entropy(np.ones((2, 3)), np.array([0, 1]), np.ones(2)),
        ValueError,
        r"cross_entropy: weight must have one entry per class, shape \(3,\), got \(2,\)",
    ),
    (lambda: F.nll_loss(np.ones(3), np.array(0)), ValueError, r"nll_loss: input must be \(N, C\)"),
    (
        lambda: F.nll_loss(np.ones((2, 3)), np.array([0, 5])),
        ValueError,
        r"nll_loss: target 5 at index 1 is outside the 3 classes",
    ),
    (
        lambda: F.nll_loss(np.ones((2, 3)), np.array(["a", "b"])),
        TypeError,
        r"nll_loss: targets must be integer class indices",
    ),
    (
        lambda: F.binary_cross_entropy_with_logits(np.ones((2, 3)), np.ones(3)),
        ValueError,
        r"binary_cross_entropy_with_logits: target has shape \(3,\) but input has shape \(2, 3\)",
    ),
    (
        lambda: F.binary_cross_entropy_with_logits(
            np.ones((2, 3)), np.ones((2, 3)), pos_weight=np.ones(2)
        ),
        ValueError,
        r"binary_cross_entropy_with_logits: pos_weight of shape \(2,\) does not broadcast to "
        r"the input's shape \(2, 3\)",
    ),
    (
        lambda: nn.BCEWithLogitsLoss(reduction="batchmean"),
        ValueError,
        r"BCEWithLogitsLoss: reduction must be",
    ),
    (
        lambda: nn.CrossEntropyLoss(label_smoothing=-0.1),
        ValueError,
        r"CrossEntropyLoss: label_smoothing must be in \[0, 1\]",
    ),
]


@pytest.mark.parametrize(
    ("call", "error", "message"), ERRORS, ids=[str(i) for i in range(len(ERRORS))]
)
def test_bad_targets_and_options_are_refused_with_the_fix(
    call: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        call()


def test_loss_weights_are_buffers_in_the_state_dict() -> None:
    criterion = nn.CrossEntropyLoss(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(criterion.state_dict()["weight"], [1.0, 2.0, 3.0])
    assert nn.CrossEntropyLoss().state_dict() == {}
    assert set(nn.BCEWithLogitsLoss(np.ones(2), pos_weight=np.ones(2)).state_dict()) == {
        "weight",
        "pos_weight",
    }


# ------------------------------------------------------------------ mean squared error
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("shape", [(5, 1), (3, 4, 2), (7,)], ids=str)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss_matches_torch_for_every_reduction(
    torch: ModuleType, dtype: Any, shape: tuple[int, ...], reduction: str
) -> None:
    rng = np.random.default_rng(4)
    arrays = [rng.normal(size=shape), rng.normal(size=shape)]
    _compare(
        torch,
        nn.MSELoss(reduction=reduction),
        torch.nn.MSELoss(reduction=reduction),
        arrays,
        dtype,
    )
    _compare(
        torch,
        lambda p, t: F.mse_loss(p, t, reduction=reduction),
        lambda p, t: torch.nn.functional.mse_loss(p, t, reduction=reduction),
        arrays,
        dtype,
    )


def test_mse_loss_of_no_entries_sums_to_0_and_keeps_the_empty_shape_as_torch() -> None:
    empty = cr.tensor(np.zeros((0, 3)), requires_grad=True)
    summed = F.mse_loss(empty, np.zeros((0, 3)), reduction="sum")
    assert summed.shape == ()
    assert summed.item() == 0.0
    assert F.mse_loss(empty, np.zeros((0, 3)), reduction="none").shape == (0, 3)
    with pytest.raises(ValueError, match="mse_loss: the inputs are empty"):
        F.mse_loss(empty, np.zeros((0, 3)))


@pytest.mark.parametrize(
    "make",
    [
        lambda: nn.MSELoss(reduction="avg"),
        lambda: F.mse_loss(np.ones(2), np.ones(2), reduction="avg"),
    ],
    ids=["module", "functional"],
)
def test_mse_loss_names_a_wrong_reduction(make: Any) -> None:
    with pytest.raises(ValueError, match=r"(MSELoss|mse_loss): reduction must be 'mean', 'sum'"):
        make()


@pytest.mark.parametrize("loss", [F.cross_entropy, nn.CrossEntropyLoss()], ids=["F", "module"])
def test_an_integer_tensor_target_of_the_logits_shape_is_not_read_as_probabilities(
    loss: Any,
) -> None:
    """torch refuses it ("Expected floating point type for target with class
    probabilities"); read as probabilities, one-hot int labels or a square batch of class
    indices (N == C) gave a loss without a word."""
    targets = cr.tensor(np.array([[0, 2, 1], [1, 0, 2], [2, 1, 0]]), dtype=np.int64)
    with pytest.raises(ValueError, match=r"targets must have shape \(3,\) for logits \(3, 3\)"):
        loss(np.zeros((3, 3)), targets)
