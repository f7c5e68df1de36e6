"""Losses as functions of tensors, in the style of `torch.nn.functional`."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import primitives as P
from chainrule.tensor import Tensor, as_tensor


def linear(x: Any, weight: Any, bias: Any = None) -> Tensor:
    """x @ weight + bias, weight stored (in_features, out_features) as in the tutorial's
    x @ w1;  dL/dx = g @ weight.T,  dL/dweight = x.T @ g,  dL/dbias = g summed over rows.

    With a bias it is one fused op; without, a plain matmul.
    """
    inputs, weight_tensor = as_tensor(x), as_tensor(weight)
    if weight_tensor.ndim != 2:
        raise ValueError(
            f"linear: weight must be 2-D (in_features, out_features), got {weight_tensor.shape}"
        )
    if inputs.ndim == 0 or inputs.shape[-1] != weight_tensor.shape[0]:
        raise ValueError(
            f"linear: input {inputs.shape} @ weight {weight_tensor.shape}: the input's last "
            f"dimension must be in_features={weight_tensor.shape[0]}"
        )
    if bias is None:
        return inputs @ weight_tensor
    bias_tensor = as_tensor(bias)
    if bias_tensor.shape != (weight_tensor.shape[1],):
        raise ValueError(
            f"linear: bias has shape {bias_tensor.shape}, expected ({weight_tensor.shape[1]},) "
            "to match out_features"
        )
    return Tensor.apply(P.Linear, inputs, weight_tensor, bias_tensor)


def mse_loss(pred: Any, target: Any) -> Tensor:
    """mean((pred - target)**2) over all entries;  dL/dpred = 2 (pred - target) / n.

    The shapes must be equal: a (N,) target against (N, 1) predictions would broadcast to
    (N, N) and give a wrong loss without any error.
    """
    pred_tensor = as_tensor(pred)
    target_tensor = (
        target
        if isinstance(target, Tensor)
        else Tensor(np.asarray(target), dtype=pred_tensor.dtype)
    )
    if pred_tensor.shape != target_tensor.shape:
        raise ValueError(
            f"mse_loss: pred has shape {pred_tensor.shape} but target has shape "
            f"{target_tensor.shape}; they must match exactly (broadcasting here silently "
            "averages the wrong differences); reshape the target, e.g. y.reshape(-1, 1)"
        )
    if pred_tensor.size == 0:
        raise ValueError("mse_loss: the inputs are empty; the mean of no values is undefined")
    return Tensor.apply(P.MSELoss, pred_tensor, target_tensor)


def cross_entropy(logits: Any, targets: Any) -> Tensor:
    """mean over i of -log softmax(logits_i)[targets_i];  dL/dlogits = (softmax - onehot) / N.

    `logits` is (N, C) real scores, `targets` (N,) integer class indices in [0, C). Stable for
    logits of any size: each row's max is subtracted before exponentiating.
    """
    logits_tensor = as_tensor(logits)
    classes = np.asarray(targets.numpy() if isinstance(targets, Tensor) else targets)
    if logits_tensor.ndim != 2:
        raise ValueError(
            f"cross_entropy: logits must be (N, C), got shape {logits_tensor.shape}; "
            "reshape a single sample with logits.reshape(1, -1)"
        )
    count, num_classes = logits_tensor.shape
    if classes.dtype.kind not in "iu":
        if classes.dtype.kind == "f" and np.all(classes == np.round(classes)):
            classes = classes.astype(np.int64)
        else:
            raise TypeError(
                f"cross_entropy: targets must be integer class indices, got dtype "
                f"{classes.dtype}; for one-hot or soft targets take their argmax"
            )
    if classes.shape != (count,):
        raise ValueError(
            f"cross_entropy: targets must have shape ({count},) for logits {logits_tensor.shape}"
            f", got {classes.shape}"
        )
    if count == 0:
        raise ValueError("cross_entropy: no samples (N = 0)")
    if classes.min() < 0 or classes.max() >= num_classes:
        out_of_range = (classes < 0) | (classes >= num_classes)
        first = int(np.argmax(out_of_range))
        raise ValueError(
            f"cross_entropy: target {int(classes[first])} at index {first} is outside the "
            f"{num_classes} classes [0, {num_classes - 1}]"
        )
    return Tensor.apply(P.SoftmaxCrossEntropy, logits_tensor, targets=classes)


__all__ = ["cross_entropy", "linear", "mse_loss"]
