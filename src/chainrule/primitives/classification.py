"""The negative log-likelihood of class indices, PyTorch's nll_loss with its class weights,
ignore_index, reductions and label smoothing in one node.

`chainrule.functional.cross_entropy` applies it to log_softmax(logits) wherever the fused
SoftmaxCrossEntropy (primitives/loss.py) does not fit: weights, ignored targets, (N, C, d1,
...) inputs, other reductions or label smoothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.primitives.base import Grads, Primitive, Saved, plain_values
from chainrule.primitives.call import call, is_array
from chainrule.primitives.reading import Rule, linear_map
from chainrule.primitives.shape import ScatterAdd


class NLLLoss(Primitive):
    """For log-probabilities p of shape (N, C, d1, ...) and class indices t (N, d1, ...),
    per position i (keep_i = [t_i != ignore_index], w the class weights, eps the smoothing):

        loss_i = keep_i ((1 - eps) (-w[t_i] p[i, t_i]) + eps / C (-sum_c w[c] p[i, c]))

    reduced by "none", "sum" or "mean" (divided by sum_i keep_i w[t_i], PyTorch's weighted
    mean; NaN when that is 0). The loss is linear in p: dloss_i/dp[i, c] = -keep_i ((1 - eps)
    w[t_i] [c = t_i] + eps w[c] / C), divided by the same sum for "mean".
    """

    name = "nll_loss"
    reading = Rule(
        "nll_loss($a, t)",
        r"\operatorname{NLL}($a, t)",
        (linear_map("-w[t] (1 - eps) . at t, -eps w / C . elsewhere", r"-w_t (\cdot)"),),
    )

    @staticmethod
    def forward(
        log_probs: Any,
        *,
        targets: np.ndarray,
        weight: np.ndarray | None,
        ignore_index: int,
        reduction: str,
        label_smoothing: float,
    ) -> tuple[Any, Saved]:
        raw = plain_values(log_probs)
        classes = raw.shape[1]
        keep = targets != ignore_index
        safe = np.where(keep, targets, 0)
        grids = [
            np.arange(size).reshape([size if k == axis else 1 for k in range(targets.ndim)])
            for axis, size in enumerate(targets.shape)
        ]
        index = (grids[0], safe, *grids[1:])
        weights = np.ones(classes, raw.dtype) if weight is None else weight.astype(raw.dtype)
        picked_weight = weights[safe] * keep
        # Each position's gradient factor: -(1 - eps) w[t] at t (scattered), -eps w[c] / C
        # along the class axis (dense, absent without smoothing).
        picked_factor = -(1 - label_smoothing) * picked_weight
        spread = [1] * raw.ndim
        spread[1] = classes
        dense_factor = None
        if label_smoothing:
            dense_factor = (-label_smoothing / classes) * (
                np.expand_dims(keep, 1) * weights.reshape(spread)
            )
        if reduction == "mean":
            total = np.sum(picked_weight)
            scale = 1 / total if total > 0 else 0
            picked_factor = picked_factor * scale
            dense_factor = None if dense_factor is None else dense_factor * scale
        saved = (raw.shape, index, picked_factor.astype(raw.dtype), dense_factor, reduction)
        if not is_array(log_probs):
            return call(
                NLLLoss,
                log_probs,
                targets=targets,
                weight=weight,
                ignore_index=ignore_index,
                reduction=reduction,
                label_smoothing=label_smoothing,
            ), saved
        losses = raw[index] * picked_factor
        if dense_factor is not None:
            losses = losses + np.sum(raw * dense_factor, axis=1)
        if reduction == "none":
            return losses.astype(raw.dtype, copy=False), saved
        if reduction == "mean" and not np.sum(picked_weight) > 0:
            return np.array(np.nan, dtype=raw.dtype), saved
        return np.asarray(np.sum(losses), dtype=raw.dtype), saved

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        shape, index, picked_factor, dense_factor, reduction = saved
        grad = call(ScatterAdd, grad_out * picked_factor, shape=shape, index=index)
        if dense_factor is not None:
            spread = (
                grad_out if reduction != "none" else grad_out.reshape((shape[0], 1, *shape[2:]))
            )
            grad = grad + spread * dense_factor
        return (grad,)
