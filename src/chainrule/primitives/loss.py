"""Fused losses: one node each instead of four or five, and numerically stable.

Each is tested against the composite built from other primitives.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.primitives.base import Grads, Outs, Primitive, Saved, plain_values
from chainrule.primitives.reading import Rule, entrywise


class MSELoss(Primitive):
    """L = mean((p - t)**2) over all n entries;  dL/dp = 2 (p - t) / n,  dL/dt = -dL/dp."""

    name = "mse_loss"
    reading = Rule(
        "mse_loss($a, $b)",
        r"\operatorname{mse}($a, $b)",
        (
            entrywise("2 * ($a - $b) / $n", r"\frac{2 ($a - $b)}{$n}"),
            entrywise("-2 * ($a - $b) / $n", r"-\frac{2 ($a - $b)}{$n}"),
        ),
    )

    @staticmethod
    def forward(pred: Any, target: Any) -> tuple[Any, Saved]:
        diff = pred - target
        return np.mean(diff * diff), (diff, diff.size)

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        diff, count = saved
        grad_pred = diff * (grad_out * (2 / count))
        return (grad_pred if needs[0] else None), (-grad_pred if needs[1] else None)

    @staticmethod
    def vjp_into(saved: Saved, grad_out: Any, needs: tuple[bool, ...], outs: Outs) -> Grads:
        """Inputs of one shape only (the compiler checks): dL/dp into outs[0]."""
        diff, count = saved
        out = outs[0] if needs[0] else None
        grad_pred = np.multiply(diff, grad_out * (2 / count), out=out)
        return (grad_pred if needs[0] else None), (-grad_pred if needs[1] else None)


class SoftmaxCrossEntropy(Primitive):
    """L = -mean_i log softmax(z_i)[t_i] for logits z (N, C) and class indices t (N,);
    dL/dz = (softmax(z) - onehot(t)) / N.

    The log-softmax subtracts each row's max first, so logits of 1e4 neither overflow nor
    lose the answer.
    """

    name = "cross_entropy"
    reading = Rule(
        "cross_entropy($a, t)",
        r"\operatorname{CE}($a, t)",
        (
            entrywise(
                "(softmax($a) - onehot(t)) / $n",
                r"\frac{\operatorname{softmax}($a) - "
                r"\operatorname{onehot}(t)}{$n}",
            ),
        ),
    )

    @staticmethod
    def forward(logits: Any, *, targets: np.ndarray) -> tuple[Any, Saved]:
        count, classes = logits.shape
        # functional.cross_entropy checks the targets before choosing this node; this check
        # is for chainrule.compile's replays, which rerun it on new targets without that.
        if targets.size and (targets.min() < 0 or targets.max() >= classes):
            outside = int(targets[(targets < 0) | (targets >= classes)][0])
            raise ValueError(
                f"cross_entropy: target {outside} is outside the {classes} classes "
                f"[0, {classes - 1}]; a step compiled with chainrule.compile on targets that "
                "were all classes took the fused plain path, which has no ignore_index: "
                "pass weight=np.ones(C) to trace the general path, or run the step eagerly"
            )
        if type(logits) is np.ndarray:
            # The same reductions as below, called on the ufuncs themselves: np.max and
            # np.sum are Python wrappers around exactly these calls (same results, bit for
            # bit) that cost more than the arithmetic on a (batch, classes) array.
            shifted = logits - np.maximum.reduce(logits, axis=1, keepdims=True)
            exp_shifted = np.exp(shifted)
            sum_exp = np.add.reduce(exp_shifted, axis=1, keepdims=True)
            picked = shifted[np.arange(count), targets]
            loss = (np.add.reduce(np.log(sum_exp), axis=None) - np.add.reduce(picked)) / count
            return loss, (np.divide(exp_shifted, sum_exp, out=exp_shifted), targets)
        shifted = logits - np.max(plain_values(logits), axis=1, keepdims=True)
        exp_shifted = np.exp(shifted)
        sum_exp = np.sum(exp_shifted, axis=1, keepdims=True)
        picked = shifted[np.arange(count), targets]
        loss = (np.sum(np.log(sum_exp)) - np.sum(picked)) / count
        probs = exp_shifted / sum_exp
        return loss, (probs, targets)

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        probs, targets = saved
        count = probs.shape[0]
        if isinstance(probs, np.ndarray):
            # One new array instead of a one-hot, a difference and a product; `probs` stays
            # intact for a retained graph's second backward.
            scale = grad_out / count
            grad = probs * scale
            grad[np.arange(count), targets] -= scale
            return (grad,)
        onehot = np.zeros(probs.shape, dtype=probs.dtype)
        onehot[np.arange(count), targets] = 1
        return ((probs - onehot) * (grad_out / count),)

    @staticmethod
    def vjp_into(saved: Saved, grad_out: Any, needs: tuple[bool, ...], outs: Outs) -> Grads:
        """`vjp`'s array path, into outs[0]."""
        probs, targets = saved
        count = probs.shape[0]
        scale = grad_out / count
        grad = np.multiply(probs, scale, out=outs[0])
        grad[np.arange(count), targets] -= scale
        return (grad,)
