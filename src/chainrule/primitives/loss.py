"""Fused losses: one node each instead of four or five, and numerically stable.

Each is tested against the composite built from other primitives. The rules compute in
their inputs' array namespace (chainrule.backends), with NumPy fast paths.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.backends import is_recording, namespace
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
        xp = namespace(diff)
        return xp.mean(diff * diff), (diff, diff.size)

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


class TargetOutsideClasses(ValueError):
    """A target of the fused cross-entropy node outside the classes [0, C):
    functional.cross_entropy catches it to refuse the target by position, or to take the
    general path where it is the ignore_index."""


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
        # The only check of the targets' range on the plain path: functional.cross_entropy
        # catches the error to say more (or to ignore ignore_index); a compiled replay, which
        # reruns this on new targets, passes it on.
        outside = _first_outside(targets, classes)
        if outside is not None:
            raise TargetOutsideClasses(
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
            # A 0-d array, as the engine would make of NumPy's scalar (a call fewer a step).
            probs = np.divide(exp_shifted, sum_exp, out=exp_shifted)
            return np.asarray(loss), (probs, targets)
        xp = namespace(logits)
        raw = plain_values(logits) if is_recording(logits) else logits
        shifted = logits - xp.max(raw, axis=1, keepdims=True)
        exp_shifted = xp.exp(shifted)
        sum_exp = xp.sum(exp_shifted, axis=1, keepdims=True)
        picked = xp.take_along_axis(shifted, xp.reshape(targets, (count, 1)), axis=1)
        if not is_recording(logits):
            # Under jax.jit the check above sees no values: a target outside the classes makes
            # the loss NaN there, where JAX would read -1 as the last class.
            inside = (targets >= 0) & (targets < classes)
            picked = xp.where(xp.reshape(inside, (count, 1)), picked, xp.nan)
        loss = (xp.sum(xp.log(sum_exp)) - xp.sum(picked)) / count
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
        xp = namespace(probs)
        classes = xp.arange(
            probs.shape[1],
            dtype=targets.dtype,
            device=None if xp is np else getattr(probs, "device", None),
        )
        onehot = xp.astype(xp.reshape(targets, (count, 1)) == classes, probs.dtype)
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


def _first_outside(targets: Any, classes: int) -> int | None:
    """The first target outside [0, classes), or None when all are classes (or when the
    targets are traced by jax.jit, whose values are known only when the compiled step runs)."""
    if type(targets) is np.ndarray:
        # The ufuncs' reductions: ndarray.min/max are Python wrappers around the same calls.
        if not targets.size or (
            np.minimum.reduce(targets, axis=None) >= 0
            and np.maximum.reduce(targets, axis=None) < classes
        ):
            return None
        return int(targets[(targets < 0) | (targets >= classes)][0])
    xp = namespace(targets)
    outside = (targets < 0) | (targets >= classes)
    try:
        if not bool(xp.any(outside)):
            return None
    except TypeError:  # jax.jit's tracers refuse bool(): nothing to check before the run
        return None
    return int(targets[outside][0])
