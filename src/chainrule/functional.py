"""Losses as functions of tensors, in the style of `torch.nn.functional`."""

from __future__ import annotations

from collections.abc import Sequence
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


# --- layers and losses (issue 14)


def check_normalized_shape(op: str, normalized_shape: int | Sequence[int]) -> tuple[int, ...]:
    """PyTorch's normalized_shape: one int or a sequence of positive ints."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if not shape or any(
        isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size <= 0
        for size in shape
    ):
        raise ValueError(
            f"{op}: normalized_shape must be a positive int or a non-empty sequence of them, "
            f"got {normalized_shape!r}"
        )
    return tuple(int(size) for size in shape)


def layer_norm(
    input: Any,
    normalized_shape: int | Sequence[int],
    weight: Any = None,
    bias: Any = None,
    eps: float = 1e-5,
) -> Tensor:
    """(x - mean) / sqrt(var + eps) * weight + bias, the mean and the biased variance taken
    over the last len(normalized_shape) dimensions of each sample.

    Built from engine ops, so its gradient (and its second derivative) is the chain rule's:
    with xhat the normalised input and g = grad_out * weight,
    dL/dx = (g - mean(g) - xhat mean(g xhat)) / sqrt(var + eps).
    """
    shape = check_normalized_shape("layer_norm", normalized_shape)
    inputs = as_tensor(input)
    if inputs.ndim < len(shape) or inputs.shape[inputs.ndim - len(shape) :] != shape:
        raise ValueError(
            f"layer_norm: input of shape {inputs.shape} does not end in normalized_shape "
            f"{shape}; normalize over the input's last dimensions (e.g. "
            f"normalized_shape={inputs.shape[-1:] if inputs.ndim else ()})"
        )
    if not eps > 0:
        raise ValueError(f"layer_norm: eps must be positive, got {eps!r}")
    axes = tuple(range(inputs.ndim - len(shape), inputs.ndim))
    centered = inputs - inputs.mean(axis=axes, keepdims=True)
    variance = (centered * centered).mean(axis=axes, keepdims=True)
    out = centered * (variance + eps) ** -0.5
    for label, value in (("weight", weight), ("bias", bias)):
        if value is None:
            continue
        affine = as_tensor(value)
        if affine.shape != shape:
            raise ValueError(
                f"layer_norm: {label} has shape {affine.shape}, expected normalized_shape {shape}"
            )
        out = out * affine if label == "weight" else out + affine
    return out


def _class_indices(op: str, indices: Any, what: str) -> np.ndarray:
    """Integer indices as a NumPy array: the caller's own array where it already is one (so
    chainrule.compile binds it to the step's argument), else converted."""
    if isinstance(indices, Tensor):
        raise TypeError(
            f"{op}: {what} must be integers, got a chainrule Tensor (whose values are "
            f"{indices.dtype}); pass a NumPy integer array, e.g. np.asarray(..., dtype=np.int64)"
        )
    array = indices if isinstance(indices, np.ndarray) else np.asarray(indices)
    if array.dtype.kind not in "iu":
        raise TypeError(
            f"{op}: {what} must be integers, got dtype {array.dtype}; convert them with "
            ".astype(np.int64)"
        )
    return array


def _first_outside(indices: np.ndarray, low: int, high: int) -> tuple[int, tuple[int, ...]]:
    """The first index outside [low, high) and its position."""
    outside = (indices < low) | (indices >= high)
    position = np.unravel_index(int(np.argmax(outside)), indices.shape)
    return int(indices[position]), tuple(int(p) for p in position)


def embedding(input: Any, weight: Any, padding_idx: int | None = None) -> Tensor:
    """weight[input]: for integer indices of any shape, the rows they name, shape
    input.shape + (embedding_dim,);  dL/dweight[r] sums grad_out over the positions holding r
    (repeated indices accumulate), and the row `padding_idx` gets no gradient."""
    table = as_tensor(weight)
    if table.ndim != 2:
        raise ValueError(
            f"embedding: weight must be 2-D (num_embeddings, embedding_dim), got {table.shape}"
        )
    indices = _class_indices("embedding", input, "the indices")
    rows = table.shape[0]
    if indices.size and (indices.min() < 0 or indices.max() >= rows):
        value, position = _first_outside(indices, 0, rows)
        raise ValueError(
            f"embedding: index {value} at position {position} is outside the {rows} rows of "
            f"weight [0, {rows - 1}]"
        )
    if padding_idx is not None:
        if isinstance(padding_idx, bool) or not -rows <= padding_idx < rows:
            raise ValueError(
                f"embedding: padding_idx={padding_idx!r} must be an int in [{-rows}, {rows - 1}]"
            )
        padding_idx = int(padding_idx) % rows
    return Tensor._apply(P.Embedding, (table,), {"indices": indices, "padding_idx": padding_idx})


__all__ = ["cross_entropy", "embedding", "layer_norm", "linear", "mse_loss"]
