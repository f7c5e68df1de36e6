"""Softmax cross-entropy by hand: the classification head of the manual engine.

The loss of logits z (N, C) and class indices t (N,) is mean_i -log softmax(z_i)[t_i], and
its gradient, derived once and used as is: dloss/dz = (softmax(z) - onehot(t)) / N.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from chainrule._types import FloatArray
from chainrule.manual.validation import as_real_array, require_finite


@dataclass(frozen=True)
class SoftmaxSaved:
    """What backward needs: the softmax probabilities and the target classes."""

    probs: FloatArray
    targets: npt.NDArray[np.intp]


def _check_targets(logits: FloatArray, targets: npt.ArrayLike) -> npt.NDArray[np.intp]:
    classes = np.asarray(targets)
    if classes.dtype.kind not in "iu":
        raise TypeError(
            f"SoftmaxCrossEntropy.forward: targets must be integer class indices, got dtype "
            f"{classes.dtype}; for one-hot targets pass targets.argmax(axis=1)"
        )
    count, num_classes = logits.shape
    if classes.shape != (count,):
        raise ValueError(
            f"SoftmaxCrossEntropy.forward: targets must have shape ({count},) for logits of "
            f"shape {logits.shape}, got {classes.shape}: one class index per row"
        )
    out_of_range = (classes < 0) | (classes >= num_classes)
    if out_of_range.any():
        first = int(np.argmax(out_of_range))
        raise ValueError(
            f"SoftmaxCrossEntropy.forward: target {int(classes[first])} at index {first} is "
            f"outside the {num_classes} classes 0 .. {num_classes - 1}; give the last layer "
            f"as many outputs as there are classes"
        )
    # A copy (N integers, no cost to speak of): the caller may refill its label buffer
    # before backward, which must use the targets this forward validated.
    return classes.astype(np.intp, copy=True)


class SoftmaxCrossEntropy:
    """loss = mean_i -log softmax(logits_i)[targets_i];  dloss/dlogits = (p - onehot) / N
    with p = softmax(logits) row by row.

    Stable for logits of any size: with m_i = max_j z_ij, log softmax(z_i)_j =
    (z_ij - m_i) - log sum_k exp(z_ik - m_i), where every exponent is <= 0.

    Example:
        >>> criterion = SoftmaxCrossEntropy()
        >>> loss = criterion.forward(np.array([[2.0, 0.0]]), np.array([0]))
        >>> grad_logits = criterion.backward()   # (softmax - onehot) / N, shape (1, 2)
    """

    def __init__(self) -> None:
        self.saved: SoftmaxSaved | None = None

    def forward(self, logits: npt.ArrayLike, targets: npt.ArrayLike) -> float:
        logits = as_real_array("SoftmaxCrossEntropy.forward", "logits", logits)
        if logits.ndim != 2 or logits.shape[0] == 0:
            raise ValueError(
                f"SoftmaxCrossEntropy.forward got logits of shape {logits.shape}, expected "
                f"(N, C) with N >= 1: one row of class scores per example"
            )
        require_finite("logits", logits)
        classes = _check_targets(logits, targets)
        shifted = logits - logits.max(axis=1, keepdims=True)
        exp_shifted = np.exp(shifted)
        sum_exp = exp_shifted.sum(axis=1, keepdims=True)
        rows = np.arange(logits.shape[0])
        log_likelihood = shifted[rows, classes] - np.log(sum_exp[:, 0])
        self.saved = SoftmaxSaved(exp_shifted / sum_exp, classes)
        return float(-log_likelihood.mean())

    def backward(self, grad_out: float = 1.0) -> FloatArray:
        """dloss/dlogits = grad_out * (softmax(logits) - onehot(targets)) / N."""
        if self.saved is None:
            raise RuntimeError(
                "SoftmaxCrossEntropy.backward called before forward: backward uses what "
                "forward saved; call forward(logits, targets) first"
            )
        probs, classes = self.saved.probs, self.saved.targets
        grad_logits: FloatArray = probs.copy()
        grad_logits[np.arange(probs.shape[0]), classes] -= 1
        grad_logits *= grad_out / probs.shape[0]
        return grad_logits

    def __repr__(self) -> str:
        return "SoftmaxCrossEntropy()"
