"""Second derivatives of whole graphs, where the op-by-op sweeps cannot look: intermediates
used twice (x*x, y*y + y*x), one input feeding two branches, reductions along axes, stacked
matmuls with broadcasting batch axes, softmax/log_softmax, the losses, and kinked ops at
points away from their kinks. Each graph's full Hessian from `cr.hessian` (forward over
reverse) is checked against `torch.autograd.functional.hessian`, and its Hessian-vector
product (the gradient of <x.grad, v> after `backward(create_graph=True)`) against torch's
double backward, all in float64."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from engine_cases import relative_error

import chainrule as cr
from chainrule import functional as F
from chainrule.graph import gradients

pytestmark = pytest.mark.torch

TOLERANCE = 1e-10
TARGETS = np.array([2, 0, 3])
PROBABILITIES = np.array([[0.2, 0.7, 0.1, 0.9], [0.5, 0.3, 0.8, 0.4], [0.6, 0.1, 0.3, 0.2]])


def _reused(m: Any, x: Any) -> Any:
    y = x * x
    return (y * y + y * x).sum()


def _two_branches(m: Any, x: Any, w: Any) -> Any:
    a, b = m.tanh(x), m.sin(x)
    return (a * b).sum() + m.matmul(a, w).sum() + (m.exp(w) * w).sum()


def _axis_reductions(m: Any, x: Any) -> Any:
    if m is cr:
        inner = cr.exp(x).sum(axis=1, keepdims=True) * x
        return (inner.mean(axis=0) ** 2).sum() + cr.logsumexp(x, axis=0).sum()
    inner = m.exp(x).sum(dim=1, keepdim=True) * x
    return (inner.mean(dim=0) ** 2).sum() + m.logsumexp(x, dim=0).sum()


def _matmul_stack(m: Any, a: Any, b: Any, c: Any) -> Any:
    return m.tanh(m.matmul(m.matmul(a, b), c)).sum()


def _x_times_its_transpose(m: Any, x: Any) -> Any:
    gram = m.matmul(x, x.T)
    return (gram * gram).sum()


def _softmaxes(m: Any, x: Any, w: Any) -> Any:
    z = m.matmul(x, w)
    if m is cr:
        return (cr.log_softmax(z, axis=1) * cr.softmax(z, axis=0)).sum()
    return (m.log_softmax(z, dim=1) * m.softmax(z, dim=0)).sum()


def _losses(m: Any, x: Any, w: Any) -> Any:
    z = m.matmul(x, w)
    f = F if m is cr else m.nn.functional
    targets = TARGETS if m is cr else m.from_numpy(TARGETS)
    probabilities = PROBABILITIES if m is cr else m.from_numpy(PROBABILITIES)
    total = f.cross_entropy(z, targets) + 0.5 * f.mse_loss(z, probabilities)
    total = total + f.binary_cross_entropy_with_logits(z, probabilities)
    total = total + f.huber_loss(z, probabilities, delta=0.5)
    total = total + f.smooth_l1_loss(z, probabilities, beta=0.5)
    log_p = cr.log_softmax(z, axis=0) if m is cr else m.log_softmax(z, dim=0)
    return total + f.nll_loss(log_p, targets, reduction="sum")


def _kinks(m: Any, x: Any, y: Any) -> Any:
    return (
        (m.relu(x) ** 2).sum()
        + (m.abs(x) * x * y).sum()
        + (m.maximum(x, y) * x).sum()
        + (m.clip(x * y, -0.5, 0.5) * x).sum()
    )


def _normalisations(m: Any, x: Any, w: Any) -> Any:
    f = F if m is cr else m.nn.functional
    if m is cr:
        rows, columns = cr.std(x, axis=1), cr.norm(x, axis=0)
    else:
        rows, columns = m.std(x, dim=1, unbiased=False), m.linalg.vector_norm(x, dim=0)
    layered = f.layer_norm(x * w, (4,))
    return (layered * layered * w).sum() + (rows**3).sum() + (columns * w).sum() ** 2


GRAPHS: dict[str, tuple[Callable[..., Any], tuple[tuple[int, ...], ...]]] = {
    "reused": (_reused, ((3, 1),)),
    "two_branches": (_two_branches, ((2, 3), (3, 2))),
    "axis_reductions": (_axis_reductions, ((2, 3),)),
    "matmul_stack": (_matmul_stack, ((2, 2, 3), (3, 2), (1, 2, 2))),
    "x_times_its_transpose": (_x_times_its_transpose, ((2, 3),)),
    "softmaxes": (_softmaxes, ((3, 2), (2, 4))),
    "losses": (_losses, ((3, 2), (2, 4))),
    "kinks": (_kinks, ((2, 3), (3,))),
    "normalisations": (_normalisations, ((3, 4), (4,))),
}


def _point(name: str) -> list[np.ndarray]:
    """Inputs off every kink: distinct entries of a 1/8 grid shifted off 0, and each input
    shifted differently so that no entry of one ties with an entry of another."""
    _, shapes = GRAPHS[name]
    rng = np.random.default_rng(sum(map(ord, name)))
    arrays = []
    for position, shape in enumerate(shapes):
        size = int(np.prod(shape))
        steps = rng.choice(np.arange(-9, 10), size=size, replace=False)
        arrays.append((steps / 8 + 0.03 + 0.011 * position).reshape(shape))
    return arrays


def _scaled_error(ours: np.ndarray, theirs: np.ndarray, scale: float) -> float:
    assert ours.shape == theirs.shape
    assert ours.dtype == np.float64
    return relative_error(ours, theirs, floor=scale)


@pytest.mark.parametrize("name", list(GRAPHS))
def test_hessian_of_a_graph_matches_torch(torch: ModuleType, name: str) -> None:
    graph, _ = GRAPHS[name]
    arrays = _point(name)
    numbers = tuple(range(len(arrays)))
    ours = cr.hessian(lambda *xs: graph(cr, *xs), argnums=numbers)(*arrays)
    theirs = torch.autograd.functional.hessian(
        lambda *xs: graph(torch, *xs), tuple(torch.from_numpy(a) for a in arrays)
    )
    scale = max(float(np.max(np.abs(block.numpy()))) for row in theirs for block in row)
    for i in numbers:
        for j in numbers:
            error = _scaled_error(np.asarray(ours[i][j].numpy()), theirs[i][j].numpy(), scale)
            assert error <= TOLERANCE, f"{name}: Hessian block ({i}, {j}) off by {error:.2e}"


@pytest.mark.parametrize("name", list(GRAPHS))
def test_gradient_of_a_create_graph_gradient_matches_torch(torch: ModuleType, name: str) -> None:
    graph, _ = GRAPHS[name]
    arrays = _point(name)
    rng = np.random.default_rng(5)
    directions = [rng.normal(size=a.shape) for a in arrays]

    leaves = [cr.tensor(a, requires_grad=True) for a in arrays]
    graph(cr, *leaves).backward(create_graph=True)
    first = [leaf.grad for leaf in leaves]
    pairing = sum(((g * cr.tensor(v)).sum() for g, v in zip(first, directions, strict=True)))
    ours = gradients(pairing, np.ones(()), leaves, retain_graph=False, create_graph=False)

    tleaves = [torch.tensor(a, requires_grad=True) for a in arrays]
    tfirst = torch.autograd.grad(graph(torch, *tleaves), tleaves, create_graph=True)
    tpairing = sum((g * torch.from_numpy(v)).sum() for g, v in zip(tfirst, directions, strict=True))
    theirs = [t.numpy() for t in torch.autograd.grad(tpairing, tleaves)]

    scale = max(float(np.max(np.abs(t))) for t in theirs)
    for i, (mine, reference) in enumerate(zip(ours, theirs, strict=True)):
        error = _scaled_error(np.asarray(mine), reference, scale)
        assert error <= TOLERANCE, f"{name}: HVP of input {i} off by {error:.2e}"
