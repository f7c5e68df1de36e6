"""Second derivatives of every op in the shared op table, where a first-order check cannot
see the mistakes: the op sits inside a loss whose cotangent depends on the inputs
(L = sum(c * op(x)**2), so a vjp that reads its incoming gradient as plain values loses a
term), its Hessian-vector product is checked against torch's double backward and against
central differences of the first gradient, with every input and with each one alone
requiring grad; and the vjp is differentiated with respect to its cotangent (the
double-vjp trick that yields J v), checked against central differences of the forward; and
the third derivative of L = sum(c * op(x)**3) is checked against torch's triple backward.

One deterministic draw per variant (odd and broadcasting shapes), points away from kinks
as the op table draws them; test_second_order.py samples the plain HVP more widely."""

from __future__ import annotations

import zlib
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from engine_cases import CASES, OpCase, Variant, relative_error
from hypothesis import HealthCheck, Phase, find, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample, Unsatisfiable

import chainrule as cr
from chainrule.graph import gradients

pytestmark = pytest.mark.torch

FLOAT64_CASES = [case for case in CASES if "casts" not in case.tags]
STEP = 1e-5
# Central differences of a first gradient: truncation ~STEP**2 * f''' and rounding
# ~1e-16 / STEP relative to the gradient's size.
FINITE_TOLERANCE = 2e-6
TORCH_TOLERANCE = 1e-10

_DRAW = settings(
    max_examples=30,
    database=None,
    phases=[Phase.generate],
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


def _varied(value: Any) -> bool:
    """An index or class array that is not one value repeated (hypothesis's first draw)."""
    array = np.asarray(value)
    return array.size < 2 or np.unique(array).size > 1


def _example(strategy: st.SearchStrategy[Any]) -> Any:
    try:
        return find(strategy, _varied, settings=_DRAW)
    except (NoSuchExample, Unsatisfiable):
        return find(strategy, lambda _: True, settings=_DRAW)


def draw(case: OpCase, variant: Variant) -> tuple[list[np.ndarray], dict[str, Any]]:
    """One deterministic draw of `case`'s inputs for `variant`, as `op_inputs` draws them
    (the case's ranges, or its grid off the kinks with distinct entries) but without
    hypothesis's first draws of all zeros, which hide second derivatives that vanish at 0
    (tanh, sin) and those of ties."""
    shapes, params = variant
    rng = np.random.default_rng(zlib.crc32(f"{case.name} {shapes}".encode()))
    drawn = {
        key: _example(value) if isinstance(value, st.SearchStrategy) else value
        for key, value in params.items()
    }
    arrays = []
    for position, shape in enumerate(shapes):
        if case.grid:
            steps = rng.choice(np.arange(-40, 41), size=int(np.prod(shape)), replace=False)
            arrays.append((steps / 16 + 0.01 + 0.02 * position).reshape(shape))
        else:
            low, high = case.ranges[min(position, len(case.ranges) - 1)]
            arrays.append(rng.uniform(low, high, size=shape))
    return arrays, drawn


def _grad(root: Any, inputs: list[Any], seed: Any = None, *, create_graph: bool) -> list[Any]:
    """d<root, seed>/d(input) for each input (None where none reaches it), as
    torch.autograd.grad: recorded Tensors with create_graph, arrays without."""
    if seed is None:
        seed = np.ones(root.shape, dtype=root.dtype)
        seed = cr.tensor(seed) if create_graph else seed
    return gradients(root, seed, inputs, retain_graph=True, create_graph=create_graph)


def _array(value: Any, like: np.ndarray) -> np.ndarray:
    if value is None:
        return np.zeros_like(like)
    if hasattr(value, "numpy"):  # a chainrule or torch Tensor
        value = value.numpy()
    return np.asarray(value, dtype=np.float64)


def _loss_weights(shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(7).uniform(0.5, 1.5, size=shape)


def _our_gradient(case: OpCase, arrays, params, wanted, *, create_graph: bool):
    tensors = [cr.tensor(a, requires_grad=w) for a, w in zip(arrays, wanted, strict=True)]
    out = case.chainrule(*tensors, **params)
    loss = (cr.tensor(_loss_weights(out.shape)) * out * out).sum()
    chosen = [t for t in tensors if t.requires_grad]
    grads = _grad(loss, chosen, create_graph=create_graph)
    return chosen, grads


def _our_hvp(case, arrays, params, wanted, directions) -> list[np.ndarray]:
    chosen, grads = _our_gradient(case, arrays, params, wanted, create_graph=True)
    total = cr.tensor(0.0)
    for grad, v in zip(grads, directions, strict=True):
        if grad is not None:
            total = total + (grad * cr.tensor(v)).sum()
    if not total.requires_grad:
        return [np.zeros_like(v) for v in directions]
    second = _grad(total, chosen, create_graph=False)
    return [_array(s, v) for s, v in zip(second, directions, strict=True)]


def _torch_hvp(torch, case, arrays, params, wanted, directions) -> list[np.ndarray]:
    tensors = [torch.tensor(a, requires_grad=w) for a, w in zip(arrays, wanted, strict=True)]
    out = case.torch(torch, *tensors, **params)
    loss = (torch.from_numpy(_loss_weights(tuple(out.shape))) * out * out).sum()
    chosen = [t for t in tensors if t.requires_grad]
    grads = torch.autograd.grad(loss, chosen, create_graph=True, allow_unused=True)
    total = sum(
        (g * torch.from_numpy(v)).sum()
        for g, v in zip(grads, directions, strict=True)
        if g is not None and g.requires_grad
    )
    if not isinstance(total, torch.Tensor):
        return [np.zeros_like(v) for v in directions]
    second = torch.autograd.grad(total, chosen, allow_unused=True)
    return [_array(s, v) for s, v in zip(second, directions, strict=True)]


def _finite_hvp(case, arrays, params, wanted, directions) -> tuple[list[np.ndarray], float]:
    """(grad L(x + h v) - grad L(x - h v)) / 2h, with our first gradient (checked against
    torch and finite differences by the first-order sweeps), and the largest entry of that
    gradient at x."""
    full = iter(directions)
    steps = [next(full) if w else np.zeros_like(a) for a, w in zip(arrays, wanted, strict=True)]

    def gradient(sign: float) -> list[np.ndarray]:
        moved = [a + sign * STEP * s for a, s in zip(arrays, steps, strict=True)]
        _, grads = _our_gradient(case, moved, params, wanted, create_graph=False)
        return [_array(g, v) for g, v in zip(grads, directions, strict=True)]

    plus, minus, here = gradient(1.0), gradient(-1.0), gradient(0.0)
    finite = [(p - m) / (2 * STEP) for p, m in zip(plus, minus, strict=True)]
    return finite, max((float(np.max(np.abs(g), initial=0.0)) for g in here), default=0.0)


def _close(ours: np.ndarray, expected: np.ndarray, tolerance: float, scale: float) -> bool:
    # Second derivatives that vanish come out as rounding noise on both sides: the error is
    # relative to the size of the first gradient's terms, not to a zero.
    return relative_error(ours, expected, floor=scale) <= tolerance


def _patterns(inputs: int) -> list[str]:
    """Which inputs require grad: all of them, and (with several) each one alone, where a
    rule's `needs` skips work and a mask or saved value may be taken differently."""
    return ["all"] + ([f"only{i}" for i in range(inputs)] if inputs > 1 else [])


SWEEP = [
    (case, number, pattern)
    for case in FLOAT64_CASES
    for number in range(len(case.variants))
    for pattern in _patterns(len(case.variants[number][0]))
]


@pytest.mark.parametrize(
    ("case", "number", "pattern"),
    SWEEP,
    ids=[f"{case.name}-{number}-{pattern}" for case, number, pattern in SWEEP],
)
def test_hvp_through_a_loss_matches_torch_and_finite_differences(
    torch: ModuleType, case: OpCase, number: int, pattern: str
) -> None:
    arrays, params = draw(case, case.variants[number])
    wanted = [pattern in ("all", f"only{i}") for i in range(len(arrays))]
    rng = np.random.default_rng(11)
    directions = [rng.normal(size=a.shape) for a, w in zip(arrays, wanted, strict=True) if w]

    ours = _our_hvp(case, arrays, params, wanted, directions)
    expected = _torch_hvp(torch, case, arrays, params, wanted, directions)
    finite, gradient_size = _finite_hvp(case, arrays, params, wanted, directions)
    # Where the HVP vanishes (sqrt(x)**2 = x) both sides are rounding noise, whose size
    # follows the first gradient's terms (times |v|), not the zero they cancel to.
    direction_size = max(float(np.max(np.abs(v), initial=0.0)) for v in directions)
    scale = max(
        max(float(np.max(np.abs(f), initial=0.0)) for f in finite) * 1e-3,
        gradient_size * direction_size,
    )
    for i, (mine, theirs, numeric) in enumerate(zip(ours, expected, finite, strict=True)):
        assert mine.shape == theirs.shape
        assert _close(mine, theirs, TORCH_TOLERANCE, scale), (
            f"{case.name} {params}: HVP of input {i} differs from torch: {mine} vs {theirs}"
        )
        assert _close(mine, numeric, FINITE_TOLERANCE, scale), (
            f"{case.name} {params}: HVP of input {i} differs from central differences: "
            f"{mine} vs {numeric}"
        )


@pytest.mark.parametrize(
    ("case", "number"),
    [(case, n) for case in CASES for n in range(len(case.variants))],
    ids=[f"{case.name}-{n}" for case in CASES for n in range(len(case.variants))],
)
def test_vjp_differentiated_in_its_cotangent_is_the_jvp(case: OpCase, number: int) -> None:
    """d/du <vjp(u), v> = J v: the vjp must be recorded as a function of its cotangent u,
    which a rule that reads u as plain values (or drops it) fails."""
    arrays, params = draw(case, case.variants[number])
    rng = np.random.default_rng(13)
    directions = [rng.normal(size=a.shape) for a in arrays]
    tensors = [cr.tensor(a, requires_grad=True) for a in arrays]
    out = case.chainrule(*tensors, **params)
    seed = cr.tensor(rng.normal(size=out.shape).astype(out.dtype), requires_grad=True)
    grads = _grad(out, tensors, seed, create_graph=True)
    total = cr.tensor(0.0)
    for grad, v in zip(grads, directions, strict=True):
        if grad is not None:
            total = total + (grad * cr.tensor(v)).sum()
    (jvp,) = _grad(total, [seed], create_graph=False)

    def forward(sign: float) -> np.ndarray:
        moved = [cr.tensor(a + sign * STEP * v) for a, v in zip(arrays, directions, strict=True)]
        return case.chainrule(*moved, **params).numpy().astype(np.float64)

    numeric = (forward(1.0) - forward(-1.0)) / (2 * STEP)
    ours = _array(jvp, np.zeros(out.shape))
    tolerance = FINITE_TOLERANCE if out.dtype == np.float64 else 1e-2
    scale = float(np.max(np.abs(numeric), initial=0.0))
    assert _close(ours, numeric, tolerance, 1e-3 * scale + 1e-12), (
        f"{case.name} {params}: J v from the vjp's cotangent {ours} vs central differences "
        f"{numeric}"
    )


def _layer_norm_by_its_formula(torch, x, w, b, normalized_shape):
    axes = tuple(range(-len(np.atleast_1d(normalized_shape)), 0))
    centered = x - x.mean(dim=axes, keepdim=True)
    variance = (centered * centered).mean(dim=axes, keepdim=True)
    return centered * (variance + 1e-5) ** -0.5 * w + b


def _logcumsumexp_by_its_formula(torch, x, axis):
    if axis is None:
        x, axis = x.reshape(-1), 0
    return torch.log(torch.cumsum(torch.exp(x), dim=axis))


# Two of torch 2.13's native ops are wrong at third order, so the reference is their formula
# written in torch ops: layer_norm's double backward is not differentiated correctly (off
# by O(1) from central differences of the second derivative, where ours and torch's
# composite agree to 1e-9), and logcumsumexp's third derivative is NaN at every entry.
THIRD_ORDER_TORCH = {
    "layer_norm": _layer_norm_by_its_formula,
    "logcumsumexp": _logcumsumexp_by_its_formula,
}


def _third(lib_grad, ones, wrap, inputs, out, u, v):
    """d/dx <d/dx <grad L, v>, u> for L = sum(c * out**3), in either library."""
    loss = (wrap(_loss_weights(tuple(out.shape))) * out * out * out).sum()
    first = lib_grad(loss, inputs, True)
    total = sum(
        ((g * wrap(d)).sum() for g, d in zip(first, v, strict=True) if g is not None),
        ones(),
    )
    if not total.requires_grad:
        return [None] * len(inputs)
    second = lib_grad(total, inputs, True)
    total = sum(
        ((g * wrap(d)).sum() for g, d in zip(second, u, strict=True) if g is not None),
        ones(),
    )
    if not total.requires_grad:
        return [None] * len(inputs)
    return lib_grad(total, inputs, False)


@pytest.mark.parametrize(
    ("case", "number"),
    [(case, n) for case in FLOAT64_CASES for n in range(len(case.variants))],
    ids=[f"{case.name}-{n}" for case in FLOAT64_CASES for n in range(len(case.variants))],
)
def test_third_derivative_through_a_cubic_loss_matches_torch(
    torch: ModuleType, case: OpCase, number: int
) -> None:
    """A third sweep: the vjps of the vjp rules' own recorded ops (conv's transposed and
    weight-gradient convolutions, indexing's scatter) are differentiated once more."""
    arrays, params = draw(case, case.variants[number])
    rng = np.random.default_rng(17)
    v = [rng.normal(size=a.shape) for a in arrays]
    u = [rng.normal(size=a.shape) for a in arrays]

    tensors = [cr.tensor(a, requires_grad=True) for a in arrays]
    ours = _third(
        lambda root, inputs, create: _grad(root, inputs, create_graph=create),
        lambda: cr.tensor(0.0),
        cr.tensor,
        tensors,
        case.chainrule(*tensors, **params),
        u,
        v,
    )
    reference = THIRD_ORDER_TORCH.get(case.name, case.torch)
    leaves = [torch.tensor(a, requires_grad=True) for a in arrays]
    theirs = _third(
        lambda root, inputs, create: torch.autograd.grad(
            root, inputs, create_graph=create, allow_unused=True
        ),
        lambda: torch.zeros((), dtype=torch.float64),
        torch.from_numpy,
        leaves,
        reference(torch, *leaves, **params),
        u,
        v,
    )
    expected = [_array(t, a) for t, a in zip(theirs, arrays, strict=True)]
    got = [_array(o, a) for o, a in zip(ours, arrays, strict=True)]
    # normwise over the inputs: rounding noise follows the largest third derivative
    scale = max(float(np.max(np.abs(e), initial=0.0)) for e in expected)
    for i, (mine, reference_value) in enumerate(zip(got, expected, strict=True)):
        assert relative_error(mine, reference_value, floor=scale) <= 1e-9, (
            f"{case.name} {params}: third derivative of input {i}: {mine} vs {reference_value}"
        )
