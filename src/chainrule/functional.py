"""Losses as functions of tensors, in the style of `torch.nn.functional`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule import primitives as P
from chainrule.dtypes import numpy_dtype
from chainrule.graph import READ
from chainrule.modes import STATE, CompileError, no_grad
from chainrule.ops import activations, where
from chainrule.ops import minimum as ops_minimum
from chainrule.ops.operators import _operand
from chainrule.placement import is_foreign, to_numpy
from chainrule.primitives.conv import output_size
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


def _target_like(target: Any, prediction: Tensor) -> Tensor:
    """A raw target as a constant in the prediction's dtype: an array of another library
    (array_api_strict, JAX, CuPy) kept where it is, so the op compares devices as PyTorch
    does; NumPy or Python data moved to the prediction's library, as plain data is."""
    if is_foreign(target):
        return Tensor(target, dtype=prediction.dtype)
    goal = Tensor(np.asarray(target), dtype=prediction.dtype)
    device = prediction.device
    return goal if device.library == "numpy" else goal.to(device)


def mse_loss(pred: Any, target: Any, reduction: str = "mean") -> Tensor:
    """mean((pred - target)**2) over all entries;  dL/dpred = 2 (pred - target) / n.
    `reduction` "sum" drops the 1/n, "none" keeps (pred - target)**2 per entry (as PyTorch).

    The shapes must be equal: a (N,) target against (N, 1) predictions would broadcast to
    (N, N) and give a wrong loss without any error.
    """
    _check_reduction("mse_loss", reduction)
    pred_tensor = as_tensor(pred)
    target_tensor = target if isinstance(target, Tensor) else _target_like(target, pred_tensor)
    if pred_tensor.shape != target_tensor.shape:
        raise ValueError(
            f"mse_loss: pred has shape {pred_tensor.shape} but target has shape "
            f"{target_tensor.shape}; they must match exactly (broadcasting here silently "
            "averages the wrong differences); reshape the target, e.g. y.reshape(-1, 1)"
        )
    if reduction != "mean":
        difference = pred_tensor - target_tensor
        return _reduce("mse_loss", difference * difference, reduction)
    if pred_tensor.size == 0:
        raise ValueError("mse_loss: the inputs are empty; the mean of no values is undefined")
    return Tensor.apply(P.MSELoss, pred_tensor, target_tensor)


def cross_entropy(
    logits: Any,
    targets: Any,
    weight: Any = None,
    *,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """-log softmax(logits)[target] per sample, reduced as PyTorch's cross_entropy;
    dL/dlogits = (softmax - onehot) / N for the plain mean.

    `logits` is (N, C) or (N, C, d1, ...) real scores (the class axis is 1). `targets` is
    either integer class indices of shape (N, d1, ...), or class probabilities: floats of the
    logits' own shape (a Tensor there may require grad). `weight` (C,) scales each class,
    `ignore_index` marks targets that count for nothing, `label_smoothing` mixes the target
    with the uniform distribution, and `reduction` is "mean" (over samples, or divided by
    the summed weights of the counted targets, as PyTorch), "sum" or "none". Stable for
    logits of any size: each row's max is subtracted before exponentiating.

    The plain case (N, C) indices, mean, no weight, nothing ignored, no smoothing is one
    fused node (`primitives.loss.SoftmaxCrossEntropy`); the rest is log_softmax followed by
    `nll_loss`'s node, or, for probabilities, -sum(target * log_softmax) over the class axis.
    """
    op = "cross_entropy"
    logits_tensor = as_tensor(logits)
    shape = READ.data(logits_tensor).shape  # read in C: this runs at every training step
    if len(shape) < 2:
        raise ValueError(
            f"{op}: logits must be (N, C), got shape {shape} ((N, C, d1, ...) "
            "works too); reshape a single sample with logits.reshape(1, -1)"
        )
    _check_reduction(op, reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be in [0, 1], got {label_smoothing!r}")
    classes_count = shape[1]
    weights = _class_weights(op, weight, classes_count)
    if _are_probabilities(targets, shape):
        if ignore_index != -100:
            raise ValueError(
                f"{op}: ignore_index is not supported with class-probability targets (float "
                f"targets of the logits' shape {shape}); leave it out"
            )
        return _cross_entropy_with_probabilities(
            logits_tensor, targets, weights, reduction, label_smoothing
        )
    classes = _target_classes(op, targets, shape)
    if 0 in shape:  # no values
        return _cross_entropy_of_no_samples(logits_tensor, shape, reduction)
    plain = (
        len(shape) == 2
        and weights is None
        and reduction == "mean"
        and label_smoothing == 0
        # Not on whether some target equals ignore_index now: chainrule.compile would freeze
        # that choice and replay the fused node on later targets that should be ignored.
        and not 0 <= ignore_index < classes_count
    )
    if plain:
        try:
            # The node checks the targets' range itself (once a step, compiled or not).
            return Tensor.apply(P.SoftmaxCrossEntropy, logits_tensor, targets=classes)
        except P.TargetOutsideClasses:
            pass  # refused by position below, or ignore_index: the general path
    _check_classes_range(op, classes, classes_count, ignore_index)
    params = {
        "targets": classes,
        "weight": weights,
        "ignore_index": ignore_index,
        "reduction": reduction,
        "label_smoothing": float(label_smoothing),
    }
    return Tensor.apply(P.NLLLoss, logits_tensor.log_softmax(axis=1), **params)


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
    # float16 statistics in float32, as PyTorch: (var + eps) ** -0.5 overflows float16 for a
    # near-constant sample (eps = 1e-5 gives 316, its derivative 3e7).
    half = inputs.dtype == np.float16
    inputs = inputs.astype(np.float32) if half else inputs
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
    return out.astype(np.float16) if half else out


def _class_indices(op: str, indices: Any, what: str) -> np.ndarray:
    """Integer indices as a NumPy array: the caller's own array where it already is one (so
    chainrule.compile binds it to the step's argument), else converted. A chainrule Tensor
    (float, as every Tensor) is taken when its values are whole numbers and need no gradient."""
    if isinstance(indices, Tensor):
        if indices.requires_grad:
            raise TypeError(
                f"{op}: {what} carry no gradient, but got a Tensor that requires grad; pass "
                "its values (t.detach()) or a NumPy integer array"
            )
        values = indices.numpy()
        if values.dtype.kind in "iu":
            # The tensor's own array, as for a NumPy argument: chainrule.compile binds it.
            return values
        if not np.all(values == np.round(values)):
            raise TypeError(
                f"{op}: {what} must be integers, got a {indices.dtype} Tensor with fractions; "
                "pass a NumPy integer array, e.g. np.asarray(..., dtype=np.int64)"
            )
        return values.astype(np.int64)
    # to_numpy: another library's array off its default device cannot go through np.asarray
    array = indices if isinstance(indices, np.ndarray) else np.asarray(to_numpy(indices))
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


def embedding(
    input: Any,
    weight: Any,
    padding_idx: int | None = None,
    max_norm: float | None = None,
    norm_type: float = 2.0,
) -> Tensor:
    """weight[input]: for integer indices of any shape, the rows they name, shape
    input.shape + (embedding_dim,);  dL/dweight[r] sums grad_out over the positions holding r
    (repeated indices accumulate), and the row `padding_idx` gets no gradient.

    With `max_norm`, each looked-up row whose `norm_type`-norm exceeds it is first scaled
    in place to max_norm / (norm + 1e-7) of itself, as torch.nn.functional.embedding: a change
    of weight outside the graph (no gradient through it) that counts in weight's version, so a
    graph that saved weight before refuses its backward."""
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
    if max_norm is not None:
        _renorm_rows(table, indices, float(max_norm), _p_order("embedding", norm_type))
    return Tensor.apply(P.Embedding, table, indices=indices, padding_idx=padding_idx)


def _renorm_rows(table: Tensor, indices: np.ndarray, max_norm: float, norm_type: float) -> None:
    """Scale the rows of `table` named in `indices` whose norm exceeds max_norm down to it,
    in place and without gradient (torch's embedding_renorm_)."""
    if not max_norm > 0:
        raise ValueError(f"embedding: max_norm must be > 0, got {max_norm}")
    if STATE.tracer is not None:
        raise CompileError(
            "compile: embedding with max_norm rescales rows of weight in place, outside the "
            "graph, which a replay cannot repeat; renormalise the rows outside the compiled "
            "step (under chainrule.no_grad()), or drop max_norm"
        )
    rows = np.unique(indices)
    with no_grad():
        picked = table[rows]
        norms = picked.norm(ord=norm_type, axis=1, keepdims=True)
        too_long = to_numpy(norms.data) > max_norm
        if too_long.any():
            scale = where(too_long, max_norm / (norms + 1e-7), 1.0)
            table[rows] = picked * scale


REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(op: str, reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _cross_entropy_of_no_samples(logits: Tensor, shape: tuple[int, ...], reduction: str) -> Tensor:
    """The loss of logits with a zero-size batch or spatial dim, as PyTorch: summed, 0;
    unreduced, an empty tensor of the targets' shape; their mean is undefined (refused)."""
    if shape[1] == 0:
        raise ValueError(
            f"cross_entropy: logits of shape {shape} have no classes (C = 0); "
            "each sample needs at least one class"
        )
    if reduction == "mean":
        raise ValueError(
            f"cross_entropy: no samples (logits of shape {shape}); the mean over no samples "
            "is undefined: skip the empty batch, or use reduction='sum'"
        )
    if reduction == "sum":
        return logits.sum()
    return logits.sum(axis=1)


def _reduce(op: str, losses: Tensor, reduction: str) -> Tensor:
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    if losses.size == 0:
        raise ValueError(f"{op}: the inputs are empty; the mean of no values is undefined")
    return losses.mean()


def _class_weights(op: str, weight: Any, classes: int) -> np.ndarray | None:
    """The class weights as a constant float array of shape (C,), or None."""
    if weight is None:
        return None
    if isinstance(weight, Tensor) and weight.requires_grad:
        # Dropping the graph silently would leave weight.grad None after backward.
        raise TypeError(
            f"{op}: the class weights get no gradient (PyTorch's backward refuses one too), "
            "but got a Tensor that requires grad; pass weight.detach()"
        )
    # to_numpy: a module's weight buffer moved off the default device (Module.to) is
    # another library's array, which np.asarray cannot read there (array_api_strict device1).
    values = np.asarray(weight.detach().numpy() if isinstance(weight, Tensor) else to_numpy(weight))
    if values.shape != (classes,):
        raise ValueError(
            f"{op}: weight must have one entry per class, shape ({classes},), got {values.shape}"
        )
    if values.dtype.kind not in "iuf":
        raise TypeError(f"{op}: weight must be real numbers, got dtype {values.dtype}")
    return values.astype(np.float64, copy=False)


def _are_probabilities(targets: Any, logits_shape: tuple[int, ...]) -> bool:
    """True for float targets of the logits' own shape: class probabilities. Integer ones
    of that shape are class indices of the wrong shape (refused by `_target_classes`), as
    PyTorch reads them, not probabilities."""
    if isinstance(targets, Tensor):
        return targets.shape == logits_shape and numpy_dtype(targets.dtype).kind == "f"
    values = targets if type(targets) is np.ndarray else np.asarray(to_numpy(targets))
    return values.dtype.kind == "f" and values.shape == logits_shape


def _target_classes(op: str, targets: Any, logits_shape: tuple[int, ...]) -> np.ndarray:
    """Class indices of shape (N, d1, ...), their range not checked (`_check_classes_range`).
    The caller's own integer array is returned as is (chainrule.compile binds it to the
    step's argument); integer-valued floats are converted."""
    classes = targets.detach().numpy() if isinstance(targets, Tensor) else targets
    if not isinstance(classes, np.ndarray):
        classes = np.asarray(to_numpy(classes))
    if classes.dtype.kind not in "iu":
        if classes.dtype.kind == "f" and np.all(classes == np.round(classes)):
            classes = classes.astype(np.int64)
        else:
            raise TypeError(
                f"{op}: targets must be integer class indices, got dtype {classes.dtype}; "
                f"for class probabilities give floats of the logits' shape {logits_shape}"
            )
    expected = (logits_shape[0], *logits_shape[2:])
    if classes.shape != expected:
        raise ValueError(
            f"{op}: targets must have shape {expected} for logits {logits_shape}, got "
            f"{classes.shape} (class indices; class probabilities are floats of shape "
            f"{logits_shape})"
        )
    return classes


def _check_classes_range(op: str, classes: np.ndarray, count: int, ignore_index: int) -> None:
    """Refuse a class index outside [0, count) that is not ignore_index, by position."""
    # The ufuncs' reductions (classes.min() is a Python wrapper).
    inside = not classes.size or bool(
        np.minimum.reduce(classes, axis=None) >= 0 and np.maximum.reduce(classes, axis=None) < count
    )
    if not inside:
        outside = ((classes < 0) | (classes >= count)) & (classes != ignore_index)
        if np.any(outside):
            flat = int(np.argmax(outside))
            position = np.unravel_index(flat, classes.shape)
            where = flat if classes.ndim == 1 else tuple(int(p) for p in position)
            raise ValueError(
                f"{op}: target {int(classes[position])} at index {where} is outside the "
                f"{count} classes [0, {count - 1}] (and is not ignore_index={ignore_index})"
            )


def _cross_entropy_with_probabilities(
    logits: Tensor,
    targets: Any,
    weights: np.ndarray | None,
    reduction: str,
    label_smoothing: float,
) -> Tensor:
    """-sum_c w[c] q[c] log softmax(z)[c] per sample, q the target mixed with the uniform
    distribution by label_smoothing; "mean" divides by the number of samples (N d1 ...), not
    by the weights, as PyTorch."""
    classes = logits.shape[1]
    # A float target keeps its dtype: the loss takes the promoted one, as PyTorch's (float32
    # logits and float64 probabilities give a float64 loss; the gradient stays float32).
    probabilities = (
        targets
        if isinstance(targets, Tensor) and targets.dtype.kind == "f"
        else targets.astype(logits.dtype)
        if isinstance(targets, Tensor)
        else Tensor(targets if is_foreign(targets) else np.asarray(targets), dtype=logits.dtype)
    )
    if label_smoothing:
        probabilities = probabilities * (1 - label_smoothing) + label_smoothing / classes
    spread = [1] * logits.ndim
    spread[1] = classes
    weighted = logits.log_softmax(axis=1) * probabilities
    if weights is not None:
        weighted = weighted * weights.astype(logits.dtype).reshape(spread)
    return _reduce("cross_entropy", -weighted.sum(axis=1), reduction)


def nll_loss(
    input: Any,
    target: Any,
    weight: Any = None,
    *,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    """-input[i, target_i] * weight[target_i] per sample, as PyTorch's nll_loss, for
    log-probabilities `input` (N, C) or (N, C, d1, ...) and integer targets (N, d1, ...);
    targets equal to `ignore_index` count for nothing. "mean" divides by the summed weights of
    the counted targets (NaN if there are none, as PyTorch); dL/dinput[i, t_i] = -w[t_i] / that
    sum."""
    op = "nll_loss"
    inputs = as_tensor(input)
    if inputs.ndim < 2:
        raise ValueError(
            f"{op}: input must be (N, C) or (N, C, d1, ...) log-probabilities, got shape "
            f"{inputs.shape}; reshape a single sample with input.reshape(1, -1)"
        )
    _check_reduction(op, reduction)
    weights = _class_weights(op, weight, inputs.shape[1])
    classes = _target_classes(op, target, inputs.shape)
    _check_classes_range(op, classes, inputs.shape[1], ignore_index)
    params = {
        "targets": classes,
        "weight": weights,
        "ignore_index": ignore_index,
        "reduction": reduction,
        "label_smoothing": 0.0,
    }
    return Tensor.apply(P.NLLLoss, inputs, **params)


def binary_cross_entropy_with_logits(
    input: Any,
    target: Any,
    weight: Any = None,
    *,
    reduction: str = "mean",
    pos_weight: Any = None,
) -> Tensor:
    """-weight (pos_weight t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))) per entry, as
    PyTorch's; dL/dx = weight ((1 - t) sigmoid(x) - pos_weight t (1 - sigmoid(x))), which
    is weight (sigmoid(x) - t) without pos_weight.

    Written (1 - t) x - (1 + (pos_weight - 1) t) logsigmoid(x), so logits of any size give
    finite losses and gradients. `target` has the input's shape (floats in [0, 1]; a Tensor
    may require grad); `weight` broadcasts to it, `pos_weight` along the last (class) axis.
    """
    op = "binary_cross_entropy_with_logits"
    logits = as_tensor(input)
    _check_reduction(op, reduction)
    targets = (
        target.astype(logits.dtype) if isinstance(target, Tensor) else _target_like(target, logits)
    )
    if targets.shape != logits.shape:
        raise ValueError(
            f"{op}: target has shape {targets.shape} but input has shape {logits.shape}; they "
            "must match (one target per logit)"
        )
    log_sigmoid = activations.logsigmoid(logits)
    if pos_weight is None:
        losses = (1 - targets) * logits - log_sigmoid
    else:
        positive = _broadcastable(op, "pos_weight", pos_weight, logits)
        losses = (1 - targets) * logits - (1 + (positive - 1) * targets) * log_sigmoid
    if weight is not None:
        losses = losses * _broadcastable(op, "weight", weight, logits)
    loss = _reduce(op, losses, reduction)
    if isinstance(target, Tensor) and target.dtype.kind == "f" and target.dtype != loss.dtype:
        # PyTorch's loss takes the target's float dtype (float64 logits and a float32 target
        # give a float32 loss); the gradient keeps the input's.
        loss = loss.astype(target.dtype)
    return loss


def _broadcastable(op: str, label: str, value: Any, logits: Tensor) -> Tensor:
    """`value` as a Tensor of the logits' dtype, checked to broadcast to their shape."""
    tensor = (
        value.astype(logits.dtype)
        if isinstance(value, Tensor)
        else Tensor(np.asarray(value), dtype=logits.dtype).to(logits.device)
    )
    try:
        shape = np.broadcast_shapes(tensor.shape, logits.shape)
    except ValueError:
        shape = None
    if shape != logits.shape:
        raise ValueError(
            f"{op}: {label} of shape {tensor.shape} does not broadcast to the input's shape "
            f"{logits.shape}"
        )
    return tensor


__all__ = [
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "embedding",
    "layer_norm",
    "linear",
    "mse_loss",
    "nll_loss",
]


# --- convolutions (issue 14)
_SPATIAL_NAMES = {1: "(N, C, L)", 2: "(N, C, H, W)"}


def ints_per_axis(op: str, label: str, value: Any, spatial: int, minimum: int) -> tuple[int, ...]:
    """`value` (an int or one int per spatial axis) as a tuple, each at least `minimum`: a
    TypeError names a value that is not such ints, a ValueError one below `minimum`. The
    check of every size, stride and padding of the convolutions, pools and their layers."""
    message = f"{op}: {label} must be an int or a tuple of {spatial} ints, got {value!r}"
    if isinstance(value, (int, np.integer)):
        values: tuple[Any, ...] = (value,) * spatial
    else:
        try:
            values = tuple(value)
        except TypeError:
            raise TypeError(message) from None
    if len(values) != spatial or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values
    ):
        raise TypeError(message)
    if any(v < minimum for v in values):
        raise ValueError(f"{op}: {label} must be at least {minimum} on every axis, got {value!r}")
    return tuple(int(v) for v in values)


def _batched(op: str, x: Tensor, spatial: int) -> tuple[Tensor, bool]:
    """x with a batch axis (added for an unbatched input, as PyTorch), and whether it was."""
    if x.ndim == spatial + 2:
        return x, False
    if x.ndim == spatial + 1:
        return x.reshape((1, *x.shape)), True
    raise ValueError(
        f"{op}: input must be {_SPATIAL_NAMES[spatial]} or unbatched "
        f"{_SPATIAL_NAMES[spatial].replace('N, ', '')}, got shape {x.shape}"
    )


def _check_span(
    op: str,
    sizes: tuple[int, ...],
    padding: tuple[tuple[int, int], ...],
    kernel: tuple[int, ...],
    dilation: tuple[int, ...],
) -> None:
    padded = tuple(size + sum(pair) for size, pair in zip(sizes, padding, strict=True))
    span = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True))
    if any(s > p for s, p in zip(span, padded, strict=True)):
        raise ValueError(
            f"{op}: kernel {kernel} with dilation {dilation} spans {span}, larger than the "
            f"padded input {padded} (input {sizes} plus padding); use a smaller kernel or "
            "more padding"
        )


def _conv(
    op: str,
    spatial: int,
    input: Any,
    weight: Any,
    bias: Any,
    stride: Any,
    padding: Any,
    dilation: Any,
    groups: int,
) -> Tensor:
    given = as_tensor(input)
    x, unbatched = _batched(op, given, spatial)
    w = as_tensor(weight)
    if w.ndim != spatial + 2:
        raise ValueError(
            f"{op}: weight must be {spatial + 2}-D (C_out, C_in / groups, "
            f"{'K' if spatial == 1 else 'kH, kW'}), got shape {w.shape}"
        )
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive integer, got {groups!r}")
    channels_out, group_channels = w.shape[:2]
    if channels_out == 0 or 0 in w.shape[2:]:
        # A kernel axis of 0 would slide an empty window one step further than the input
        # allows and give an all-zero result of the wrong size; PyTorch refuses both.
        raise ValueError(
            f"{op}: weight {w.shape} has no output channels or an empty kernel axis; give "
            "it at least one output channel and a kernel of at least 1 along every axis"
        )
    if channels_out % groups:
        raise ValueError(
            f"{op}: weight {w.shape} has {channels_out} output channels, not divisible by "
            f"groups={groups}"
        )
    if x.shape[1] != group_channels * groups:
        raise ValueError(
            f"{op}: input {given.shape} has {x.shape[1]} channels, but weight {w.shape} "
            f"with groups={groups} expects {group_channels * groups} (weight.shape[1] * "
            "groups); pass an input with that many channels or a matching weight"
        )
    strides = ints_per_axis(op, "stride", stride, spatial, 1)
    dilations = ints_per_axis(op, "dilation", dilation, spatial, 1)
    kernel = tuple(w.shape[2:])
    pairs: tuple[tuple[int, int], ...]
    if isinstance(padding, str):
        if padding == "valid":
            pairs = ((0, 0),) * spatial
        elif padding == "same":
            if any(s != 1 for s in strides):
                raise ValueError(
                    f"{op}: padding='same' needs stride 1 (as PyTorch), got stride={stride!r}; "
                    "give the padding as numbers instead"
                )
            # The odd one of an even total goes after, as PyTorch pads.
            totals = [d * (k - 1) for k, d in zip(kernel, dilations, strict=True)]
            pairs = tuple((total // 2, total - total // 2) for total in totals)
        else:
            raise ValueError(
                f"{op}: padding must be an int, a tuple of ints, 'same' or 'valid', got {padding!r}"
            )
    else:
        pairs = tuple((p, p) for p in ints_per_axis(op, "padding", padding, spatial, 0))
    _check_span(op, tuple(x.shape[2:]), pairs, kernel, dilations)
    inputs = [x, w]
    if bias is not None:
        b = as_tensor(bias)
        if b.shape != (channels_out,):
            raise ValueError(
                f"{op}: bias has shape {b.shape}, expected ({channels_out},), one per output "
                "channel"
            )
        inputs.append(b)
    primitive = P.Conv1d if spatial == 1 else P.Conv2d
    out = Tensor.apply(
        primitive, *inputs, stride=strides, padding=pairs, dilation=dilations, groups=int(groups)
    )
    return out.reshape(out.shape[1:]) if unbatched else out


def conv1d(
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: int | tuple[int, ...] = 1,
    padding: int | tuple[int, ...] | str = 0,
    dilation: int | tuple[int, ...] = 1,
    groups: int = 1,
) -> Tensor:
    """z[n, o, l] = b[o] + sum over c, k of w[o, c, k] x_pad[n, c, stride l + dilation k], as
    `torch.nn.functional.conv1d` (a cross-correlation): input (N, C_in, L) or (C_in, L),
    weight (C_out, C_in / groups, K), bias (C_out,); padding a number or 'same'/'valid'.

    dL/dx is the transposed convolution of the upstream gradient with w, dL/dw the upstream
    gradient correlated with the windows of x, dL/db the upstream gradient summed over the
    batch and positions.
    """
    return _conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: int | tuple[int, ...] = 1,
    padding: int | tuple[int, ...] | str = 0,
    dilation: int | tuple[int, ...] = 1,
    groups: int = 1,
) -> Tensor:
    """z[n, o, i, j] = b[o] + sum over c, p, q of w[o, c, p, q] x_pad[n, c, s_h i + d_h p,
    s_w j + d_w q], as `torch.nn.functional.conv2d` (a cross-correlation): input
    (N, C_in, H, W) or (C_in, H, W), weight (C_out, C_in / groups, kH, kW), bias (C_out,);
    padding a number, a pair or 'same'/'valid'.

    dL/dx is the transposed convolution of the upstream gradient with w (w flipped), dL/dw
    the upstream gradient correlated with the windows of x, dL/db the upstream gradient
    summed over the batch and positions.
    """
    return _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


def _pool_padding(
    op: str,
    shape: tuple[int, ...],
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    padding: tuple[int, ...],
    dilation: tuple[int, ...],
    ceil_mode: bool,
) -> tuple[tuple[int, int], ...]:
    """(before, after) padding along H and W of an input of `shape` ((N, C, H, W) or
    (C, H, W), as given, for the messages): `padding` on both sides, plus on the right what
    ceil_mode's last partial window reaches past it (PyTorch's output size rule)."""
    pairs = []
    for axis, size, k, s, p, d in zip(
        "HW", shape[-2:], kernel, stride, padding, dilation, strict=True
    ):
        span = d * (k - 1) + 1
        if 2 * p > k:  # PyTorch's bound: half the kernel's size, whatever the dilation
            raise ValueError(
                f"{op}: padding {padding} must be at most half the kernel_size {kernel} on "
                "every axis, as PyTorch requires (a dilation does not raise the bound)"
            )
        count = (size + 2 * p - span + (s - 1 if ceil_mode else 0)) // s + 1
        if count < 1:
            # ceil_mode keeps a window that reaches past the padding, as PyTorch does.
            raise ValueError(
                f"{op}: kernel {kernel} with dilation {dilation} spans {span} along {axis}, "
                f"larger than the input {shape} there padded by {p} on each side "
                f"({size + 2 * p}){f' by the stride {s} or more' if ceil_mode else ''}; no "
                "window fits: use a smaller kernel or more padding"
            )
        if ceil_mode and (count - 1) * s >= size + p:
            count -= 1  # a last window that would start in the right padding is dropped
        pairs.append((p, p + max(0, (count - 1) * s + span - (size + 2 * p))))
    return tuple(pairs)


def _refuse_windows_of_padding(
    shape: tuple[int, ...],
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    padding: tuple[tuple[int, int], ...],
    dilation: tuple[int, ...],
) -> None:
    """Refuse a max_pool2d whose dilated window somewhere reads only padding: its max would
    be -inf with no input entry to send the gradient to (PyTorch returns -inf there, and its
    backward reads outside the input). `shape` is the input's as given, for the message."""
    for axis, size, k, s, (before, after), d in zip(
        "HW", shape[-2:], kernel, stride, padding, dilation, strict=True
    ):
        for window in range(output_size(size + before + after, k, s, d)):
            taps = range(window * s - before, window * s - before + d * (k - 1) + 1, d)
            if not any(0 <= tap < size for tap in taps):
                raise ValueError(
                    f"max_pool2d: on input {shape}, kernel_size {kernel} with dilation "
                    f"{dilation} and padding {tuple(p for p, _ in padding)} gives a window "
                    f"(number {window} along {axis}) that reads only padding, whose "
                    "max would be -inf with nowhere to send its gradient; use less padding "
                    "or a smaller dilation"
                )


def max_pool2d(
    input: Any,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, ...] = 1,
    ceil_mode: bool = False,
) -> Tensor:
    """z[n, c, i, j] = max of x_pad over the window at (s_h i, s_w j), as
    `torch.nn.functional.max_pool2d` (stride defaults to kernel_size; padding reads -inf).

    dL/dx is the upstream gradient added at each window's maximum, the first one in
    row-major order where several entries tie (as PyTorch). A dilated window that reads only
    padding is refused: its max would be -inf, with no entry to take its gradient.
    """
    given = as_tensor(input)
    x, unbatched = _batched("max_pool2d", given, 2)
    kernel = ints_per_axis("max_pool2d", "kernel_size", kernel_size, 2, 1)
    strides = kernel if stride is None else ints_per_axis("max_pool2d", "stride", stride, 2, 1)
    pads = ints_per_axis("max_pool2d", "padding", padding, 2, 0)
    dilations = ints_per_axis("max_pool2d", "dilation", dilation, 2, 1)
    pairs = _pool_padding("max_pool2d", given.shape, kernel, strides, pads, dilations, ceil_mode)
    if any(d > 1 for d in dilations) and any(pads):  # only then can a window miss the input
        _refuse_windows_of_padding(given.shape, kernel, strides, pairs, dilations)
    out = Tensor.apply(
        P.MaxPool2d, x, kernel_size=kernel, stride=strides, padding=pairs, dilation=dilations
    )
    return out.reshape(out.shape[1:]) if unbatched else out


def avg_pool2d(
    input: Any,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> Tensor:
    """z[n, c, i, j] = mean of x_pad over the window at (s_h i, s_w j), as
    `torch.nn.functional.avg_pool2d`: the zero padding counts in the mean with
    count_include_pad, the right edge ceil_mode adds never does.

    dL/dx spreads each upstream entry, divided by its window's count, over its window.
    """
    given = as_tensor(input)
    x, unbatched = _batched("avg_pool2d", given, 2)
    kernel = ints_per_axis("avg_pool2d", "kernel_size", kernel_size, 2, 1)
    strides = kernel if stride is None else ints_per_axis("avg_pool2d", "stride", stride, 2, 1)
    pads = ints_per_axis("avg_pool2d", "padding", padding, 2, 0)
    ones = (1, 1)
    pairs = _pool_padding("avg_pool2d", given.shape, kernel, strides, pads, ones, ceil_mode)
    counted = tuple((p, p) if count_include_pad else (0, 0) for p in pads)
    out = Tensor.apply(
        P.AvgPool2d, x, kernel_size=kernel, stride=strides, padding=pairs, counted=counted
    )
    return out.reshape(out.shape[1:]) if unbatched else out


def _adaptive_weights(size: int, out: int, dtype: np.dtype[Any]) -> np.ndarray:
    """(out, size): row i averages entries floor(i size / out) to ceil((i + 1) size / out)."""
    weights = np.zeros((out, size), dtype=dtype)
    for i in range(out):
        start, stop = (i * size) // out, -((-(i + 1) * size) // out)
        weights[i, start:stop] = 1 / (stop - start)
    return weights


def adaptive_avg_pool2d(
    input: Any, output_size: int | tuple[int | None, int | None] | list[int | None]
) -> Tensor:
    """z (N, C, oH, oW) = the mean of x over windows from floor(i H / oH) to ceil((i+1) H / oH)
    (and likewise along W), as `torch.nn.functional.adaptive_avg_pool2d`; None keeps a size.

    The averaging is separable, so it is two matrix products with constant averaging
    matrices, A_h @ x @ A_w^T, and dL/dx = A_h^T @ g @ A_w.
    """
    x = as_tensor(input)
    if x.ndim not in (3, 4):
        raise ValueError(
            f"adaptive_avg_pool2d: input must be (N, C, H, W) or (C, H, W), got shape {x.shape}"
        )
    sizes = (
        tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size, output_size)
    )
    height, width = x.shape[-2:]
    if len(sizes) != 2:
        raise ValueError(
            f"adaptive_avg_pool2d: output_size must be an int or a pair, got {output_size!r}"
        )
    target = (height if sizes[0] is None else sizes[0], width if sizes[1] is None else sizes[1])
    if any(isinstance(t, bool) or not isinstance(t, (int, np.integer)) or t < 1 for t in target):
        raise ValueError(
            f"adaptive_avg_pool2d: output_size must be positive integers, got {output_size!r}"
        )
    rows = Tensor(_adaptive_weights(height, int(target[0]), x.dtype)).to(x.device)
    cols = Tensor(_adaptive_weights(width, int(target[1]), x.dtype).T).to(x.device)
    return rows @ x @ cols


__all__ += ["adaptive_avg_pool2d", "avg_pool2d", "conv1d", "conv2d", "max_pool2d"]


# --- vocabulary: distances and normalisations of torch.nn.functional, composites of norm,
# clip, sum and chunk (their derivatives are those ops').
def _p_order(op: str, p: Any) -> float:
    """p as chainrule.norm takes it: a real number (0 counts the nonzeros), or +-inf."""
    number = isinstance(p, (int, float, np.integer, np.floating)) and not isinstance(p, bool)
    if not number or np.isnan(p):
        raise ValueError(f"{op}: p must be a real number or +-inf, got {p!r}")
    return float(p)


def _pair(x1: Any, x2: Any) -> tuple[Tensor, Tensor]:
    """x1 and x2 as tensors, a list or number taking the other operand's dtype, as the
    operators do (made float32 on its own, 0.1 beside float64 data was 0.10000000149)."""
    left, right = as_tensor(x1), as_tensor(x2)
    if not isinstance(x1, Tensor):
        left = _operand(x1, right)
    if not isinstance(x2, Tensor):
        right = _operand(x2, left)
    return left, right


def normalize(input: Any, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:
    """x / max(||x||_p, eps), the p-norm taken along `dim`, as
    torch.nn.functional.normalize;  the derivative is that of the quotient, with the clip's
    (0 where the norm is below eps)."""
    x = as_tensor(input)
    length = x.norm(ord=_p_order("normalize", p), axis=dim, keepdims=True).clip(min=eps)
    return x / length


def cosine_similarity(x1: Any, x2: Any, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """sum(x1 / max(||x1||, eps) * x2 / max(||x2||, eps)) along `dim` (x1 and x2 broadcast),
    as torch.nn.functional.cosine_similarity. Where a norm is below eps PyTorch still passes
    the gradient through the norm; here the clip's derivative (0) applies."""
    left, right = _pair(x1, x2)
    try:
        shape = np.broadcast_shapes(left.shape, right.shape)
    except ValueError:
        raise ValueError(
            f"cosine_similarity: x1 {left.shape} and x2 {right.shape} cannot broadcast together"
        ) from None
    left, right = left.broadcast_to(shape), right.broadcast_to(shape)
    unit_left = left / left.norm(axis=dim, keepdims=True).clip(min=eps)
    unit_right = right / right.norm(axis=dim, keepdims=True).clip(min=eps)
    return (unit_left * unit_right).sum(axis=dim)


def pairwise_distance(
    x1: Any, x2: Any, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False
) -> Tensor:
    """||x1 - x2 + eps||_p along the last axis (x1 and x2 broadcast), as
    torch.nn.functional.pairwise_distance (eps keeps the gradient finite where x1 = x2)."""
    left, right = _pair(x1, x2)
    difference = left - right
    order = _p_order("pairwise_distance", p)
    if difference.ndim == 0:
        raise ValueError("pairwise_distance: needs vectors along the last axis, got 0-d inputs")
    return (difference + eps).norm(ord=order, axis=-1, keepdims=keepdim)


def cdist(x1: Any, x2: Any, p: float = 2.0) -> Tensor:
    """z[..., i, j] = ||x1[..., i, :] - x2[..., j, :]||_p for x1 (..., P, M) and
    x2 (..., R, M), as torch.cdist (batch axes broadcast); computed from the differences,
    P * R * M of them, so exact where torch's matrix-product shortcut for p = 2 rounds. The
    gradient at a zero distance is 0, as PyTorch's."""
    left, right = _pair(x1, x2)
    order = _p_order("cdist", p)
    if order < 0:
        raise ValueError(
            f"cdist: p must be >= 0 (as torch.cdist, which refuses a negative p), got {p!r}; "
            "for a negative p take pairwise_distance of the expanded pairs"
        )
    if left.ndim < 2 or right.ndim < 2 or left.shape[-1] != right.shape[-1]:
        raise ValueError(
            f"cdist: needs x1 (..., P, M) and x2 (..., R, M) with the same M, got shapes "
            f"{left.shape} and {right.shape}"
        )
    difference = left.expand_dims(-2) - right.expand_dims(-3)
    return difference.norm(ord=order, axis=-1)


def glu(input: Any, dim: int = -1) -> Tensor:
    """a * sigmoid(b), a and b the two halves of x along `dim`, as
    torch.nn.functional.glu;  dz/da = sigmoid(b), dz/db = a sigmoid(b) (1 - sigmoid(b))."""
    x = as_tensor(input)
    if x.ndim == 0:
        raise ValueError("glu: a 0-d tensor has no axis to halve")
    size = x.shape[dim % x.ndim] if -x.ndim <= dim < x.ndim else None
    if size is None or size % 2:
        raise ValueError(
            f"glu: dim {dim} of the tensor of shape {x.shape} must exist and have an even "
            "size, to be halved into the value and the gate"
        )
    value, gate = x.chunk(2, dim)
    return value * gate.sigmoid()


__all__ += ["cdist", "cosine_similarity", "glu", "normalize", "pairwise_distance"]


# --- vocabulary: the regression and probability losses of torch.nn.functional, composites of
# abs, minimum, clip and log (their derivatives are those ops').
def _loss_pair(op: str, input: Any, target: Any) -> tuple[Tensor, Tensor]:
    """input and target as tensors of one dtype; their shapes must be equal, as mse_loss's."""
    prediction = as_tensor(input)
    goal = target if isinstance(target, Tensor) else _target_like(target, prediction)
    if prediction.shape != goal.shape:
        raise ValueError(
            f"{op}: input has shape {prediction.shape} but target has shape {goal.shape}; "
            "they must match exactly (broadcasting here silently compares the wrong "
            "entries); reshape the target, e.g. y.reshape(-1, 1)"
        )
    return prediction, goal


def _refuse_mixed_floats(op: str, prediction: Tensor, goal: Tensor) -> None:
    """PyTorch refuses this loss for an input and a target of two float dtypes (its kernel
    takes one): so does chainrule, rather than pick a result dtype torch would not give."""
    if goal.dtype.kind == "f" and goal.dtype != prediction.dtype:
        raise TypeError(
            f"{op}: input has dtype {prediction.dtype} but target has dtype {goal.dtype}; "
            "they must be the same float dtype (PyTorch refuses the mix too); convert the "
            f"target, e.g. target.astype(np.{prediction.dtype})"
        )


def l1_loss(input: Any, target: Any, reduction: str = "mean") -> Tensor:
    """abs(input - target), reduced, as torch.nn.functional.l1_loss;  dL/dinput =
    sign(input - target) (0 where they are equal, as PyTorch), divided by n for the mean."""
    _check_reduction("l1_loss", reduction)
    prediction, goal = _loss_pair("l1_loss", input, target)
    return _reduce("l1_loss", (prediction - goal).abs(), reduction)


def _huber(distance: Tensor, delta: float) -> Tensor:
    """0.5 d**2 where |d| < delta, delta (|d| - delta / 2) elsewhere, written as
    m (|d| - m / 2) with m = min(|d|, delta): one formula, no branch on values."""
    near = ops_minimum(distance, delta)
    # Not 0.5 m**2 + delta (|d| - m): its backward sums delta g and (m - delta) g into |d|,
    # which loses the gradient's digits for a large delta (delta = 1e3 in float32: off by
    # up to 0.07%). Here m's gradient is g (|d| - m), exactly 0 inside delta; |d|'s is g m.
    return near * (distance - 0.5 * near)


def huber_loss(input: Any, target: Any, reduction: str = "mean", delta: float = 1.0) -> Tensor:
    """Quadratic within `delta` of the target and linear beyond, reduced, as
    torch.nn.functional.huber_loss;  dL/dinput = clip(input - target, -delta, delta)."""
    _check_reduction("huber_loss", reduction)
    if not delta > 0:
        raise ValueError(f"huber_loss: delta must be > 0, got {delta}")
    prediction, goal = _loss_pair("huber_loss", input, target)
    _refuse_mixed_floats("huber_loss", prediction, goal)
    return _reduce("huber_loss", _huber((prediction - goal).abs(), float(delta)), reduction)


def smooth_l1_loss(input: Any, target: Any, reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """huber_loss / beta (l1_loss when beta = 0), as torch.nn.functional.smooth_l1_loss;
    dL/dinput = clip((input - target) / beta, -1, 1)."""
    _check_reduction("smooth_l1_loss", reduction)
    if not beta >= 0:
        raise ValueError(f"smooth_l1_loss: beta must be >= 0, got {beta}")
    prediction, goal = _loss_pair("smooth_l1_loss", input, target)
    distance = (prediction - goal).abs()
    losses = distance if beta == 0 else _huber(distance, float(beta)) / float(beta)
    return _reduce("smooth_l1_loss", losses, reduction)


LOG_FLOOR = P.loss.LOG_FLOOR
"""binary_cross_entropy's logarithms are kept >= -100, as PyTorch's."""


def binary_cross_entropy(
    input: Any, target: Any, weight: Any = None, reduction: str = "mean"
) -> Tensor:
    """-w (t max(log p, -100) + (1 - t) max(log(1 - p), -100)) for probabilities p in
    [0, 1], reduced, as torch.nn.functional.binary_cross_entropy, in one node
    (primitives.BinaryCrossEntropy);  dL/dp = w (p - t) / max(p (1 - p), 1e-12), PyTorch's
    gradient: the derivative of the loss where p (1 - p) >= 1e-12, and pointing at the
    target closer to 0 or 1 (-w t / 1e-12 at p = 0). dL/dt = w (max(log(1 - p), -100) -
    max(log p, -100)), finite at p = 0 and 1 (PyTorch's skips the floors: inf there). The
    range of p is checked on every call, compiled replays included.
    binary_cross_entropy_with_logits is the stable form for logits."""
    _check_reduction("binary_cross_entropy", reduction)
    probabilities, goal = _loss_pair("binary_cross_entropy", input, target)
    _refuse_mixed_floats("binary_cross_entropy", probabilities, goal)
    losses = Tensor.apply(P.BinaryCrossEntropy, probabilities, goal)
    if weight is not None:
        # Checked as torch does: a weight that broadcast the losses to a larger shape would
        # silently average the wrong grid.
        losses = losses * _broadcastable("binary_cross_entropy", "weight", weight, losses)
    return _reduce("binary_cross_entropy", losses, reduction)


__all__ += ["binary_cross_entropy", "huber_loss", "l1_loss", "smooth_l1_loss"]


# --- vocabulary: interpolate (nearest modes), a gather along each spatial axis.
INTERPOLATE_MODES = ("nearest", "nearest-exact")


def _nearest_sources(
    in_size: int, out_size: int, scale_factor: float | None, exact: bool, shortcut: bool
) -> np.ndarray:
    """For each output position its source position along one axis, as PyTorch's 2-D kernel
    computes it for an output of height + width <= 128 (in float32: scale = 1 / scale_factor,
    or in_size / out_size; floor(i * scale), or floor((i + 0.5) * scale) for nearest-exact,
    kept below in_size). With `shortcut` ("nearest"), i where out_size = in_size and i // 2
    where it is twice, whatever the scale factor; torch's 1-D and 3-D kernels, and its 2-D one
    for larger outputs, take their formula there (`_nearest_sources_in`; scale_factor 1.1 on
    2 entries: sources 0 and 0)."""
    positions = np.arange(out_size)
    if shortcut and out_size == in_size:
        return positions
    if shortcut and out_size == 2 * in_size:
        return positions // 2
    if scale_factor is not None and scale_factor > 0:
        scale = np.float32(1.0 / scale_factor)
    else:
        scale = np.float32(in_size) / np.float32(out_size)
    offset = np.float32(0.5) if exact else np.float32(0.0)
    sources: np.ndarray = np.floor((positions.astype(np.float32) + offset) * scale)
    return np.minimum(sources.astype(np.intp), in_size - 1)


def _nearest_sources_in(
    dtype: np.dtype[Any], in_size: int, out_size: int, scale_factor: float | None, exact: bool
) -> np.ndarray:
    """The source positions of torch's 1-D and 3-D kernels: the scale and the position in
    the input's dtype (float64 for float64, else float32), floored as a float32; for
    nearest-exact the position is scale (i + 0.5) - 0.5 computed in float64, kept >= 0, plus
    0.5 in the input's dtype. They differ from the 2-D kernel's float32 formula in a few
    cases (14 -> 46 in float64, 2 -> 41 in nearest-exact)."""
    kind = np.float64 if dtype == np.float64 else np.float32
    if scale_factor is not None and scale_factor > 0:
        scale = kind(1.0 / scale_factor)
    else:
        scale = kind(in_size) / kind(out_size)
    positions = np.arange(out_size)
    if exact:
        shifted = (np.float64(scale) * (positions + 0.5) - 0.5).astype(kind)
        real = np.maximum(shifted, kind(0.0)) + kind(0.5)
    else:
        real = scale * positions.astype(kind)
    picked: np.ndarray = np.floor(real.astype(np.float32))
    return np.minimum(picked.astype(np.intp), in_size - 1)


def interpolate(
    input: Any,
    size: int | Sequence[int] | None = None,
    scale_factor: float | Sequence[float] | None = None,
    mode: str = "nearest",
) -> Tensor:
    """Resize the spatial axes of x, of shape (N, C) followed by one to three spatial axes, by
    nearest neighbour, as torch.nn.functional.interpolate's "nearest" and "nearest-exact"
    modes (give `size` or `scale_factor`; with scale_factor the size is floor(in *
    scale_factor)): z[..., i] = x[..., src(i)], so dL/dx[j] sums grad_out over the i with
    src(i) = j."""
    x = as_tensor(input)
    if mode not in INTERPOLATE_MODES:
        raise ValueError(
            f"interpolate: mode {mode!r} is not supported; chainrule has {INTERPOLATE_MODES} "
            "(bilinear and the others are not implemented)"
        )
    spatial = x.ndim - 2
    if spatial not in (1, 2, 3):
        raise ValueError(
            f"interpolate: input must be (N, C, W), (N, C, H, W) or (N, C, D, H, W), got "
            f"shape {x.shape}"
        )
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor")
    in_sizes = x.shape[2:]
    if size is not None:
        sizes = (size,) * spatial if isinstance(size, (int, np.integer)) else tuple(size)
        factors: tuple[float | None, ...] = (None,) * len(sizes)
        out_sizes = tuple(int(s) for s in sizes)
    else:
        given = (
            (scale_factor,) * spatial
            if isinstance(scale_factor, (int, float, np.number))
            else tuple(scale_factor or ())
        )
        scales = tuple(float(s) for s in given)
        factors = scales
        out_sizes = tuple(
            int(np.floor(float(n) * f)) for n, f in zip(in_sizes, scales, strict=False)
        )
    if len(out_sizes) != spatial or len(factors) != spatial or any(s <= 0 for s in out_sizes):
        raise ValueError(
            f"interpolate: the output size {out_sizes} must give one positive size per spatial "
            f"axis of the input {x.shape}"
        )
    out = x
    # torch 2.13's 2-D kernel takes its float32 formula only while the output's height plus
    # width is at most 128, and the 1-D and 3-D kernels' formula past that (found by probing
    # its outputs: the two pick neighbouring sources at a few exact ties).
    small_2d = spatial == 2 and sum(out_sizes) <= 128
    for axis, (n, m, factor) in enumerate(zip(in_sizes, out_sizes, factors, strict=True)):
        exact = mode == "nearest-exact"
        if small_2d:
            sources = _nearest_sources(n, m, factor, exact, shortcut=not exact)
        else:
            sources = _nearest_sources_in(x.dtype, n, m, factor, exact)
        out = out.take(sources, axis=2 + axis)
    return out


__all__ += ["interpolate"]
