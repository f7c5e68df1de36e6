"""Losses as modules, wrapping `chainrule.functional`: MSELoss, L1Loss, HuberLoss,
SmoothL1Loss, CrossEntropyLoss, NLLLoss, BCELoss and BCEWithLogitsLoss, with PyTorch's
arguments (the deprecated size_average and reduce aside)."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import functional as F
from chainrule.nn.module import Module
from chainrule.tensor import Tensor


class MSELoss(Module):
    """mean((pred - target)**2) over all entries;  dL/dpred = 2 (pred - target) / n.
    `pred` and `target` must have the same shape; `reduction` "sum" or "none" as
    `functional.mse_loss`."""

    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = _check_reduction("MSELoss", reduction)

    def forward(self, pred: Any, target: Any) -> Tensor:
        return F.mse_loss(pred, target, reduction=self.reduction)

    def extra_repr(self) -> str:
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"


def _check_reduction(layer: str, reduction: str) -> str:
    if reduction not in F.REDUCTIONS:
        raise ValueError(f"{layer}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    return reduction


def _constant(layer: str, name: str, value: Any) -> np.ndarray:
    """`value` as the float64 array a loss keeps as a buffer. A Tensor that requires grad is
    refused: the copy would get no gradient without a word (PyTorch's backward refuses it)."""
    if isinstance(value, Tensor) and value.requires_grad:
        raise TypeError(
            f"{layer}: {name} is a constant of the loss and gets no gradient (PyTorch's "
            f"backward refuses one too), but got a Tensor that requires grad; pass "
            f"{name}.detach()"
        )
    values = value.detach().numpy() if isinstance(value, Tensor) else value
    return np.array(values, dtype=np.float64)


class _WeightedLoss(Module):
    """A loss with optional per-class weights, kept as a buffer (in state_dict) as PyTorch."""

    weight: np.ndarray | None

    def __init__(self, weight: Any, reduction: str) -> None:
        super().__init__()
        self.reduction = _check_reduction(type(self).__name__, reduction)
        if weight is None:
            self.weight = None
        else:
            self.register_buffer("weight", _constant(type(self).__name__, "weight", weight))


class CrossEntropyLoss(_WeightedLoss):
    """-log softmax(logits)[target] per sample, reduced: see `functional.cross_entropy` for
    targets given as class indices (N, d1, ...) or probabilities, `weight` (C,),
    `ignore_index`, `label_smoothing` and the weighted mean;
    dL/dlogits = (softmax(logits) - onehot(targets)) / N for the plain mean."""

    def __init__(
        self,
        weight: Any = None,
        *,
        ignore_index: int = -100,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(weight, reduction)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(
                f"CrossEntropyLoss: label_smoothing must be in [0, 1], got {label_smoothing!r}"
            )
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, logits: Any, targets: Any) -> Tensor:
        return F.cross_entropy(
            logits,
            targets,
            self.weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            label_smoothing=self.label_smoothing,
        )


class NLLLoss(_WeightedLoss):
    """-input[i, target_i] * weight[target_i] per sample for log-probabilities (N, C) or
    (N, C, d1, ...), reduced: see `functional.nll_loss`;  dL/dinput[i, t_i] = -w[t_i] / W
    for the mean, W the summed weights of the counted targets (their number without weights)."""

    def __init__(
        self, weight: Any = None, *, ignore_index: int = -100, reduction: str = "mean"
    ) -> None:
        super().__init__(weight, reduction)
        self.ignore_index = ignore_index

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.nll_loss(
            input, target, self.weight, ignore_index=self.ignore_index, reduction=self.reduction
        )


class BCEWithLogitsLoss(Module):
    """Binary cross-entropy of sigmoid(input) against target, computed from the logits so it
    is stable for any size: see `functional.binary_cross_entropy_with_logits`;
    dL/dinput = weight (sigmoid(input) - target) / n without pos_weight."""

    weight: np.ndarray | None
    pos_weight: np.ndarray | None

    def __init__(
        self, weight: Any = None, *, reduction: str = "mean", pos_weight: Any = None
    ) -> None:
        super().__init__()
        self.reduction = _check_reduction("BCEWithLogitsLoss", reduction)
        for name, value in (("weight", weight), ("pos_weight", pos_weight)):
            if value is None:
                setattr(self, name, None)
            else:
                self.register_buffer(name, _constant("BCEWithLogitsLoss", name, value))

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.binary_cross_entropy_with_logits(
            input, target, self.weight, reduction=self.reduction, pos_weight=self.pos_weight
        )


class L1Loss(Module):
    """mean(abs(pred - target));  dL/dpred = sign(pred - target) / n (0 where equal, as
    PyTorch); `reduction` "sum" or "none" as `functional.l1_loss`."""

    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = _check_reduction("L1Loss", reduction)

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.l1_loss(input, target, reduction=self.reduction)

    def extra_repr(self) -> str:
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"


class HuberLoss(Module):
    """0.5 d**2 where abs(d) < delta, else delta (abs(d) - delta / 2), d = pred - target, reduced;
    dL/dpred = clip(d, -delta, delta) / n for the mean (`functional.huber_loss`)."""

    def __init__(self, *, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__()
        self.reduction = _check_reduction("HuberLoss", reduction)
        if not delta > 0:
            raise ValueError(f"HuberLoss: delta must be > 0, got {delta!r}")
        self.delta = float(delta)

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)

    def extra_repr(self) -> str:
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"


class SmoothL1Loss(Module):
    """HuberLoss(delta=beta) / beta (L1Loss when beta = 0), reduced;
    dL/dpred = clip(d / beta, -1, 1) / n for the mean (`functional.smooth_l1_loss`)."""

    def __init__(self, *, reduction: str = "mean", beta: float = 1.0) -> None:
        super().__init__()
        self.reduction = _check_reduction("SmoothL1Loss", reduction)
        if not beta >= 0:
            raise ValueError(f"SmoothL1Loss: beta must be >= 0, got {beta!r}")
        self.beta = float(beta)

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)

    def extra_repr(self) -> str:
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"


class BCELoss(_WeightedLoss):
    """-w (t log p + (1 - t) log(1 - p)) for probabilities p, logarithms kept >= -100 as
    PyTorch's, reduced (`functional.binary_cross_entropy`); `weight` broadcast against the
    losses, kept as a buffer. BCEWithLogitsLoss is the stable form for logits."""

    def __init__(self, weight: Any = None, *, reduction: str = "mean") -> None:
        super().__init__(weight, reduction)

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.binary_cross_entropy(input, target, self.weight, reduction=self.reduction)
