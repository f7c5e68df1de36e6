"""Fused losses: one node each instead of four or five, and numerically stable.

Each is tested against the composite built from other primitives. The rules compute in
their inputs' array namespace (chainrule.backends), with NumPy fast paths.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.backends import is_recording, namespace, to_numpy
from chainrule.primitives.base import Grads, Outs, Primitive, Saved, plain_values
from chainrule.primitives.call import call
from chainrule.primitives.reading import Rule, entrywise
from chainrule.primitives.scatter import owned_index


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
            return np.asarray(loss), (probs, owned_index(targets))
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
        # The node's own copy: the caller's targets may change before the backward.
        return loss, (probs, owned_index(targets))

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


LOG_FLOOR = -100.0
"""binary_cross_entropy's logarithms are kept >= -100, as PyTorch's."""
PRODUCT_FLOOR = float(np.float32(1e-12))
"""The floor of p (1 - p) in binary_cross_entropy's gradient: PyTorch's 1e-12, a float32
(9.99999996e-13) in every dtype, as PyTorch 2.13 divides by it in float64 too."""


def _reads_of_bce(needs: tuple[bool, ...]) -> tuple[bool, ...]:
    """BinaryCrossEntropy's `reads`: both gradients read p, only dL/dp reads t."""
    return True, needs[0]


class BinaryCrossEntropy(Primitive):
    """L = -(t max(log p, -100) + (1 - t) max(log(1 - p), -100)) entry by entry, for
    probabilities p in [0, 1] and targets t of one shape;

        dL/dp = (p - t) / max(p (1 - p), 1e-12)        (PyTorch's, as its kernel)
        dL/dt = max(log(1 - p), -100) - max(log p, -100)

    dL/dp is the derivative of L wherever p (1 - p) >= 1e-12; closer to 0 or 1 it keeps
    pointing at the target (-5e11 at p = 0, t = 0.5), where the floored L is flat or slopes
    away. dL/dt is the derivative of L everywhere (PyTorch's, -logit(p), skips the floors:
    inf at p = 0 and 1). Both rules are written in recorded ops, with the floors taken by
    `where` on a safe operand, so second derivatives are finite at p = 0 and 1 too.

    The range check runs in forward, so chainrule.compile's NumPy replay repeats it on each
    new batch; under jax.jit (backend="xla") the values are unknown until the run, so an
    entry outside [0, 1] makes its loss NaN instead.
    """

    name = "binary_cross_entropy"
    reads = _reads_of_bce
    reading = Rule(
        "binary_cross_entropy($a, $b)",
        r"\operatorname{BCE}($a, $b)",
        (
            entrywise(
                "($a - $b) / max($a * (1 - $a), 1e-12)",
                r"\frac{$a - $b}{\max($a (1 - $a), 10^{-12})}",
            ),
            entrywise(
                "max(log(1 - $a), -100) - max(log($a), -100)",
                r"\max(\log(1 - $a), -100) - \max(\log $a, -100)",
            ),
        ),
    )

    @staticmethod
    def forward(probabilities: Any, targets: Any) -> tuple[Any, Saved]:
        saved = (probabilities, targets)
        if is_recording(probabilities) or is_recording(targets):
            # The recorded backward reruns forward on the Tensors for `saved` alone.
            return call(BinaryCrossEntropy, probabilities, targets), saved
        xp = namespace(probabilities, targets)
        inside = _check_probabilities(probabilities)
        log_p, log_q = _floored_logs(probabilities)
        loss = -(targets * log_p + (1 - targets) * log_q)
        if inside is not None:
            loss = xp.where(inside, loss, xp.nan)
        return loss, saved

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        probabilities, targets = saved
        grad_p = grad_t = None
        if needs[0]:
            xp = namespace(probabilities, targets)
            product = xp.maximum(probabilities * (1 - probabilities), PRODUCT_FLOOR)
            grad_p = grad_out * ((probabilities - targets) / product)
        if needs[1]:
            log_p, log_q = _floored_logs(probabilities)
            grad_t = grad_out * (log_q - log_p)
        return grad_p, grad_t


def _check_probabilities(probabilities: Any) -> Any:
    """Refuse probabilities outside [0, 1] (NaN included), naming the range found. For
    another library's arrays also the mask of the entries inside, with which forward turns
    the others' losses to NaN where the values cannot be read (JAX traced by jax.jit)."""
    xp = namespace(probabilities)
    if xp is not np:
        inside = (probabilities >= 0) & (probabilities <= 1)
        try:
            if not bool(xp.all(inside)):
                _check_probabilities(to_numpy(probabilities))  # on the host, to name them
        except TypeError:  # jax.jit's tracers refuse bool(): nothing to read before the run
            pass
        return inside
    values = np.asarray(probabilities)
    if values.size and not ((values >= 0) & (values <= 1)).all():
        raise ValueError(
            "binary_cross_entropy: input must hold probabilities in [0, 1], got values from "
            f"{values.min()} to {values.max()}; apply sigmoid first, or pass the logits to "
            "binary_cross_entropy_with_logits"
        )
    return None


def _floored_logs(probabilities: Any) -> tuple[Any, Any]:
    """max(log p, -100) and max(log(1 - p), -100) (log1p, as PyTorch). Each logarithm is
    taken of a safe operand (1 where p = 0, 0 where p = 1) and replaced by -100 there with
    `where`, so neither the value nor a recorded derivative meets log(0) (-inf, then NaN)."""
    xp = namespace(probabilities)
    raw = plain_values(probabilities)
    positive, below_one = raw > 0, raw < 1
    log_p = xp.maximum(xp.log(xp.where(positive, probabilities, 1.0)), LOG_FLOOR)
    log_q = xp.maximum(xp.log1p(-xp.where(below_one, probabilities, 0.0)), LOG_FLOOR)
    return xp.where(positive, log_p, LOG_FLOOR), xp.where(below_one, log_q, LOG_FLOOR)
