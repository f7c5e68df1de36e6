"""Every op at the points where conventions differ, forward and backward, against PyTorch 2.13
in float64: kinks and bounds (relu, abs, clip and the hard activations at 0 and on their
bounds, x**y and sqrt at 0, norms at the zero vector), ties (max/min, maximum/minimum, sort,
topk), infinities and NaN, zero-size and 0-d shapes, and integer and bool inputs.

Values must have PyTorch's shape, dtype and values (NaN where it has NaN, the same
infinities); each float input's gradient for the cotangent 1, 2, 3, ... (distinct, so a tie
routed to the wrong entry shows) must equal PyTorch's. Where PyTorch differs by a convention
we chose against, the case states our value and why (`ours_grads`, `ours_value`); where a
point is smooth, central differences check the gradient too.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from engine_cases import numerical_grad

import chainrule as cr
from chainrule import functional

pytestmark = pytest.mark.torch

INF, NAN = np.inf, np.nan


@dataclass(frozen=True)
class Edge:
    """One op at one edge point.

    `ours(*tensors)` and `theirs(torch, *tensors)` compute the same thing on `inputs`.
    `ours_value` / `ours_grads` replace PyTorch's value / gradients where we keep another
    convention on purpose (`why` says which and why). `smooth` marks points where the
    function is differentiable, so central differences must agree as well.
    """

    name: str
    ours: Callable[..., Any]
    theirs: Callable[..., Any]
    inputs: tuple[Any, ...]
    ours_value: Any = None
    ours_grads: tuple[Any, ...] | None = None
    why: str = ""
    smooth: bool = False


def a(*values: Any, dtype: Any = np.float64) -> np.ndarray:
    return np.array(values, dtype=dtype)


def unary(name: str, torch_name: str, *values: float, **kwargs: Any) -> Edge:
    """chainrule.<name>(x) against torch.<torch_name>(x) (dots reach torch.nn.functional)."""

    def theirs(torch: ModuleType, x: Any) -> Any:
        function: Any = torch
        for part in torch_name.split("."):
            function = getattr(function, part)
        return function(x)

    return Edge(
        f"{name}{list(values)}", lambda x: getattr(cr, name)(x), theirs, (a(*values),), **kwargs
    )


# ------------------------------------------------------------------ kinks and bounds
KINKS: tuple[Edge, ...] = (
    unary("relu", "relu", -1.0, 0.0, -0.0, 1.0),
    unary("abs", "abs", -1.0, 0.0, -0.0, 1.0),
    unary("sign", "sign", -1.0, 0.0, 1.0),
    unary("leaky_relu", "nn.functional.leaky_relu", -1.0, 0.0, 1.0),
    unary("elu", "nn.functional.elu", -1.0, 0.0, 1.0),
    unary("celu", "nn.functional.celu", -1.0, 0.0, 1.0),
    unary("selu", "nn.functional.selu", -1.0, 0.0, 1.0),
    unary("gelu", "nn.functional.gelu", -1.0, 0.0, 1.0, smooth=True),
    unary("hardtanh", "nn.functional.hardtanh", -2.0, -1.0, 0.0, 1.0, 2.0),
    unary("hardswish", "nn.functional.hardswish", -4.0, -3.0, 0.0, 3.0, 4.0),
    unary("hardsigmoid", "nn.functional.hardsigmoid", -4.0, -3.0, 3.0, 4.0),
    Edge(
        "hardsigmoid[0.0]",
        cr.hardsigmoid,
        lambda torch, x: torch.nn.functional.hardsigmoid(x),
        (a(0.0),),
        ours_grads=(a(1 / 6),),
        why="PyTorch's float64 backward uses 1/6 rounded to float32 (0.1666666716)",
        smooth=True,
    ),
    unary("softsign", "nn.functional.softsign", -1.0, 0.0, 1.0, smooth=True),
    unary("floor", "floor", -1.5, 0.0, 1.0),
    unary("round", "round", -0.5, 0.5, 1.5, 2.5),
    unary("sqrt", "sqrt", 0.0, -0.0, 1.0),
    unary("rsqrt", "rsqrt", 0.0, 1.0),
    unary("log", "log", 0.0, -1.0, 1.0),
    unary("log2", "log2", 0.0, 1.0),
    unary("log1p", "log1p", -1.0, -2.0, 0.0),
    unary("reciprocal", "reciprocal", 0.0, -0.0, 1.0),
    unary("arcsin", "asin", -1.0, 1.0, 1.5),
    unary("arccos", "acos", -1.0, 1.0),
    unary("arctanh", "atanh", -1.0, 1.0),
    unary("arccosh", "acosh", 1.0, 0.5),
    *(
        Edge(
            f"clip{bounds}",
            lambda x, b=bounds: cr.clip(x, *b),
            lambda t, x, b=bounds: t.clamp(x, *b),
            (a(-1.0, -0.5, 0.0, 0.5, 1.0),),
        )
        for bounds in ((-0.5, 0.5), (None, 0.5), (-0.5, None), (0.5, -0.5), (0.5, 0.5))
    ),
    Edge(
        "clip(array bounds broadcast up, on the bounds)",
        lambda x: cr.clip(x, a([0.0, 0.5, -1.0], [0.2, 0.2, 0.2]), 1.0),
        lambda torch, x: torch.clamp(
            x,
            torch.tensor([[0.0, 0.5, -1.0], [0.2, 0.2, 0.2]], dtype=x.dtype),
            torch.tensor(1.0, dtype=x.dtype),
        ),
        (a(0.0, 0.5, 1.0),),
    ),
    *(
        Edge(
            f"x**{p} at 0, -1, 2", lambda x, p=p: x**p, lambda t, x, p=p: x**p, (a(0.0, -1.0, 2.0),)
        )
        for p in (0, 1, 2, 3, -1, -2)
    ),
    *(
        Edge(f"x**{p} at 0, 2", lambda x, p=p: x**p, lambda t, x, p=p: x**p, (a(0.0, 2.0),))
        for p in (0.5, -0.5, 1.5)
    ),
    Edge(
        "x**y at x = 0 for y = 0, 0.5, 1, 2, -1",
        lambda x, y: x**y,
        lambda torch, x, y: x**y,
        (a(0.0, 0.0, 0.0, 0.0, 0.0), a(0.0, 0.5, 1.0, 2.0, -1.0)),
    ),
    Edge("0**x", lambda x: 0.0**x, lambda torch, x: 0.0**x, (a(0.0, 1.0, 2.0, -1.0),)),
    Edge("(-2)**x", lambda x: (-2.0) ** x, lambda torch, x: (-2.0) ** x, (a(0.0, 1.0, 2.0, 0.5),)),
    Edge(
        "x / 0",
        lambda x, y: x / y,
        lambda torch, x, y: x / y,
        (a(1.0, 0.0, -1.0), a(0.0, 0.0, -0.0)),
    ),
    Edge(
        "arctan2 at (0, 0) and (0, -0)",
        cr.arctan2,
        lambda torch, y, x: torch.atan2(y, x),
        (a(0.0, 0.0, 1.0), a(0.0, -0.0, 0.0)),
    ),
    Edge(
        "hypot at (0, 0)",
        cr.hypot,
        lambda torch, x, y: torch.hypot(x, y),
        (a(0.0, 3.0), a(0.0, 4.0)),
    ),
    Edge(
        "fmod by 0",
        cr.fmod,
        lambda torch, x, y: torch.fmod(x, y),
        (a(1.0, -1.0, 0.0, 4.0), a(0.0, 0.0, 1.0, 2.0)),
    ),
    Edge(
        "remainder by 0 and exact multiples",
        cr.remainder,
        lambda torch, x, y: torch.remainder(x, y),
        (a(1.0, -1.0, 3.0, 4.0, -4.0), a(0.0, 0.0, -2.0, 2.0, 2.0)),
    ),
    *(
        Edge(
            f"norm(ord={order}) of the zero vector",
            lambda x, o=order: cr.norm(x, ord=o),
            lambda torch, x, o=order: torch.linalg.vector_norm(x, ord=o),
            (np.zeros(3),),
        )
        for order in (1, 2, INF, -INF, 3, 0.5)
    ),
    *(
        Edge(
            f"norm(ord={order}) of a vector with a 0 and a tie",
            lambda x, o=order: cr.norm(x, ord=o),
            lambda torch, x, o=order: torch.linalg.vector_norm(x, ord=o),
            (a(0.0, 2.0, -2.0),),
        )
        for order in (1, 2, INF, 3)
    ),
    Edge(
        "norm('fro') of zeros",
        lambda x: cr.norm(x, ord="fro"),
        lambda t, x: t.linalg.matrix_norm(x),
        (np.zeros((2, 2)),),
    ),
    *(
        Edge(
            f"matrix norm(ord={order}) with tied columns/rows",
            lambda x, o=order: cr.norm(x, ord=o),
            lambda torch, x, o=order: torch.linalg.matrix_norm(x, ord=o),
            (np.ones((2, 2)),),
        )
        for order in (1, -1, INF, -INF)
    ),
    Edge(
        "huber and smooth_l1 on delta",
        lambda x: (
            functional.huber_loss(x, np.zeros(4), delta=0.5)
            + functional.smooth_l1_loss(x, np.zeros(4))
        ),
        lambda torch, x: (
            torch.nn.functional.huber_loss(x, torch.zeros(4, dtype=x.dtype), delta=0.5)
            + torch.nn.functional.smooth_l1_loss(x, torch.zeros(4, dtype=x.dtype))
        ),
        (a(0.5, -0.5, 1.0, 0.0),),
    ),
    Edge(
        "l1_loss at 0",
        lambda x: functional.l1_loss(x, np.zeros(2)),
        lambda torch, x: torch.nn.functional.l1_loss(x, torch.zeros(2, dtype=x.dtype)),
        (a(0.0, 1.0),),
    ),
)

# ------------------------------------------------------------------ ties
TIED = a([1.0, 3.0, 3.0], [2.0, 2.0, 2.0])


def _topk_values(x: Any, **kwargs: Any) -> Any:
    return cr.topk(x, **kwargs)[0]


TIES: tuple[Edge, ...] = (
    # chainrule.max/min are torch.amax/amin: tied entries share the gradient equally.
    Edge("max() over ties", cr.max, lambda torch, x: torch.amax(x, dim=(0, 1)), (TIED,)),
    Edge(
        "max(axis=1) over ties", lambda x: cr.max(x, axis=1), lambda t, x: t.amax(x, dim=1), (TIED,)
    ),
    Edge(
        "min(axis=0) over ties", lambda x: cr.min(x, axis=0), lambda t, x: t.amin(x, dim=0), (TIED,)
    ),
    Edge(
        "amax(dim=1) over ties", lambda x: cr.amax(x, dim=1), lambda t, x: t.amax(x, dim=1), (TIED,)
    ),
    Edge("max over +inf ties", cr.max, lambda t, x: t.amax(x, dim=0), (a(INF, INF, 3.0),)),
    Edge("max of all -inf", cr.max, lambda t, x: t.amax(x, dim=0), (a(-INF, -INF),)),
    Edge(
        "maximum of equal entries",
        cr.maximum,
        lambda t, x, y: t.maximum(x, y),
        (a(1.0, 2.0, 0.0), a(1.0, 1.0, 0.0)),
    ),
    Edge(
        "minimum of equal entries",
        cr.minimum,
        lambda t, x, y: t.minimum(x, y),
        (a(1.0, 2.0, 0.0), a(1.0, 1.0, 0.0)),
    ),
    Edge(
        "maximum of equal entries, broadcast",
        cr.maximum,
        lambda torch, x, y: torch.maximum(x, y),
        (a([1.0], [0.0]), a(1.0, 0.0, 1.0)),
    ),
    Edge(
        "maximum(x, x)",
        lambda x: cr.maximum(x, x),
        lambda torch, x: torch.maximum(x, x),
        (a(1.0, -2.0),),
    ),
    Edge(
        "sort with ties",
        lambda x: cr.sort(x, axis=1),
        lambda t, x: t.sort(x, dim=1, stable=True).values,
        (TIED,),
    ),
    Edge(
        "sort descending with ties",
        lambda x: cr.sort(x, axis=1, descending=True),
        lambda torch, x: torch.sort(x, dim=1, descending=True, stable=True).values,
        (TIED,),
    ),
    Edge(
        "argsort with ties",
        lambda x: cr.argsort(x, axis=1),
        lambda torch, x: torch.argsort(x, dim=1, stable=True),
        (TIED,),
    ),
    Edge(
        "topk with ties",
        lambda x: _topk_values(x, k=2, axis=1),
        lambda torch, x: torch.topk(x, 2, dim=1).values,
        (TIED,),
    ),
    Edge(
        "topk smallest with ties",
        lambda x: _topk_values(x, k=2, axis=1, largest=False),
        lambda torch, x: torch.topk(x, 2, dim=1, largest=False).values,
        (TIED,),
    ),
    Edge(
        "argmax with ties", lambda x: cr.argmax(x, axis=1), lambda t, x: t.argmax(x, dim=1), (TIED,)
    ),
    Edge(
        "argmin with ties", lambda x: cr.argmin(x, axis=1), lambda t, x: t.argmin(x, dim=1), (TIED,)
    ),
    Edge(
        "where with equal branches",
        lambda x, y: cr.where(np.array([True, False]), x, y),
        lambda torch, x, y: torch.where(torch.tensor([True, False]), x, y),
        (a(1.0, 1.0), a(1.0, 1.0)),
    ),
    Edge(
        "where(c, x, x)",
        lambda x: cr.where(np.array([True, False]), x, x),
        lambda torch, x: torch.where(torch.tensor([True, False]), x, x),
        (a(1.0, 1.0),),
    ),
    Edge(
        "max_pool2d over a window of ties",
        lambda x: functional.max_pool2d(x, 2),
        lambda torch, x: torch.nn.functional.max_pool2d(x, 2),
        (np.ones((1, 1, 2, 4)),),
    ),
    Edge(
        "prod with one and two zeros",
        lambda x: cr.prod(x, axis=1),
        lambda torch, x: torch.prod(x, dim=1),
        (a([2.0, 0.0, 3.0], [0.0, 0.0, 1.0], [1.0, 2.0, 3.0]),),
    ),
    Edge(
        "cumprod through zeros",
        lambda x: cr.cumprod(x, axis=0),
        lambda torch, x: torch.cumprod(x, dim=0),
        (a(2.0, 0.0, 3.0, 0.0, 4.0),),
    ),
)

# ------------------------------------------------------------------ infinities and NaN
ROWS = {
    "a row of -inf": a([-INF, -INF, -INF], [0.0, 1.0, 2.0]),
    "a -inf entry": a([-INF, 0.0, 1.0]),
    "+-1000": a([1000.0, -1000.0, 0.0]),
}


def _row_cases() -> list[Edge]:
    cases = []
    for label, rows in ROWS.items():
        cases += [
            Edge(
                f"softmax with {label}",
                lambda x: cr.softmax(x, axis=1),
                lambda t, x: t.softmax(x, 1),
                (rows,),
            ),
            Edge(
                f"log_softmax with {label}",
                lambda x: cr.log_softmax(x, axis=1),
                lambda torch, x: torch.log_softmax(x, 1),
                (rows,),
            ),
            Edge(
                f"logsumexp with {label}",
                lambda x: cr.logsumexp(x, axis=1, keepdims=True),
                lambda torch, x: torch.logsumexp(x, 1, keepdim=True),
                (rows,),
            ),
            Edge(
                f"logsumexp of all, {label}",
                cr.logsumexp,
                lambda t, x: t.logsumexp(x, (0, 1)),
                (rows,),
            ),
        ]
    return cases


NON_FINITE: tuple[Edge, ...] = (
    *_row_cases(),
    Edge(
        "softmax with +inf entries",
        lambda x: cr.softmax(x, axis=1),
        lambda torch, x: torch.softmax(x, 1),
        (a([INF, 0.0, 1.0]),),
        ours_value=a([NAN, 0.0, 0.0]),
        ours_grads=(a([NAN, NAN, NAN]),),
        why="exp(x - max) is exp(inf - inf) = NaN only at the +inf entry (PyTorch: the whole row)",
    ),
    unary("exp", "exp", 710.0, -INF, INF),
    unary("expm1", "expm1", 710.0, -INF, INF),
    unary("exp2", "exp2", 1025.0, -INF, INF),
    unary("sigmoid", "sigmoid", INF, -INF, 1e4, -1e4, -745.0),
    unary("tanh", "tanh", INF, -INF, 1e4, -1e4, 20.0),
    unary("sinh", "sinh", INF, -INF, 1e4),
    unary("cosh", "cosh", INF, -INF, 1e4),
    unary("log", "log", INF),
    unary("sqrt", "sqrt", INF, -1.0),
    unary("arctan", "atan", INF, -INF),
    unary("erf", "erf", INF, -INF, 30.0),
    unary("softplus", "nn.functional.softplus", -INF, INF, -1000.0, 1000.0, 20.0, 21.0),
    unary("logsigmoid", "nn.functional.logsigmoid", -INF, INF, -1000.0, 1000.0),
    unary("silu", "nn.functional.silu", -INF, INF, -1000.0, 1000.0),
    unary("mish", "nn.functional.mish", -INF, INF, -1000.0, 1000.0),
    unary("gelu", "nn.functional.gelu", -INF, INF, -1000.0, 1000.0),
    unary("elu", "nn.functional.elu", -INF, INF, -1000.0),
    unary("selu", "nn.functional.selu", -INF, INF, -1000.0),
    Edge(
        "softsign at +-inf",
        cr.softsign,
        lambda torch, x: torch.nn.functional.softsign(x),
        (a(-INF, INF, 1e300),),
        ours_grads=(a(0.0, 0.0, 0.0),),
        why="1 / (1 + |x|)**2 tends to 0; PyTorch's quotient rule gives inf / inf = NaN at +-inf",
    ),
    Edge(
        "gelu(tanh) at +-inf",
        lambda x: cr.gelu(x, approximate="tanh"),
        lambda torch, x: torch.nn.functional.gelu(x, approximate="tanh"),
        (a(-INF, INF, -1000.0, 0.0),),
    ),
    Edge(
        "logaddexp of infinities",
        cr.logaddexp,
        lambda t, x, y: t.logaddexp(x, y),
        (a(-INF, INF, 0.0, INF), a(-INF, INF, 0.0, -INF)),
    ),
    Edge(
        "arctan2 of infinities",
        cr.arctan2,
        lambda t, y, x: t.atan2(y, x),
        (a(INF, 1.0, INF), a(1.0, INF, INF)),
    ),
    Edge("inf * 0", lambda x, y: x * y, lambda t, x, y: x * y, (a(INF, 0.0), a(0.0, INF))),
    Edge("norm with an inf entry", cr.norm, lambda t, x: t.linalg.vector_norm(x), (a(INF, 1.0),)),
    Edge(
        "norm near overflow and underflow",
        cr.norm,
        lambda t, x: t.linalg.vector_norm(x),
        (a(1e200, 1e200, 1e-200),),
    ),
    Edge(
        "logcumsumexp with -inf and +inf",
        lambda x: cr.logcumsumexp(x, axis=0),
        lambda t, x: t.logcumsumexp(x, 0),
        (a(-INF, -INF, 0.0, INF, 1.0),),
    ),
    Edge(
        "cumsum through inf",
        lambda x: cr.cumsum(x, axis=0),
        lambda t, x: t.cumsum(x, 0),
        (a(INF, 1.0),),
    ),
    Edge(
        "prod with inf and NaN",
        lambda x: cr.prod(x, axis=1),
        lambda t, x: t.prod(x, 1),
        (a([2.0, INF, 3.0], [2.0, NAN, 0.0]),),
    ),
    Edge("nan_to_num", cr.nan_to_num, lambda t, x: t.nan_to_num(x), (a(NAN, INF, -INF, 1.0),)),
    Edge(
        "binary_cross_entropy_with_logits at +-inf",
        lambda x, y: functional.binary_cross_entropy_with_logits(x, y),
        lambda torch, x, y: torch.nn.functional.binary_cross_entropy_with_logits(x, y),
        (a(INF, -INF, 1000.0, -1000.0), a(1.0, 0.0, 0.0, 1.0)),
    ),
    Edge(
        "cross_entropy with a -inf logit",
        lambda x: functional.cross_entropy(x, np.array([1, 0])),
        lambda torch, x: torch.nn.functional.cross_entropy(x, torch.tensor([1, 0])),
        (a([-INF, 0.0, 1.0], [-INF, 0.0, 1.0]),),
    ),
    # NaN goes through as in PyTorch: max, maximum, clip and relu give NaN where an input is.
    Edge(
        "max with NaN",
        lambda x: cr.max(x, axis=1),
        lambda t, x: t.amax(x, 1),
        (a([1.0, NAN, 3.0], [NAN, NAN, 0.0]),),
    ),
    Edge("min with NaN", cr.min, lambda t, x: t.amin(x, 0), (a(1.0, NAN, 3.0),)),
    # maximum(NaN, 1) is NaN: the gradient reached only the 1, which did not make the output.
    Edge(
        "maximum with NaN on either side",
        cr.maximum,
        lambda torch, x, y: torch.maximum(x, y),
        (a(NAN, 0.5, NAN, 1.0), a(0.5, NAN, NAN, 1.0)),
    ),
    Edge(
        "minimum with NaN on either side",
        cr.minimum,
        lambda torch, x, y: torch.minimum(x, y),
        (a(NAN, 0.5, NAN, 1.0), a(0.5, NAN, NAN, 1.0)),
    ),
    Edge(
        "maximum with NaN, broadcast",
        cr.maximum,
        lambda torch, x, y: torch.maximum(x, y),
        (a([NAN], [0.0]), a(NAN, 0.0, 1.0)),
    ),
    # hardtanh and hardswish gave a NaN input the gradient 0, where clip (the same function
    # as hardtanh), maximum and PyTorch pass it through with slope 1.
    Edge(
        "hardtanh at NaN",
        cr.hardtanh,
        lambda torch, x: torch.nn.functional.hardtanh(x),
        (a(NAN, 0.5, 2.0),),
    ),
    Edge(
        "hardswish at NaN",
        cr.hardswish,
        lambda torch, x: torch.nn.functional.hardswish(x),
        (a(NAN, 0.5, 4.0, -4.0),),
    ),
    # relu(NaN) is NaN, but its gradient was 0: maximum(x, 0), clip(x, 0) and PyTorch give 1.
    Edge("relu at NaN", cr.relu, lambda torch, x: torch.relu(x), (a(NAN, -1.0, 0.0, 2.0),)),
    Edge(
        "clip with NaN",
        lambda x: cr.clip(x, -1.0, 1.0),
        lambda t, x: t.clamp(x, -1.0, 1.0),
        (a(NAN, 2.0),),
    ),
    Edge(
        "sort with NaN",
        cr.sort,
        lambda t, x: t.sort(x, stable=True).values,
        (a(NAN, 1.0, -INF, 0.0),),
    ),
    Edge(
        "sort descending with NaN",
        lambda x: cr.sort(x, descending=True),
        lambda torch, x: torch.sort(x, descending=True, stable=True).values,
        (a(NAN, 1.0, -INF, 0.0),),
    ),
    Edge("argmax with NaN", cr.argmax, lambda t, x: t.argmax(x), (a(1.0, NAN, 5.0),)),
    Edge(
        "softmax with NaN",
        lambda x: cr.softmax(x, axis=0),
        lambda t, x: t.softmax(x, 0),
        (a(NAN, 0.5, 1.0),),
    ),
    Edge(
        "sign and abs of NaN",
        lambda x: cr.sign(x) + cr.abs(x),
        lambda torch, x: torch.sign(x) + torch.abs(x),
        (a(NAN, 2.0),),
        ours_value=a(NAN, 3.0),
        ours_grads=(a(NAN, 2.0),),
        why="NumPy's sign(NaN) is NaN (PyTorch's is 0); abs' = sign, so NaN reaches the gradient",
    ),
    Edge(
        "elu, celu, selu at NaN",
        lambda x: cr.elu(x) + cr.celu(x) + cr.selu(x),
        lambda torch, x: (
            torch.nn.functional.elu(x) + torch.nn.functional.celu(x) + torch.nn.functional.selu(x)
        ),
        (a(NAN),),
        ours_grads=(a(NAN),),
        why="the slope alpha exp(x) of the negative side is NaN at NaN (PyTorch takes slope 1)",
    ),
    Edge(
        "norm(ord=inf) with NaN",
        lambda x: cr.norm(x, ord=INF),
        lambda torch, x: torch.linalg.vector_norm(x, ord=INF),
        (a(NAN, 0.5, 1.0),),
        ours_grads=(a(NAN, NAN, NAN),),
        why="the max's tie mask compares with NaN and its count is 0, so 0/0 (PyTorch gives 0)",
    ),
)

# ------------------------------------------------------------------ zero-size and 0-d shapes
E03, E20 = np.zeros((0, 3)), np.zeros((2, 0))


def _reduction_cases() -> list[Edge]:
    cases = []
    for name, torch_name in (
        ("sum", "sum"),
        ("mean", "mean"),
        ("var", "var"),
        ("logsumexp", "logsumexp"),
    ):
        for array, axis in ((E03, 1), (E20, 1), (E03, 0)):
            if name == "var" and array.shape[axis] == 0:
                continue  # no values along the reduced axis: refused, see test_refusals
            cases.append(
                Edge(
                    f"{name}(axis={axis}) of shape {array.shape}",
                    lambda x, n=name, ax=axis: getattr(cr, n)(x, axis=ax),
                    lambda torch, x, n=torch_name, ax=axis: (
                        torch.var(x, dim=ax, correction=0)
                        if n == "var"
                        else getattr(torch, n)(x, ax)
                    ),
                    (array,),
                )
            )
    return cases


EMPTY: tuple[Edge, ...] = (
    *_reduction_cases(),
    Edge("sum of no values", cr.sum, lambda t, x: t.sum(x), (E03,)),
    Edge("mean of no values", cr.mean, lambda t, x: t.mean(x), (E03,)),
    Edge("prod of no values", cr.prod, lambda t, x: t.prod(x), (E03,)),
    Edge("prod(axis=0) of (0, 3)", lambda x: cr.prod(x, axis=0), lambda t, x: t.prod(x, 0), (E03,)),
    Edge("max(axis=1) of (0, 3)", lambda x: cr.max(x, axis=1), lambda t, x: t.amax(x, 1), (E03,)),
    Edge("norm of no values", cr.norm, lambda t, x: t.linalg.vector_norm(x), (E03,)),
    # The largest row (column) sum of a matrix with no rows (columns) is 0, as NumPy and
    # PyTorch: it was refused as "max: the tensor is empty (shape (0, 1))".
    *(
        Edge(
            f"matrix norm(ord={order}) of shape {shape}",
            lambda x, o=order: cr.norm(x, ord=o),
            lambda torch, x, o=order: torch.linalg.matrix_norm(x, ord=o),
            (np.zeros(shape),),
        )
        for order, shape in ((INF, (0, 3)), (INF, (3, 0)), (1, (3, 0)), (1, (0, 3)), (-1, (0, 3)))
    ),
    Edge(
        "softmax along an empty axis",
        lambda x: cr.softmax(x, axis=1),
        lambda t, x: t.softmax(x, 1),
        (E20,),
    ),
    Edge(
        "log_softmax of no rows",
        lambda x: cr.log_softmax(x, axis=1),
        lambda t, x: t.log_softmax(x, 1),
        (E03,),
    ),
    Edge("matmul with k = 0", lambda x, y: x @ y, lambda t, x, y: x @ y, (E20, np.zeros((0, 3)))),
    Edge(
        "matmul with m = 0", lambda x, y: x @ y, lambda t, x, y: x @ y, (E03.T.T, np.ones((3, 2)))
    ),
    Edge(
        "vector @ vector of length 0",
        lambda x, y: x @ y,
        lambda t, x, y: x @ y,
        (np.zeros(0), np.zeros(0)),
    ),
    Edge(
        "einsum with k = 0",
        lambda x, y: cr.einsum("ij,jk->ik", x, y),
        lambda t, x, y: t.einsum("ij,jk->ik", x, y),
        (E20, np.zeros((0, 3))),
    ),
    Edge(
        "concatenate with an empty piece",
        lambda x, y: cr.concatenate([x, y]),
        lambda t, x, y: t.cat([x, y]),
        (E03, np.ones((2, 3))),
    ),
    Edge(
        "concatenate(axis=1) with an empty piece",
        lambda x, y: cr.concatenate([x, y], axis=1),
        lambda torch, x, y: torch.cat([x, y], 1),
        (E20, np.ones((2, 3))),
    ),
    Edge(
        "stack of empties",
        lambda x, y: cr.stack([x, y]),
        lambda t, x, y: t.stack([x, y]),
        (E03, E03),
    ),
    Edge(
        "reshape (0, 3) to (3, 0)",
        lambda x: x.reshape((3, 0)),
        lambda t, x: x.reshape((3, 0)),
        (E03,),
    ),
    Edge("reshape (0, 3) to (-1,)", lambda x: x.reshape(-1), lambda t, x: x.reshape(-1), (E03,)),
    Edge(
        "index with an empty int array",
        lambda x: x[np.array([], dtype=np.int64)],
        lambda t, x: x[t.tensor([], dtype=t.int64)],
        (np.ones((3, 2)),),
    ),
    Edge(
        "index with an all-False mask",
        lambda x: x[np.zeros(3, bool)],
        lambda t, x: x[t.zeros(3, dtype=t.bool)],
        (np.ones((3, 2)),),
    ),
    Edge("empty slice", lambda x: x[2:1], lambda t, x: x[2:1], (np.ones((3, 2)),)),
    Edge(
        "take of no indices",
        lambda x: cr.take(x, np.array([], dtype=np.int64)),
        lambda t, x: x.reshape(-1)[t.tensor([], dtype=t.int64)],
        (np.ones((3, 2)),),
    ),
    Edge(
        "gather of no indices",
        lambda x: x.gather(0, np.zeros((0, 3), np.int64)),
        lambda t, x: x.gather(0, t.zeros((0, 3), dtype=t.int64)),
        (np.ones((2, 3)),),
    ),
    Edge("cumsum of no rows", lambda x: cr.cumsum(x, axis=0), lambda t, x: t.cumsum(x, 0), (E03,)),
    Edge(
        "sort along an empty axis",
        lambda x: cr.sort(x, axis=1),
        lambda t, x: t.sort(x, 1).values,
        (E20,),
    ),
    Edge(
        "topk with k = 0",
        lambda x: _topk_values(x, k=0),
        lambda t, x: t.topk(x, 0).values,
        (a(1.0, 2.0),),
    ),
    Edge("add (0, 3) + (3,)", lambda x, y: x + y, lambda t, x, y: x + y, (E03, np.ones(3))),
    Edge(
        "mul (0, 1) * (1, 3)",
        lambda x, y: x * y,
        lambda t, x, y: x * y,
        (np.zeros((0, 1)), np.ones((1, 3))),
    ),
    Edge("mul (0,) * (1,)", lambda x, y: x * y, lambda t, x, y: x * y, (np.zeros(0), a(2.0))),
    Edge(
        "maximum (0, 3) with (3,)", cr.maximum, lambda t, x, y: t.maximum(x, y), (E03, np.ones(3))
    ),
    Edge(
        "broadcast_to (3, 1) -> (3, 0)",
        lambda x: cr.broadcast_to(x, (3, 0)),
        lambda t, x: t.broadcast_to(x, (3, 0)),
        (np.ones((3, 1)),),
    ),
    Edge(
        "outer with an empty vector",
        cr.outer,
        lambda t, x, y: t.outer(x, y),
        (np.zeros(0), np.ones(3)),
    ),
    Edge("trace of (0, 0)", cr.trace, lambda t, x: t.trace(x), (np.zeros((0, 0)),)),
    Edge(
        "pad of an empty tensor",
        lambda x: cr.pad(x, 1),
        lambda t, x: t.nn.functional.pad(x, (1, 1, 1, 1)),
        (E03,),
    ),
    Edge(
        "layer_norm of no rows",
        lambda x: functional.layer_norm(x, 3),
        lambda t, x: t.nn.functional.layer_norm(x, (3,)),
        (E03,),
    ),
    Edge(
        "embedding of no indices",
        lambda w: functional.embedding(np.zeros(0, np.int64), w),
        lambda torch, w: torch.nn.functional.embedding(torch.zeros(0, dtype=torch.int64), w),
        (np.ones((4, 2)),),
    ),
    Edge(
        "softmax of a 0-d tensor",
        lambda x: cr.softmax(x, axis=0),
        lambda t, x: t.softmax(x, 0),
        (np.array(1.0),),
    ),
    Edge(
        "logsumexp of a 0-d -inf", cr.logsumexp, lambda t, x: t.logsumexp(x, 0), (np.array(-INF),)
    ),
    Edge(
        "sum(keepdims) of a 0-d tensor",
        lambda x: cr.sum(x, keepdims=True),
        lambda t, x: t.sum(x, (), keepdim=True),
        (np.array(2.0),),
    ),
    Edge(
        "broadcast_to then sum back over size-1 axes",
        lambda x: cr.broadcast_to(x, (2, 3, 4)),
        lambda torch, x: torch.broadcast_to(x, (2, 3, 4)),
        (np.arange(4.0).reshape(1, 4),),
    ),
)

# ------------------------------------------------------------------ integer and bool inputs
INTS, DIVISORS = a(-3, 0, 4, 7, dtype=np.int64), a(2, 2, -3, 2, dtype=np.int64)
BOOLS = a(True, False, True, False, dtype=np.bool_)

INTEGERS: tuple[Edge, ...] = (
    Edge("int / int", lambda x, y: x / y, lambda t, x, y: x / y, (INTS, DIVISORS)),
    Edge("int % int", lambda x, y: x % y, lambda t, x, y: x % y, (INTS, DIVISORS)),
    Edge("int % -2", lambda x: x % -2, lambda t, x: x % -2, (INTS,)),
    Edge("int * int", lambda x, y: x * y, lambda t, x, y: x * y, (INTS, DIVISORS)),
    Edge("int ** int", lambda x, y: x ** (y * y), lambda t, x, y: x ** (y * y), (INTS, DIVISORS)),
    Edge("fmod of ints", cr.fmod, lambda t, x, y: t.fmod(x, y), (INTS, DIVISORS)),
    Edge("remainder of ints", cr.remainder, lambda t, x, y: t.remainder(x, y), (INTS, DIVISORS)),
    Edge("int / 2", lambda x: x / 2, lambda t, x: x / 2, (INTS,)),
    Edge("int * 0.5", lambda x: x * 0.5, lambda t, x: x * 0.5, (INTS,)),
    Edge("bool + bool", lambda x, y: x + y, lambda t, x, y: x + y, (BOOLS, BOOLS)),
    Edge("sum of bools", cr.sum, lambda t, x: t.sum(x), (BOOLS,)),
    Edge("cumsum of bools", lambda x: cr.cumsum(x, axis=0), lambda t, x: t.cumsum(x, 0), (BOOLS,)),
    Edge("exp of ints", cr.exp, lambda t, x: t.exp(x), (INTS,)),
    Edge(
        "abs, relu, sign of ints",
        lambda x: cr.abs(x) + cr.relu(x) + cr.sign(x),
        lambda t, x: t.abs(x) + t.relu(x) + t.sign(x),
        (INTS,),
    ),
    Edge("clip of ints", lambda x: cr.clip(x, 0, 5), lambda t, x: t.clamp(x, 0, 5), (INTS,)),
    Edge(
        "max, prod of ints",
        lambda x: cr.max(x) + cr.prod(x),
        lambda t, x: t.max(x) + t.prod(x),
        (INTS,),
    ),
    Edge("maximum of ints", cr.maximum, lambda t, x, y: t.maximum(x, y), (INTS, DIVISORS)),
    Edge("int @ int", lambda x, y: x @ y, lambda t, x, y: x @ y, (INTS, DIVISORS)),
    Edge("int + float", lambda x, y: x + y, lambda t, x, y: x + y, (INTS, a(0.5, 0.5, 0.5, 0.5))),
    Edge(
        "float / int", lambda x, y: x / y, lambda t, x, y: x / y, (a(0.5, 0.5, 0.5, 0.5), DIVISORS)
    ),
    Edge(
        "float ** int", lambda x, y: x**y, lambda t, x, y: x**y, (a(0.5, 0.5, 0.5, 0.5), DIVISORS)
    ),
    Edge(
        "maximum(float, int) on ties",
        cr.maximum,
        lambda t, x, y: t.maximum(x, y),
        (a(0.5, 2.0, 2.0), a(1, 2, 1, dtype=np.int64)),
    ),
    Edge(
        "where of ints",
        lambda x, y: cr.where(BOOLS, x, y),
        lambda t, x, y: t.where(t.from_numpy(BOOLS), x, y),
        (INTS, DIVISORS),
    ),
    # A comparison is a constant mask: no gradient flows through it, only through x.
    Edge("(x < 1.5) * x", lambda x: (x < 1.5) * x, lambda t, x: (x < 1.5) * x, (a(1.0, 2.0),)),
    Edge(
        "where(x > 0, x, 0)",
        lambda x: cr.where(x > 0, x, 0.0),
        lambda t, x: t.where(x > 0, x, 0.0),
        (a(-1.0, 0.0, 2.0),),
    ),
)

# ------------------------------------------------------------------ ported edge tests
# In our words, after edge cases of tinygrad's test/test_ops.py and PyTorch's
# test/test_autograd.py.
PORTED: tuple[Edge, ...] = (
    # tinygrad test_maximum / test_minimum: a scalar tie and an element-wise tie.
    Edge(
        "maximum with a scalar tie",
        lambda x: cr.maximum(x, 3.0),
        lambda t, x: t.maximum(x, t.tensor(3.0, dtype=x.dtype)),
        (a(1.0, 0.0, 3.0, -4.0),),
    ),
    Edge(
        "minimum with element-wise ties",
        cr.minimum,
        lambda t, x, y: t.minimum(x, y),
        (a(1.0, 0.0, 3.0, -4.0), a(-1.0, 0.0, 3.0, 0.0)),
    ),
    # tinygrad test_sum_with_zeros_shape: sums over and beside a zero-size axis.
    Edge(
        "sum over a (4, 0) along each axis",
        lambda x: cr.sum(x, axis=0).sum() + cr.sum(x, axis=1).sum(),
        lambda t, x: x.sum(0).sum() + x.sum(1).sum(),
        (np.zeros((4, 0)),),
    ),
    # PyTorch test_norm_subgradient: the 2-norm of the zero vector has gradient 0, not NaN.
    Edge(
        "2-norm of a zero row",
        lambda x: cr.norm(x, axis=1),
        lambda t, x: t.linalg.vector_norm(x, dim=1),
        (a([0.0, 0.0], [3.0, 4.0]),),
    ),
    # PyTorch test_cdist_same_inputs: distances of a set to itself have finite gradients.
    Edge(
        "cdist(x, x)",
        lambda x: functional.cdist(x, x),
        lambda t, x: t.cdist(x, x),
        (a([1.0, 2.0], [3.0, 5.0]),),
    ),
    # PyTorch test_logsumexp_large_value: no overflow, gradient 1/n per entry.
    Edge(
        "logsumexp of equal large values",
        cr.logsumexp,
        lambda torch, x: torch.logsumexp(x, 0),
        (a(1e10, 1e10, 1e10),),
        ours_grads=(a(1 / 3, 1 / 3, 1 / 3),),
        why="PyTorch's exp(x - logsumexp) keeps the rounding of log(3) + 1e10: 1/3 + 1.5e-7",
    ),
    # PyTorch test_pow_zero_tensor_gradient: d(x**0)/dx = 0 at x = 0, not NaN.
    Edge(
        "x**0 with a tensor exponent at x = 0",
        lambda x, y: x**y,
        lambda t, x, y: x**y,
        (a(0.0), a(0.0)),
    ),
    # PyTorch's prod backward with zeros: one zero gives the product of the rest there.
    Edge(
        "prod of a matrix with zeros, all axes",
        cr.prod,
        lambda t, x: t.prod(x),
        (a([1.0, 0.0], [2.0, 3.0]),),
    ),
)

CASES = KINKS + TIES + NON_FINITE + EMPTY + INTEGERS + PORTED


def _cotangent(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """1, 2, 3, ... in `shape`: distinct entries, so a gradient routed to the wrong tie shows."""
    return np.arange(1, 1 + int(np.prod(shape)), dtype=np.float64).reshape(shape).astype(dtype)


def _assert_same(ours: Any, theirs: np.ndarray, what: str) -> None:
    ours = np.asarray(ours)
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} != {theirs.shape}"
    assert ours.dtype == theirs.dtype, f"{what}: dtype {ours.dtype} != {theirs.dtype}"
    if theirs.dtype.kind in "biu":
        np.testing.assert_array_equal(ours, theirs, err_msg=what)
    else:
        np.testing.assert_allclose(
            ours, theirs, rtol=1e-12, atol=1e-300, equal_nan=True, err_msg=what
        )


def _differentiable(array: np.ndarray) -> bool:
    return array.dtype.kind == "f"


def _quietly(run: Callable[[], Any]) -> Any:
    """run() without NumPy's and PyTorch's warnings (a mean of no values, inf - inf)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return run()


def _run_ours(case: Edge) -> tuple[np.ndarray, list[np.ndarray | None]]:
    tensors = [cr.tensor(x, dtype=x.dtype, requires_grad=_differentiable(x)) for x in case.inputs]
    out = case.ours(*tensors)
    value = out.numpy() if isinstance(out, cr.Tensor) else np.asarray(out)
    if not (isinstance(out, cr.Tensor) and out.requires_grad):
        return value, [None] * len(tensors)
    out.backward(_cotangent(value.shape, value.dtype))
    return value, [t.grad.numpy() if t.grad is not None else None for t in tensors]


def _run_torch(torch: ModuleType, case: Edge) -> tuple[np.ndarray, list[np.ndarray | None]]:
    tensors = [torch.tensor(x, requires_grad=_differentiable(x)) for x in case.inputs]
    out = case.theirs(torch, *tensors)
    value = out.detach().numpy()
    if not out.requires_grad:  # PyTorch cut the graph (an empty input): zero gradients
        return value, [np.zeros_like(x) if _differentiable(x) else None for x in case.inputs]
    out.backward(torch.from_numpy(_cotangent(value.shape, value.dtype)))
    grads = [
        (t.grad.numpy() if t.grad is not None else np.zeros_like(x)) if t.requires_grad else None
        for t, x in zip(tensors, case.inputs, strict=True)
    ]
    return value, grads


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_values_and_gradients_match_torch_at_edge_points(torch: ModuleType, case: Edge) -> None:
    value, grads = _quietly(lambda: _run_ours(case))
    expected_value, expected_grads = _quietly(lambda: _run_torch(torch, case))
    if case.ours_value is not None:
        expected_value = np.asarray(case.ours_value, dtype=expected_value.dtype)
    _assert_same(value, expected_value, f"{case.name}: value")
    if case.ours_grads is not None:
        expected_grads = [np.asarray(g) for g in case.ours_grads]
    for position, (grad, expected) in enumerate(zip(grads, expected_grads, strict=False)):
        if expected is None:
            assert grad is None, f"{case.name}: input {position} is not differentiable"
            continue
        # An input the output does not depend on (an empty result) may have no gradient.
        grad = np.zeros_like(expected) if grad is None else grad
        _assert_same(grad, expected, f"{case.name}: gradient of input {position}")


SMOOTH = [case for case in CASES if case.smooth]


@pytest.mark.parametrize("case", SMOOTH, ids=[case.name for case in SMOOTH])
def test_gradients_match_central_differences_at_smooth_edge_points(case: Edge) -> None:
    (x,) = case.inputs
    value, (grad,) = _run_ours(case)
    cotangent = _cotangent(value.shape, np.float64)

    def weighted(point: np.ndarray) -> float:
        return float(np.sum(case.ours(cr.tensor(point)).numpy() * cotangent))

    np.testing.assert_allclose(grad, numerical_grad(weighted, x), rtol=1e-6, atol=1e-8)


def test_the_sweep_covers_every_group() -> None:
    groups: Sequence[tuple[Edge, ...]] = (KINKS, TIES, NON_FINITE, EMPTY, INTEGERS, PORTED)
    assert all(len(group) >= 8 for group in groups)
    assert len({case.name for case in CASES}) == len(CASES), "case names must be unique"


@pytest.mark.parametrize("producer", ["matmul", "add"])
def test_relu_at_nan_has_torchs_gradient_in_compiled_replays(
    torch: ModuleType, producer: str
) -> None:
    # A replay fuses the relu into its producer (matmul, add) with its own mask code.
    x = a([NAN, -1.0, 0.0, 2.0], [1.0, NAN, -2.0, 0.5])
    column = a(1.0, 2.0, 3.0, 4.0)  # not of x's shape, which compile would take for computed
    weight = cr.tensor(np.eye(4), requires_grad=True)

    def step(inputs: np.ndarray) -> cr.Tensor:
        product = (
            cr.tensor(inputs) @ weight if producer == "matmul" else cr.tensor(inputs) + weight[0]
        )
        loss = (cr.relu(product) @ column).sum()
        loss.backward()
        return loss

    torch_weight = torch.eye(4, dtype=torch.float64, requires_grad=True)
    inputs = torch.from_numpy(x)
    product = inputs @ torch_weight if producer == "matmul" else inputs + torch_weight[0]
    (torch.relu(product) @ torch.from_numpy(column)).sum().backward()
    assert torch_weight.grad is not None
    compiled = cr.compile(step)
    for _ in range(3):  # the first call traces; the later ones replay
        weight.grad = None
        with np.errstate(invalid="ignore"):
            compiled(x)
        assert weight.grad is not None
        _assert_same(weight.grad.numpy(), torch_weight.grad.numpy(), "weight gradient")


# Where PyTorch answers NaN (or 0) with at most a warning, we refuse by name: a variance of
# no degrees of freedom, a max of nothing, a mean loss over no samples.
REFUSALS: tuple[tuple[str, Callable[[], Any], str], ...] = (
    ("var along an empty axis", lambda: cr.var(cr.tensor(E20), axis=1), r"var: 0 values"),
    ("var with ddof = n", lambda: cr.var(cr.tensor(a(1.0)), ddof=1), r"var: 1 values with ddof=1"),
    (
        "std with ddof > n",
        lambda: cr.std(cr.tensor(a(1.0, 2.0)), ddof=3),
        r"std: 2 values with ddof=3",
    ),
    (
        "max of no values",
        lambda: cr.max(cr.tensor(E03)),
        r"max: the tensor is empty \(shape \(0, 3\)\)",
    ),
    ("max along an empty axis", lambda: cr.max(cr.tensor(E03), axis=0), r"max: .* along axis 0"),
    ("argmax of no values", lambda: cr.argmax(cr.tensor(E03)), r"argmax: the tensor is empty"),
    (
        "mse_loss of no values",
        lambda: functional.mse_loss(cr.tensor(E03), E03),
        r"mse_loss: .*empty",
    ),
    (
        "cross_entropy of no samples",
        lambda: functional.cross_entropy(cr.tensor(E03), np.zeros(0, np.int64)),
        r"cross_entropy: no samples",
    ),
    ("softplus with beta = 0", lambda: cr.softplus(cr.tensor(a(1.0)), beta=0.0), r"softplus: beta"),
    (
        "the smallest column sum of a matrix with no columns",
        lambda: cr.norm(cr.tensor(np.zeros((3, 0))), ord=-1),
        r"norm: ord=-1 .*shape \(3, 0\)",
    ),
    (
        "the inf-norm of no values",
        lambda: cr.norm(cr.tensor(np.zeros(0)), ord=INF),
        r"norm: ord=inf .*shape \(0,\)",
    ),
    ("topk with k > n", lambda: cr.topk(cr.tensor(a(1.0, 2.0)), k=3), r"topk: k=3"),
)


@pytest.mark.parametrize(
    ("call", "message"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS]
)
def test_undefined_edge_points_are_refused_by_name(call: Callable[[], Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()
