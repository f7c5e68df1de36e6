"""Weight initialisation in place, as `torch.nn.init`: each function overwrites a Tensor's
(a Parameter's) values without recording a graph, counts one in-place change (a graph that
saved the tensor then refuses its backward), and returns the tensor.

Random draws come from `rng`, a `np.random.Generator` (as the layers' `rng=`); None uses a
fresh `np.random.default_rng()`. Values are drawn in float64 and cast to the tensor's dtype.

Fans: for a tensor of 3 or more dimensions (a convolution weight, (out_channels,
in_channels / groups, *kernel)) fan_in = shape[1] * prod(kernel) and fan_out = shape[0] *
prod(kernel), as torch. A 2-D tensor is read in chainrule's Linear layout, (in_features,
out_features), the transpose of torch's: fan_in = shape[0], fan_out = shape[1], so a
chainrule Linear gets the fans torch's Linear of the same sizes gets. A 2-D weight kept in
torch's (out, in) layout (an Embedding's (num_embeddings, embedding_dim) too: torch gives it
fan_in = embedding_dim) must pass `mode="fan_out"` to kaiming_* for torch's fan_in.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.dtypes import numpy_dtype
from chainrule.nn.parameter import overwrite
from chainrule.primitives.activation import erf_values
from chainrule.tensor import Tensor

_ONE_GAIN: tuple[str, ...] = ("linear", "sigmoid", "conv1d", "conv2d", "conv3d")
_ONE_GAIN += ("conv_transpose1d", "conv_transpose2d", "conv_transpose3d")


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The gain torch recommends for `nonlinearity`: 1 for linear, conv and sigmoid, 5/3 for
    tanh, sqrt(2) for relu, sqrt(2 / (1 + slope^2)) for leaky_relu (slope `param`, default
    0.01), 3/4 for selu."""
    if nonlinearity in _ONE_GAIN:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = float(param)
        else:
            raise ValueError(
                f"calculate_gain: leaky_relu's negative slope must be a number, got {param!r}"
            )
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    known = [*_ONE_GAIN, "tanh", "relu", "leaky_relu", "selu"]
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}; one of {known}")


def calculate_fan_in_and_fan_out(tensor: Any) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of shape `tensor.shape` (see the module's note on 2-D
    tensors: chainrule's Linear layout (in_features, out_features))."""
    shape = tuple(np.shape(tensor.data if isinstance(tensor, Tensor) else tensor))
    if len(shape) < 2:
        raise ValueError(
            f"calculate_fan_in_and_fan_out: a tensor of shape {shape} has no fans; it needs "
            "at least 2 dimensions (a Linear or convolution weight), not a bias"
        )
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


_calculate_fan_in_and_fan_out = calculate_fan_in_and_fan_out  # torch's name


def _fill(name: str, tensor: Tensor, make: Callable[[tuple[int, ...]], Any]) -> Tensor:
    """Overwrite `tensor`'s values with `make(shape)` in place and count the change."""
    if not isinstance(tensor, Tensor):
        raise TypeError(
            f"init.{name}: expects a Tensor or Parameter (layer.weight), got "
            f"{type(tensor).__name__}"
        )
    dtype = np.dtype(numpy_dtype(tensor.dtype))
    if dtype.kind != "f":
        raise TypeError(f"init.{name}: the tensor must be floating point, got dtype {dtype}")
    overwrite(tensor, np.asarray(make(tuple(tensor.shape)), dtype=np.float64).astype(dtype))
    return tensor


def _generator(rng: np.random.Generator | None) -> np.random.Generator:
    return rng if rng is not None else np.random.default_rng()


def uniform_(
    tensor: Tensor, a: float = 0.0, b: float = 1.0, *, rng: np.random.Generator | None = None
) -> Tensor:
    """Fill with values drawn uniformly from [a, b)."""
    if not a <= b:
        raise ValueError(f"init.uniform_: needs a <= b, got a={a}, b={b}")
    return _fill("uniform_", tensor, lambda shape: _generator(rng).uniform(a, b, shape))


def normal_(
    tensor: Tensor, mean: float = 0.0, std: float = 1.0, *, rng: np.random.Generator | None = None
) -> Tensor:
    """Fill with values drawn from the normal distribution N(mean, std^2)."""
    if not std >= 0:
        raise ValueError(f"init.normal_: std must be >= 0, got {std}")
    return _fill("normal_", tensor, lambda shape: _generator(rng).normal(mean, std, shape))


def _erfinv(values: np.ndarray) -> np.ndarray:
    """erf^-1 of `values` in (-1, 1): Winitzki's closed-form guess (relative error ~2e-3),
    then Newton's method on erf, x <- x - (erf(x) - y) / (2/sqrt(pi) exp(-x**2)), whose
    error squares at each of the four steps, down to float64 rounding."""
    spread = 0.147  # Winitzki's constant
    log_gap = np.log1p(-values * values)
    first = 2.0 / (math.pi * spread) + log_gap / 2.0
    magnitude = np.sqrt(np.sqrt(first * first - log_gap / spread) - first)
    guess: np.ndarray = np.copysign(magnitude, values)
    for _ in range(4):
        slope = 2.0 / math.sqrt(math.pi) * np.exp(-guess * guess)
        guess = guess - (np.asarray(erf_values(guess)) - values) / slope
    return guess


def trunc_normal_(
    tensor: Tensor,
    mean: float = 0.0,
    std: float = 1.0,
    a: float = -2.0,
    b: float = 2.0,
    *,
    rng: np.random.Generator | None = None,
) -> Tensor:
    """Fill with values drawn from N(mean, std^2) truncated to [a, b], as torch's: by the
    inverse CDF, u uniform on [Phi(alpha), Phi(beta)] (alpha = (a - mean) / std, beta =
    (b - mean) / std, Phi(x) = (1 + erf(x / sqrt 2)) / 2), x = mean + std sqrt(2)
    erfinv(2u - 1), then clipped to [a, b] against rounding."""
    if not std > 0:
        raise ValueError(f"init.trunc_normal_: std must be > 0, got {std}")
    if not a < b:
        raise ValueError(f"init.trunc_normal_: needs a < b, got a={a}, b={b}")

    def phi(x: float) -> float:
        return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0

    low, high = phi((a - mean) / std), phi((b - mean) / std)
    if not high > low:
        raise ValueError(
            f"init.trunc_normal_: [a, b] = [{a}, {b}] lies so far in a tail of N({mean}, "
            f"{std}^2) that its probability rounds to 0; move mean or the bounds closer"
        )

    def make(shape: tuple[int, ...]) -> np.ndarray:
        uniform = _generator(rng).uniform(2.0 * low - 1.0, 2.0 * high - 1.0, shape)
        return np.clip(mean + std * math.sqrt(2.0) * _erfinv(uniform), a, b)

    return _fill("trunc_normal_", tensor, make)


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with `val`."""
    return _fill("constant_", tensor, lambda shape: np.full(shape, val))


def zeros_(tensor: Tensor) -> Tensor:
    """Fill with 0."""
    return _fill("zeros_", tensor, np.zeros)


def ones_(tensor: Tensor) -> Tensor:
    """Fill with 1."""
    return _fill("ones_", tensor, np.ones)


def eye_(tensor: Tensor) -> Tensor:
    """Fill a 2-D tensor with the identity: 1 where row == column, else 0."""
    if tensor.ndim != 2:
        raise ValueError(f"init.eye_: needs a 2-D tensor, got shape {tuple(tensor.shape)}")
    return _fill("eye_", tensor, lambda shape: np.eye(shape[0], shape[1]))


def xavier_uniform_(
    tensor: Tensor, gain: float = 1.0, *, rng: np.random.Generator | None = None
) -> Tensor:
    """Uniform on [-a, a], a = gain * sqrt(6 / (fan_in + fan_out)) (Glorot and Bengio)."""
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / max(fan_in + fan_out, 1))  # no elements: nothing drawn
    return _fill("xavier_uniform_", tensor, lambda s: _generator(rng).uniform(-bound, bound, s))


def xavier_normal_(
    tensor: Tensor, gain: float = 1.0, *, rng: np.random.Generator | None = None
) -> Tensor:
    """Normal N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out)) (Glorot and Bengio)."""
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / max(fan_in + fan_out, 1))  # no elements: nothing drawn
    return _fill("xavier_normal_", tensor, lambda s: _generator(rng).normal(0.0, std, s))


def _kaiming_std(name: str, tensor: Tensor, a: float, mode: str, nonlinearity: str) -> float:
    """gain(nonlinearity, a) / sqrt(fan), fan the fan_in or the fan_out by `mode`."""
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"init.{name}: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain(nonlinearity, a) / math.sqrt(max(fan, 1))  # 0: nothing drawn


def kaiming_uniform_(
    tensor: Tensor,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    *,
    rng: np.random.Generator | None = None,
) -> Tensor:
    """Uniform on [-bound, bound], bound = sqrt(3) * gain / sqrt(fan) (He et al.); `a` is
    leaky_relu's negative slope, `mode` picks fan_in (keeps the forward's variance) or
    fan_out (the backward's)."""
    bound = math.sqrt(3.0) * _kaiming_std("kaiming_uniform_", tensor, a, mode, nonlinearity)
    return _fill("kaiming_uniform_", tensor, lambda s: _generator(rng).uniform(-bound, bound, s))


def kaiming_normal_(
    tensor: Tensor,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    *,
    rng: np.random.Generator | None = None,
) -> Tensor:
    """Normal N(0, std^2), std = gain / sqrt(fan) (He et al.); `a` and `mode` as in
    `kaiming_uniform_`."""
    std = _kaiming_std("kaiming_normal_", tensor, a, mode, nonlinearity)
    return _fill("kaiming_normal_", tensor, lambda s: _generator(rng).normal(0.0, std, s))


def orthogonal_(
    tensor: Tensor, gain: float = 1.0, *, rng: np.random.Generator | None = None
) -> Tensor:
    """A (semi-)orthogonal matrix times `gain`, of the tensor viewed as (shape[0], rest):
    the Q of a QR decomposition of a standard normal draw, with signs fixed by R's diagonal
    so it is uniformly distributed (Saxe et al.)."""
    if tensor.ndim < 2:
        raise ValueError(
            f"init.orthogonal_: needs at least 2 dimensions, got shape {tuple(tensor.shape)}"
        )

    def make(shape: tuple[int, ...]) -> np.ndarray:
        rows = shape[0]
        cols = math.prod(shape) // rows if rows else 0
        draw = _generator(rng).standard_normal((rows, cols))
        wide = rows < cols
        q, r = np.linalg.qr(draw.T if wide else draw)
        q = q * np.where(np.diag(r) < 0, -1.0, 1.0)
        return (gain * (q.T if wide else q)).reshape(shape)

    return _fill("orthogonal_", tensor, make)


__all__ = [
    "calculate_fan_in_and_fan_out",
    "calculate_gain",
    "constant_",
    "eye_",
    "kaiming_normal_",
    "kaiming_uniform_",
    "normal_",
    "ones_",
    "orthogonal_",
    "trunc_normal_",
    "uniform_",
    "xavier_normal_",
    "xavier_uniform_",
    "zeros_",
]
