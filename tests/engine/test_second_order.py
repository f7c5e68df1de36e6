"""Gradients of gradients against PyTorch: every op's Hessian-vector product through
`backward(create_graph=True)`, Hessians of tanh/sigmoid/exp/log/pow/matmul/softmax, and an
MLP's Hessian-vector product via `chainrule.hvp`."""

from __future__ import annotations

import warnings
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from engine_cases import CASES, OpCase, op_inputs, relative_error
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr

pytestmark = pytest.mark.torch

FLOAT64_CASES = [case for case in CASES if "casts" not in case.tags]


def _torch_second_order(torch, case, arrays, params, weights, directions):
    inputs = [torch.tensor(array, requires_grad=True) for array in arrays]
    out = case.torch(torch, *inputs, **params)
    grads = torch.autograd.grad(
        out, inputs, torch.from_numpy(weights), create_graph=True, allow_unused=True
    )
    directional = sum(
        (grad * torch.from_numpy(v)).sum()
        for grad, v in zip(grads, directions, strict=True)
        if grad is not None and grad.requires_grad
    )
    if not isinstance(directional, torch.Tensor):
        return [np.zeros_like(array) for array in arrays]
    second = torch.autograd.grad(directional, inputs, allow_unused=True)
    return [
        np.zeros_like(a) if s is None else s.numpy(force=True)
        for a, s in zip(arrays, second, strict=True)
    ]


@pytest.mark.parametrize("case", FLOAT64_CASES, ids=[case.name for case in FLOAT64_CASES])
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_gradient_of_gradient_matches_torch(
    torch: ModuleType, case: OpCase, data: st.DataObject
) -> None:
    arrays, params = data.draw(op_inputs(case))
    rng = np.random.default_rng(2)
    tensors = [cr.tensor(array, requires_grad=True) for array in arrays]
    out = case.chainrule(*tensors, **params)
    weights = rng.normal(size=out.shape)
    directions = [rng.normal(size=array.shape) for array in arrays]

    out.backward(weights, create_graph=True)
    grads = [tensor.grad for tensor in tensors]
    for tensor in tensors:
        tensor.grad = None
    directional = cr.tensor(0.0, dtype=np.float64)
    for grad, direction in zip(grads, directions, strict=True):
        assert grad is not None
        directional = directional + (grad * direction).sum()
    if directional.requires_grad:
        directional.backward()

    expected = _torch_second_order(torch, case, arrays, params, weights, directions)
    for tensor, reference in zip(tensors, expected, strict=True):
        ours = np.zeros_like(reference) if tensor.grad is None else tensor.grad.numpy()
        # Second derivatives that vanish come out as rounding noise (1e-16) on both sides.
        assert (
            relative_error(ours, reference) <= 1e-10 or np.max(np.abs(ours - reference)) <= 1e-13
        ), case.name


SCALAR_FUNCTIONS = {
    "tanh": (lambda x: x.tanh().sum(), lambda torch, x: torch.tanh(x).sum(), (-2.0, 2.0)),
    "sigmoid": (lambda x: x.sigmoid().sum(), lambda torch, x: torch.sigmoid(x).sum(), (-4.0, 4.0)),
    "exp": (lambda x: x.exp().sum(), lambda torch, x: torch.exp(x).sum(), (-2.0, 2.0)),
    "log": (lambda x: x.log().sum(), lambda torch, x: torch.log(x).sum(), (0.3, 3.0)),
    "pow": (lambda x: (x**3 + x**0.5).sum(), lambda torch, x: (x**3 + x**0.5).sum(), (0.3, 3.0)),
    "pow_tensor": (
        lambda x: (x ** x[::-1]).sum(),
        lambda torch, x: (x ** x.flip(0)).sum(),
        (0.3, 3.0),
    ),
    "matmul": (lambda x: ((x @ x) * x).sum(), lambda torch, x: ((x @ x) * x).sum(), (-2.0, 2.0)),
    "softmax": (
        lambda x: (cr.softmax(x.reshape(3, 3), axis=1) ** 2).sum(),
        lambda torch, x: (torch.softmax(x.reshape(3, 3), dim=1) ** 2).sum(),
        (-2.0, 2.0),
    ),
}


@pytest.mark.parametrize("name", sorted(SCALAR_FUNCTIONS))
def test_hessian_matches_torch(torch: ModuleType, name: str) -> None:
    ours_f, torch_f, (low, high) = SCALAR_FUNCTIONS[name]
    shape = (3, 3) if name == "matmul" else (9,)
    x = np.random.default_rng(3).uniform(low, high, size=shape)
    ours = np.asarray(cr.hessian(ours_f)(x))
    expected = torch.autograd.functional.hessian(
        lambda t: torch_f(torch, t), torch.from_numpy(x)
    ).numpy()
    assert relative_error(ours, expected) <= 1e-10


def _mlp_loss(params, x, y):
    w1, b1, w2, b2 = params
    hidden = cr.tanh(x @ w1 + b1)
    return cr.functional.mse_loss(hidden @ w2 + b2, y)


def test_mlp_hessian_vector_product_matches_torch(torch: ModuleType) -> None:
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(8, 3)), rng.normal(size=(8, 2))
    shapes = [(3, 5), (5,), (5, 2), (2,)]
    sizes = [int(np.prod(shape)) for shape in shapes]
    flat = rng.normal(size=sum(sizes)) * 0.7
    direction = rng.normal(size=flat.shape)

    def unflatten(vector, reshape):
        pieces, start = [], 0
        for shape, size in zip(shapes, sizes, strict=True):
            pieces.append(reshape(vector[start : start + size], shape))
            start += size
        return pieces

    def ours_loss(vector):
        return _mlp_loss(unflatten(vector, lambda v, s: v.reshape(s)), x, y)

    def torch_loss(vector):
        w1, b1, w2, b2 = unflatten(vector, lambda v, s: v.reshape(s))
        prediction = torch.tanh(torch.from_numpy(x) @ w1 + b1) @ w2 + b2
        return torch.nn.functional.mse_loss(prediction, torch.from_numpy(y))

    ours = np.asarray(cr.hvp(ours_loss, flat, direction))
    _, expected = torch.autograd.functional.hvp(
        torch_loss, torch.from_numpy(flat), torch.from_numpy(direction)
    )
    assert relative_error(ours, expected.numpy()) <= 1e-10


def test_gradient_penalty_matches_torch(torch: ModuleType) -> None:
    rng = np.random.default_rng(5)
    x_values, w_values = rng.normal(size=(4, 3)), rng.normal(size=(3, 1))
    x, w = cr.tensor(x_values, requires_grad=True), cr.tensor(w_values, requires_grad=True)
    score = cr.sigmoid(x @ w).sum()
    score.backward(create_graph=True)
    assert x.grad is not None
    penalty = ((x.grad * x.grad).sum(axis=1).sqrt() - 1) ** 2
    w.grad = None
    penalty.mean().backward()

    x_t = torch.tensor(x_values, requires_grad=True)
    w_t = torch.tensor(w_values, requires_grad=True)
    (grad_x,) = torch.autograd.grad(torch.sigmoid(x_t @ w_t).sum(), x_t, create_graph=True)
    penalty_t = ((grad_x * grad_x).sum(dim=1).sqrt() - 1) ** 2
    (grad_w,) = torch.autograd.grad(penalty_t.mean(), w_t)
    assert w.grad is not None
    assert relative_error(w.grad.numpy(), grad_w.numpy()) <= 1e-10


def test_create_graph_under_detect_anomaly_checks_recorded_gradients() -> None:
    """detect_anomaly checks each gradient for NaN; with create_graph those gradients are
    tensors that require grad, which it must read without turning them into arrays."""
    x = cr.tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
    with cr.detect_anomaly():
        (cr.abs(x) ** 3).sum().backward(create_graph=True)
    np.testing.assert_allclose(
        x.grad.detach().numpy(), 3 * np.abs([0.5, -1.0, 2.0]) * [0.5, -1.0, 2.0], rtol=1e-12
    )


@pytest.mark.parametrize("index", [np.array([0, 0, 2]), slice(0, 3, 2)])
def test_third_derivative_through_indexing(index) -> None:
    """The second backward replays scatter_add (getitem's vjp) on recorded tensors."""
    x = np.array([0.5, -1.0, 2.0])
    counts = np.bincount(np.arange(3)[index], minlength=3)

    def f(v):
        return (v[index] ** 4).sum()

    third = cr.grad(lambda v: cr.hessian(f)(v).sum())(x)
    np.testing.assert_allclose(third.numpy(), 24 * counts * x, rtol=1e-12)


def _through_an_accumulated_grad(x: Any) -> tuple[Any, Any, Any]:
    """create_graph backward, then a plain one accumulating into the recorded .grad, then
    two more derivatives taken through that .grad (each starting from .grad = None); `x` a
    leaf of chainrule or torch. Returns the accumulated .grad, the second and the third
    derivative."""
    (x**3 * 0.5 + x**4 * 0.25).sum().backward(create_graph=True)
    (x**2).sum().backward()
    accumulated = x.grad
    x.grad = None
    (accumulated**2).sum().backward(create_graph=True)
    second = x.grad
    x.grad = None
    (second * x).sum().backward()
    return accumulated, second, x.grad


def test_a_derivative_through_a_grad_a_plain_backward_added_into_matches_torch(
    torch: ModuleType,
) -> None:
    # torch 2.13 adds a plain backward's gradient into a recorded .grad under no_grad: the
    # same tensor, still requiring grad, its graph that of the create_graph backward
    values = np.array([0.5, -1.2, 2.0, 0.3])
    x = cr.tensor(values, requires_grad=True)
    ours = _through_an_accumulated_grad(x)
    t = torch.tensor(values, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's note on the .grad reference cycle
        theirs = _through_an_accumulated_grad(t)
    assert ours[0].requires_grad
    assert theirs[0].requires_grad
    assert ours[0].grad_fn is not None
    for mine, reference in zip(ours, theirs, strict=True):
        assert mine.shape == tuple(reference.shape)
        np.testing.assert_allclose(mine.numpy(), reference.detach().numpy(), rtol=1e-12)
