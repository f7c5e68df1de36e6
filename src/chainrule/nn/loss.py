"""Losses as modules, wrapping `chainrule.functional`: MSELoss and CrossEntropyLoss."""

from __future__ import annotations

from typing import Any

from chainrule import functional as F
from chainrule.nn.module import Module
from chainrule.tensor import Tensor


class MSELoss(Module):
    """mean((pred - target)**2) over all entries;  dL/dpred = 2 (pred - target) / n.
    `pred` and `target` must have the same shape."""

    def forward(self, pred: Any, target: Any) -> Tensor:
        return F.mse_loss(pred, target)


class CrossEntropyLoss(Module):
    """mean over i of -log softmax(logits_i)[targets_i] for logits (N, C) and integer class
    targets (N,);  dL/dlogits = (softmax(logits) - onehot(targets)) / N."""

    def forward(self, logits: Any, targets: Any) -> Tensor:
        return F.cross_entropy(logits, targets)
