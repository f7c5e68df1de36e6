"""Parameter initialisation: He (Kaiming) scaled weights and zero biases.

The scale matters. With unscaled `randn` weights every unit of u1 = x @ w1 sums n_in terms of
unit variance, so its standard deviation is about sqrt(n_in) times that of x (28 for the
tutorial's 784 inputs); u3 grows the same way again, and the squared error starts in the
hundreds or thousands. Scaling by sqrt(2 / fan_in) keeps each layer's output variance close to
its input's; the factor 2 makes up for ReLU zeroing half of the units.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from chainrule._types import FloatArray


def he_normal(
    fan_in: int, fan_out: int, *, rng: np.random.Generator, dtype: npt.DTypeLike = np.float64
) -> FloatArray:
    """A (fan_in, fan_out) weight matrix with entries drawn from N(0, 2 / fan_in)."""
    if fan_in < 1 or fan_out < 1:
        raise ValueError(
            f"he_normal needs fan_in >= 1 and fan_out >= 1, got ({fan_in}, {fan_out}): a layer "
            f"needs at least one input and one output"
        )
    weights: FloatArray = (rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)).astype(
        dtype
    )
    return weights


def init_params(
    n_in: int,
    n_hidden: int,
    n_out: int,
    *,
    rng: np.random.Generator,
    dtype: npt.DTypeLike = np.float64,
) -> dict[str, FloatArray]:
    """Parameters of the tutorial network: w1 (n_in, n_hidden), b1 (n_hidden,),
    w2 (n_hidden, n_out), b2 (n_out,).

    Weights are He-scaled, w ~ N(0, 2 / fan_in), drawn w1 first, then w2; biases are zero.
    Unscaled `rng.standard_normal` weights would make u1's entries about sqrt(n_in) times
    larger than x's and blow up the initial loss (see the module docstring).

    Example:
        >>> params = init_params(784, 50, 1, rng=np.random.default_rng(0))
        >>> params["w1"].shape, params["b2"].shape
        ((784, 50), (1,))
    """
    w1 = he_normal(n_in, n_hidden, rng=rng, dtype=dtype)
    w2 = he_normal(n_hidden, n_out, rng=rng, dtype=dtype)
    return {
        "w1": w1,
        "b1": np.zeros(n_hidden, dtype=w1.dtype),
        "w2": w2,
        "b2": np.zeros(n_out, dtype=w2.dtype),
    }
