"""The negative log-likelihood of class indices, PyTorch's nll_loss with its class weights,
ignore_index, reductions and label smoothing in one node.

`chainrule.functional.cross_entropy` applies it to log_softmax(logits) wherever the fused
SoftmaxCrossEntropy (primitives/loss.py) does not fit: weights, ignored targets, (N, C, d1,
...) inputs, other reductions or label smoothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.backends import creation_device, is_recording, namespace
from chainrule.primitives.base import Grads, Primitive, Saved, plain_values
from chainrule.primitives.call import call
from chainrule.primitives.reading import Rule, linear_map
from chainrule.primitives.shape import ScatterAdd


class NLLLoss(Primitive):
    """For log-probabilities p of shape (N, C, d1, ...) and class indices t (N, d1, ...),
    per position i (keep_i = [t_i != ignore_index], w the class weights, eps the smoothing):

        loss_i = keep_i ((1 - eps) (-w[t_i] p[i, t_i]) + eps / C (-sum_c w[c] p[i, c]))

    (0 where keep_i = 0, whatever p[i] holds: -inf or NaN there are not multiplied in).

    reduced by "none", "sum" or "mean" (divided by sum_i keep_i w[t_i], PyTorch's weighted
    mean; NaN when that is 0). The loss is linear in p: dloss_i/dp[i, c] = -keep_i ((1 - eps)
    w[t_i] [c = t_i] + eps w[c] / C), divided by the same sum for "mean".
    """

    name = "nll_loss"
    reading = Rule(
        "nll_loss($a, t)",
        r"\operatorname{NLL}($a, t)",
        (linear_map("$nll_rule", "$nll_rule_latex"),),
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
        raw = plain_values(log_probs) if is_recording(log_probs) else log_probs
        xp = namespace(raw)
        classes = raw.shape[1]
        counted = targets != ignore_index
        if type(targets) is np.ndarray:
            # functional checks the targets before making this node; this is for
            # chainrule.compile's replays, which rerun it on new targets without that (a -1
            # was taken as the last class). JAX-traced targets have no values to check.
            outside = counted & ((targets < 0) | (targets >= classes))
            if outside.any():
                raise ValueError(
                    f"nll_loss (and cross_entropy's general path): target "
                    f"{int(targets[outside].flat[0])} is outside the {classes} classes "
                    f"[0, {classes - 1}] and is not ignore_index={ignore_index}; pass class "
                    "indices in range, or mark skipped positions with ignore_index"
                )
        keep = xp.astype(counted, raw.dtype)
        safe = xp.where(counted, targets, 0)
        weights = (
            xp.ones(classes, dtype=raw.dtype, device=creation_device(raw))
            if weight is None
            else xp.astype(weight, raw.dtype)
        )
        picked_weight = xp.reshape(xp.take(weights, xp.reshape(safe, (-1,))), safe.shape) * keep
        # Each position's gradient factor: -(1 - eps) w[t] at t (scattered), -eps w[c] / C
        # along the class axis (dense, absent without smoothing).
        picked_factor = -(1 - label_smoothing) * picked_weight
        spread = [1] * raw.ndim
        spread[1] = classes
        dense_factor = None
        if label_smoothing:
            dense_factor = (-label_smoothing / classes) * (
                xp.expand_dims(keep, axis=1) * xp.reshape(weights, tuple(spread))
            )
        total = xp.sum(picked_weight)
        if reduction == "mean":
            # 0 where the counted weights sum to 0 (the loss is NaN then), without branching
            # on a value; a negative sum (negative class weights) divides, as in torch.
            scale = xp.where(total != 0, 1 / xp.where(total != 0, total, 1), 0)
            picked_factor = picked_factor * scale
            dense_factor = None if dense_factor is None else dense_factor * scale
        saved = (raw.shape, safe, xp.astype(picked_factor, raw.dtype), dense_factor, reduction)
        if is_recording(log_probs):
            return call(
                NLLLoss,
                log_probs,
                targets=targets,
                weight=weight,
                ignore_index=ignore_index,
                reduction=reduction,
                label_smoothing=label_smoothing,
            ), saved
        picked = xp.take_along_axis(raw, xp.expand_dims(safe, axis=1), axis=1)
        losses = xp.squeeze(picked, axis=1) * picked_factor
        if dense_factor is not None:
            losses = losses + xp.sum(raw * dense_factor, axis=1)
        # An ignored position counts for nothing, as in PyTorch, whatever its input holds: a
        # factor of 0 alone would make its -inf or NaN (a masked-out row) a NaN loss.
        losses = xp.where(counted, losses, xp.zeros_like(losses))
        if reduction == "none":
            return xp.astype(losses, raw.dtype, copy=False), saved
        loss = xp.asarray(xp.sum(losses), dtype=raw.dtype)
        return (xp.where(total != 0, loss, xp.nan) if reduction == "mean" else loss), saved

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        shape, safe, picked_factor, dense_factor, reduction = saved
        picked_grad = grad_out * picked_factor
        xp = namespace(picked_grad)
        if xp is np:
            # A scatter (Tensors too: recorded): 10x faster than the one-hot below at 1000
            # classes, which NumPy spends comparing and multiplying every class.
            grad = call(ScatterAdd, picked_grad, shape=shape, index=_class_index(safe))
        else:
            classes = xp.arange(
                shape[1],
                dtype=safe.dtype,
                device=getattr(safe, "device", None),
            )
            onehot = xp.expand_dims(safe, axis=1) == xp.reshape(
                classes, (1, -1, *[1] * (len(shape) - 2))
            )
            grad = xp.where(onehot, xp.expand_dims(picked_grad, axis=1), 0)
        if dense_factor is not None:
            spread = (
                grad_out if reduction != "none" else xp.reshape(grad_out, (shape[0], 1, *shape[2:]))
            )
            grad = grad + spread * dense_factor
        return (grad,)


def _class_index(safe: np.ndarray) -> tuple[np.ndarray, ...]:
    """The index of each position's class entry in the (N, C, d1, ...) input: the positions'
    own grids with the class indices `safe` (N, d1, ...) on axis 1."""
    grids = [
        np.arange(size).reshape([size if k == axis else 1 for k in range(safe.ndim)])
        for axis, size in enumerate(safe.shape)
    ]
    return (grids[0], safe, *grids[1:])
