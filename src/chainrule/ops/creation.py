"""New tensors from a shape or a range, as torch's and NumPy's factories: zeros, ones, full,
their _like forms, arange, linspace, eye, and rand/randn from an explicit Generator. Their
dtype is float32 unless `dtype` says otherwise, as `chainrule.tensor` makes Python data
(torch.arange(5) and np.arange(5) give int64; here arange(5) is float32, like the rest)."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from chainrule.tensor import Tensor, as_tensor

SizeArg = int | Sequence[int]


def _shape(op: str, size: tuple[Any, ...]) -> tuple[int, ...]:
    """torch's `zeros(2, 3)` and NumPy's `zeros((2, 3))` alike, as a tuple of sizes >= 0."""
    parts = size[0] if len(size) == 1 and not isinstance(size[0], (int, np.integer)) else size
    try:
        shape = tuple(operator.index(part) for part in parts)
    except TypeError:
        raise TypeError(
            f"{op}: the size must be ints, as {op}(2, 3) or {op}((2, 3)), got {size!r}"
        ) from None
    if any(part < 0 for part in shape):
        raise ValueError(f"{op}: sizes must be >= 0, got {shape}")
    return shape


def _made(values: np.ndarray, dtype: npt.DTypeLike | None, requires_grad: bool) -> Tensor:
    return Tensor(values, requires_grad=requires_grad, dtype=np.float32 if dtype is None else dtype)


def _target(dtype: npt.DTypeLike | None) -> np.dtype[Any]:
    return np.dtype(np.float32 if dtype is None else dtype)


def _float_target(op: str, dtype: npt.DTypeLike | None) -> np.dtype[Any]:
    """Draws are floats: an integer dtype would truncate every uniform draw to 0."""
    target = _target(dtype)
    if target.kind != "f":
        raise TypeError(
            f"{op}: dtype must be a float dtype, got {target} (as torch.{op}); draw floats "
            "and convert them, or use rng.integers for integers"
        )
    return target


def _fill(op: str, value: Any, target: np.dtype[Any]) -> Any:
    """`value` as `target` holds it, refused where it would not fit: NaN, inf or a number
    outside the range of an integer dtype, a finite number past a float dtype's largest (torch
    refuses both kinds of overflow; NumPy's cast wraps 300 to 44 in int8). A fraction is
    truncated toward 0 in an integer dtype, as torch.full does."""
    if target.kind == "b":
        return bool(value)
    if target.kind in "iu":
        whole = int(value) if np.isfinite(value) else None
        limits = np.iinfo(target)
        if whole is None or not limits.min <= whole <= limits.max:
            raise ValueError(
                f"{op}: the value {value!r} does not fit {target} (range [{limits.min}, "
                f"{limits.max}]); give a value in range, or a dtype that holds it"
            )
        return whole
    with np.errstate(over="ignore"):
        held = np.asarray(value, dtype=target)
    if np.isinf(held) and np.isfinite(value):
        raise ValueError(
            f"{op}: the value {value!r} does not fit {target} (largest "
            f"{np.finfo(target).max}); give a smaller value, or dtype=np.float64"
        )
    return held


def zeros(*size: Any, dtype: npt.DTypeLike | None = None, requires_grad: bool = False) -> Tensor:
    """A tensor of 0s of the given shape (float32 unless `dtype`)."""
    return full(_shape("zeros", size), 0.0, dtype=dtype, requires_grad=requires_grad)


def ones(*size: Any, dtype: npt.DTypeLike | None = None, requires_grad: bool = False) -> Tensor:
    """A tensor of 1s of the given shape (float32 unless `dtype`)."""
    return full(_shape("ones", size), 1.0, dtype=dtype, requires_grad=requires_grad)


def full(
    size: SizeArg,
    fill_value: float,
    *,
    dtype: npt.DTypeLike | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """A tensor of `fill_value` of the given shape (float32 unless `dtype`); a value the dtype
    cannot hold (NaN in int64, 300 in int8, 1e40 in float32) is refused, as torch.full."""
    shape = _shape("full", (size,))
    target = _target(dtype)
    # made in the target dtype: through float64, int64 past 2**53 would round
    return _made(
        np.full(shape, _fill("full", fill_value, target), dtype=target), target, requires_grad
    )


def zeros_like(
    input: Any, *, dtype: npt.DTypeLike | None = None, requires_grad: bool = False
) -> Tensor:
    """0s of input's shape and dtype (or `dtype`); a new leaf, outside input's graph."""
    return full_like(input, 0.0, dtype=dtype, requires_grad=requires_grad)


def ones_like(
    input: Any, *, dtype: npt.DTypeLike | None = None, requires_grad: bool = False
) -> Tensor:
    """1s of input's shape and dtype (or `dtype`); a new leaf, outside input's graph."""
    return full_like(input, 1.0, dtype=dtype, requires_grad=requires_grad)


def full_like(
    input: Any,
    fill_value: float,
    *,
    dtype: npt.DTypeLike | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """`fill_value` in input's shape and dtype (or `dtype`), in its array library and on its
    device (as torch's zeros_like and the others); a new leaf."""
    like = as_tensor(input)
    made = full(
        like.shape,
        fill_value,
        dtype=like.dtype if dtype is None else dtype,
        requires_grad=requires_grad,
    )
    if type(like.data) is not np.ndarray:  # JAX, CuPy, array_api_strict: beside the input
        return made.to(like.device)
    return made


def arange(
    start: float,
    end: float | None = None,
    step: float = 1,
    *,
    dtype: npt.DTypeLike | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """start, start + step, ... up to but excluding end (arange(n): 0 .., n - 1), as
    torch.arange and np.arange, float32 unless `dtype`. With an integer dtype, start, end
    and step must be whole numbers (torch and NumPy truncate fractions differently)."""
    if step == 0:
        raise ValueError("arange: step must not be 0")
    first, last = (0, start) if end is None else (start, end)
    if not all(np.isfinite(float(bound)) for bound in (first, last, step)):
        raise ValueError(
            f"arange: start, end and step must be finite, got {(first, last, step)} (an "
            "infinite or NaN bound gives no count of values; torch refuses it too)"
        )
    target = _target(dtype)
    if target.kind not in "iub":
        return _made(np.arange(first, last, step, dtype=np.float64), target, requires_grad)
    # Counted in integers: through float64, int64 past 2**53 would round, and NumPy's cast of
    # a fractional range (-2.5, -1.5, ...) truncates each value toward 0 on its own.
    bounds = (first, last, step)
    if target.kind == "b":
        raise TypeError("arange: dtype bool holds no range; give an integer or float dtype")
    if not all(float(bound).is_integer() for bound in bounds):
        raise ValueError(
            f"arange: with dtype {target}, start, end and step must be whole numbers, got "
            f"{bounds}; make a float range and convert it, or give integers"
        )
    whole = [bound if isinstance(bound, (int, np.integer)) else int(bound) for bound in bounds]
    return _made(np.arange(*whole, dtype=target), target, requires_grad)


def linspace(
    start: float,
    end: float,
    steps: int,
    *,
    dtype: npt.DTypeLike | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """`steps` evenly spaced values from start to end, both included, as torch.linspace
    (np.linspace's `num` is `steps`, and has no default here)."""
    count = operator.index(steps)
    if count < 0:
        raise ValueError(f"linspace: steps must be >= 0, got {count}")
    return _made(np.linspace(start, end, count), dtype, requires_grad)


def eye(
    n: int,
    m: int | None = None,
    *,
    dtype: npt.DTypeLike | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """The (n, m) matrix with 1s on its diagonal (m = n when None), as torch.eye and np.eye."""
    rows = _shape("eye", (n,) if m is None else (n, m))
    return _made(np.eye(rows[0], rows[-1]), dtype, requires_grad)


def rand(
    *size: Any,
    rng: np.random.Generator,
    dtype: npt.DTypeLike | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """Uniform values in [0, 1) drawn from `rng` (no global seed: pass
    np.random.default_rng(seed))."""
    shape = _shape("rand", size)
    return _made(rng.random(shape), _float_target("rand", dtype), requires_grad)


def randn(
    *size: Any,
    rng: np.random.Generator,
    dtype: npt.DTypeLike | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """Standard normal values drawn from `rng` (no global seed: pass
    np.random.default_rng(seed))."""
    shape = _shape("randn", size)
    return _made(rng.standard_normal(shape), _float_target("randn", dtype), requires_grad)
