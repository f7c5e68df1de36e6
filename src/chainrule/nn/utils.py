"""Training utilities of `torch.nn.utils`: clipping gradients in place by their total norm or by
value, and moving parameters to and from one flat vector.

Clipping reads and writes `.grad` arrays directly (bumping their versions, as any in-place
change does); over a flat buffer (`chainrule.nn.flat`) it scales all gradients in one call.
Inside `chainrule.compile` both clippings are recorded as effects that each replay repeats.
Under data parallelism (`chainrule.distributed.DataParallel`, which registers itself here as
a `GradientSynchronizer`) the clippings first average the gradients over the ranks, so they
clip the global batch's gradient, as one process would (DDP has averaged them by the end of
backward).
"""

from __future__ import annotations

import functools
import math
import types
import warnings
import weakref
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import numpy as np

from chainrule.modes import STATE, no_grad, record_effect
from chainrule.nn.flat import buffer_of
from chainrule.ops import concatenate
from chainrule.tensor import Tensor

TensorOrTensors = Tensor | Iterable[Tensor]


class GradientSynchronizer(Protocol):
    """What averages some parameters' gradients over processes (`DataParallel`)."""

    def owns(self, param: Tensor) -> bool:
        """Whether `param`'s gradient is averaged by this synchronizer."""
        ...

    def synchronize_gradients(self) -> None:
        """Average the gradients now, unless they already are since they last changed."""
        ...

    def gradients_changed(self) -> None:
        """The averaged gradients were changed in place, alike on every process."""
        ...


_SYNCHRONIZERS: weakref.WeakSet[Any] = weakref.WeakSet()


def register_gradient_synchronizer(synchronizer: GradientSynchronizer) -> None:
    """Have the clippings average `synchronizer`'s gradients before they read them."""
    _SYNCHRONIZERS.add(synchronizer)


def unregister_gradient_synchronizer(synchronizer: GradientSynchronizer) -> None:
    _SYNCHRONIZERS.discard(synchronizer)


def _synchronize(params: Sequence[Tensor]) -> list[GradientSynchronizer]:
    """Average the gradients of every synchronizer owning one of `params`; those
    synchronizers (told `gradients_changed()` once the clipping has changed them)."""
    owners = [sync for sync in list(_SYNCHRONIZERS) if any(map(sync.owns, params))]
    for sync in owners:
        sync.synchronize_gradients()
    return owners


def _as_list(op: str, parameters: TensorOrTensors) -> list[Tensor]:
    """`parameters` as a list (one Tensor alone accepted, as torch), each checked to be a
    Tensor on NumPy."""
    if isinstance(parameters, Tensor):
        params = [parameters]
    else:
        is_generator = isinstance(parameters, types.GeneratorType)
        params = list(parameters)
        if is_generator and not params:
            warnings.warn(
                f"{op}: `parameters` is an empty generator, no gradient clipping will occur",
                UserWarning,
                stacklevel=3,
            )
    for param in params:
        if not isinstance(param, Tensor):
            raise TypeError(
                f"{op}: expected Tensors (model.parameters()), got {type(param).__name__}"
            )
        grad = param.grad
        if grad is not None and type(grad.data) is not np.ndarray:
            raise TypeError(
                f"{op}: clips NumPy gradients; this one is on {grad.device}: clip before "
                "moving the model (model.to('cpu')), or clip its arrays with its library"
            )
    return params


def _foreach_flag(op: str, foreach: bool | None) -> bool:
    if foreach is not None and not isinstance(foreach, bool):
        raise TypeError(f"{op}: foreach must be None, True or False, got {foreach!r}")
    return foreach is not False


def _flat_grad(params: Sequence[Tensor]) -> np.ndarray | None:
    """The one slice of a flat buffer holding the gradients of `params` back to back (each a
    view of its slot, in order), or None: then each gradient is handled on its own."""
    if not params:
        return None
    buffer = buffer_of(params[0])
    if buffer is None:
        return None
    span = buffer.span(params)
    return None if span is None else buffer.grad[span[0] : span[1]]


def _vector_norm(values: np.ndarray, norm_type: float) -> np.ndarray:
    """torch.linalg.vector_norm(values, norm_type) as a 0-d array of `values`' dtype: max |x|
    (inf), min |x| (-inf), the count of non-zeros (0), sqrt(sum x^2) (2), (sum |x|^p)^(1/p)."""
    dtype = values.dtype
    if values.size == 0:
        norm: Any = 0
    elif norm_type == math.inf:
        norm = np.max(np.abs(values))
    elif norm_type == -math.inf:
        norm = np.min(np.abs(values))
    elif norm_type == 0:
        norm = np.count_nonzero(values)
    elif norm_type == 1:
        norm = np.sum(np.abs(values))
    elif norm_type == 2:
        norm = np.sqrt(np.sum(values * values))
    else:
        powered = np.sum(np.abs(values) ** dtype.type(norm_type))
        norm = np.power(powered, dtype.type(1.0 / norm_type))
    return np.asarray(norm, dtype=dtype)


def _limit(op: str, label: str, value: float) -> float:
    """`value` as a float >= 0 (inf allowed): torch takes a negative limit, which flips the
    sign of every gradient (norm) or pins them all to it (value), and NaN, which makes
    every gradient NaN; both are refused here before anything is changed."""
    limit = float(value)
    if not limit >= 0:
        raise ValueError(
            f"{op}: {label} must be >= 0, got {value!r}; a negative or NaN limit would "
            "corrupt every gradient (pass the bound's size, e.g. 1.0)"
        )
    return limit


def _bump_versions(grads: Sequence[Tensor]) -> None:
    """Count the in-place change in each gradient, so a graph that saved one refuses it."""
    for grad in grads:
        grad.increment_version()


def clip_grad_norm_(
    parameters: TensorOrTensors,
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> Tensor:
    """Scale the gradients of `parameters` in place so that their total norm is at most
    `max_norm`, as torch.nn.utils.clip_grad_norm_; returns the total norm before clipping.

    total = ||(||g_1||_p, ..., ||g_n||_p)||_p  over the parameters that have a `.grad`;
    g_i <- g_i * min(max_norm / (total + 1e-6), 1)  (in each gradient's dtype).

    `norm_type` is p (inf for the max norm); a negative or NaN `max_norm` is refused
    (ValueError; torch takes it and flips or NaNs the gradients). With
    `error_if_nonfinite`, a NaN or infinite total raises RuntimeError before anything is
    changed. `foreach=False` scales each gradient on its own; otherwise gradients that fill
    one slice of a flat buffer are scaled in one call (bit-identical). The total norm is a
    0-d Tensor of the gradients' (promoted) dtype; float32 zero when no parameter has a gradient.

    Example:
        >>> loss.backward()
        >>> total = clip_grad_norm_(model.parameters(), max_norm=1.0)
        >>> optimizer.step()
    """
    op = "clip_grad_norm_"
    params = _as_list(op, parameters)
    use_flat = _foreach_flag(op, foreach)
    norm_type = float(norm_type)
    max_norm = _limit(op, "max_norm", max_norm)
    # A replay of a compiled step repeats the call on that call's gradients.
    record_effect(
        functools.partial(clip_grad_norm_, params, max_norm, norm_type, error_if_nonfinite, foreach)
    )
    owners = _synchronize(params)
    with_grad = [param for param in params if param.grad is not None]
    grads = [param.grad for param in with_grad if param.grad is not None]
    if not grads:
        return _result(np.float32(0))
    flat = _flat_grad(with_grad) if use_flat else None
    if flat is not None and abs(norm_type) == math.inf:
        total = _vector_norm(flat, norm_type)  # a max or min is exact in any grouping
    else:
        dtype = np.result_type(*(grad.dtype for grad in grads))
        norms = np.array([_vector_norm(grad.data, norm_type) for grad in grads], dtype=dtype)
        total = _vector_norm(norms, norm_type)
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(
            f"{op}: the total norm of order {norm_type} of the gradients is {total}, which "
            "cannot be clipped; find where the gradient stops being finite "
            "(chainrule.detect_anomaly()), or pass error_if_nonfinite=False to scale the "
            "gradients by the non-finite norm anyway"
        )
    coef = np.minimum(max_norm / (total + 1e-6), 1.0)
    with np.errstate(invalid="ignore"):  # an infinite gradient times 0 is NaN, as in torch
        if flat is not None:
            flat *= flat.dtype.type(coef)
        else:
            for grad in grads:
                grad.data *= grad.dtype.type(coef)
    _bump_versions(grads)
    for sync in owners:
        sync.gradients_changed()
    return _result(total)


def _result(total: Any) -> Tensor:
    """The returned norm; while a step is traced, marked so that the step cannot use it (a
    replay repeats the clipping, not the Python code that reads its result)."""
    with no_grad():
        result = Tensor.from_numpy(np.array(total))
    if STATE.tracer is not None:
        STATE.tracer.record_effect_result(
            result,
            "the total norm returned by clip_grad_norm_",
            "clip inside the step and compute a norm to log with chainrule ops "
            "(e.g. sum((p.grad ** 2).sum() for p in params) ** 0.5 before clipping), or call "
            "clip_grad_norm_ outside the compiled step",
        )
    return result


def clip_grad_value_(
    parameters: TensorOrTensors, clip_value: float, foreach: bool | None = None
) -> None:
    """Clamp every gradient of `parameters` into [-clip_value, clip_value] in place, as
    torch.nn.utils.clip_grad_value_: g <- min(max(g, -clip_value), clip_value) (NaN stays NaN);
    a negative or NaN `clip_value` is refused (ValueError).

    `foreach=False` clamps each gradient on its own; otherwise gradients that fill one slice
    of a flat buffer are clamped in one call (bit-identical)."""
    op = "clip_grad_value_"
    params = _as_list(op, parameters)
    use_flat = _foreach_flag(op, foreach)
    clip_value = _limit(op, "clip_value", clip_value)
    record_effect(functools.partial(clip_grad_value_, params, clip_value, foreach))
    owners = _synchronize(params)
    with_grad = [param for param in params if param.grad is not None]
    grads = [param.grad for param in with_grad if param.grad is not None]
    flat = _flat_grad(with_grad) if use_flat else None
    for array in [flat] if flat is not None else [grad.data for grad in grads]:
        np.clip(array, -clip_value, clip_value, out=array)
    _bump_versions(grads)
    for sync in owners:
        sync.gradients_changed()


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """The values of `parameters` flattened and joined into one vector, as
    torch.nn.utils.parameters_to_vector; recorded (gradients flow back to each parameter)."""
    params = list(parameters)
    if not params:
        raise ValueError("parameters_to_vector: no parameters given; pass model.parameters()")
    for param in params:
        if not isinstance(param, Tensor):
            raise TypeError(f"parameters_to_vector: expected Tensors, got {type(param).__name__}")
    return concatenate([param.reshape(-1) for param in params])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Give each of `parameters` its slice of `vec` as its values, in order, as
    torch.nn.utils.vector_to_parameters: `param.data` becomes a view of `vec`'s memory
    (reshaped), so it leaves any flat buffer, and takes `vec`'s float dtype, as torch's (a
    float32 model given a float64 vector becomes float64; optimizer state follows). Unlike
    torch, `vec` must hold exactly as many values as the parameters (torch ignores extra
    values). An integer or bool `vec` is refused, as torch refuses it."""
    if not isinstance(vec, Tensor):
        raise TypeError(
            f"vector_to_parameters: expected a Tensor, but got {type(vec).__name__}; wrap it: "
            "chainrule.tensor(array)"
        )
    if vec.dtype.kind != "f":
        # Each slice would be cast on its own: one not exact in its parameter's dtype was
        # refused after the parameters before it had already taken their values.
        raise TypeError(
            f"vector_to_parameters: vec has dtype {vec.dtype}, but parameters hold floats "
            "(as torch, which refuses it too); convert it first, e.g. "
            "chainrule.tensor(values, dtype=np.float32)"
        )
    params = list(parameters)
    sizes = [param.size for param in params]
    if vec.ndim != 1 or vec.size != sum(sizes):
        raise ValueError(
            f"vector_to_parameters: vec has shape {vec.shape}, but the {len(params)} "
            f"parameters hold {sum(sizes)} values; pass a 1-d vector of that length "
            "(parameters_to_vector(model.parameters()) makes one)"
        )
    start = 0
    for param, size in zip(params, sizes, strict=True):
        param.data = vec.data[start : start + size].reshape(param.shape)
        start += size
