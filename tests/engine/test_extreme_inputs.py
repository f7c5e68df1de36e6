"""Second derivatives at extreme inputs (±1000, ±710, ±400, ±50) in float64 against
PyTorch's double backward: no exp in a recorded backward may overflow, so no 0 * inf turns
into NaN and no tiny value underflows to 0 where PyTorch keeps it."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from engine_cases import relative_error

import chainrule as cr
from chainrule import functional

pytestmark = pytest.mark.torch

EXTREMES = (-1000.0, -710.0, -400.0, -50.0, 50.0, 400.0, 710.0, 1000.0)

# name: (ours, PyTorch's, inputs). Element-wise functions, so the sum's second derivative
# is the diagonal of the Hessian. exp stops below 710, where its forward itself overflows.
ELEMENTWISE: dict[str, tuple[Callable[[Any], Any], Callable[..., Any], tuple[float, ...]]] = {
    "sigmoid": (lambda x: x.sigmoid(), lambda torch, x: torch.sigmoid(x), EXTREMES),
    "tanh": (lambda x: x.tanh(), lambda torch, x: torch.tanh(x), EXTREMES),
    "exp": (lambda x: x.exp(), lambda torch, x: torch.exp(x), EXTREMES[:6]),
    "log": (lambda x: x.log(), lambda torch, x: torch.log(x), EXTREMES[4:]),
    "softplus": (
        lambda x: cr.logsumexp(cr.stack([x * 0, x]), axis=0),
        lambda torch, x: torch.logsumexp(torch.stack([x * 0, x]), 0),
        EXTREMES,
    ),
}


def _assert_same(ours: np.ndarray, theirs: np.ndarray) -> None:
    """Equal to 1e-12 relative, NaN where PyTorch has NaN; values below 1e-300 (subnormals,
    which PyTorch's sigmoid flushes to 0 at -710 and ours keeps) count as equal."""
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-300, equal_nan=True)


def _ours_second(f: Callable[[Any], Any], values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = cr.tensor(values, requires_grad=True)
    f(x).sum().backward(create_graph=True)
    grad = x.grad
    assert grad is not None
    x.grad = None
    grad.sum().backward()
    assert x.grad is not None
    return grad.numpy(), x.grad.numpy()


def _torch_second(
    torch: ModuleType, f: Callable[..., Any], values: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    x = torch.tensor(values, requires_grad=True)
    (grad,) = torch.autograd.grad(f(torch, x).sum(), x, create_graph=True)
    (second,) = torch.autograd.grad(grad.sum(), x)
    return grad.detach().numpy(), second.numpy()


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_second_derivative_matches_torch_at_extreme_inputs(torch: ModuleType, name: str) -> None:
    ours_f, torch_f, points = ELEMENTWISE[name]
    values = np.array(points)
    grad, second = _ours_second(ours_f, values)
    expected_grad, expected_second = _torch_second(torch, torch_f, values)
    _assert_same(grad, expected_grad)
    _assert_same(second, expected_second)


def test_sigmoid_second_derivative_keeps_tiny_values_below_minus_355() -> None:
    _, second = _ours_second(lambda x: x.sigmoid(), np.array([-400.0, -700.0]))
    expected = np.exp([-400.0, -700.0])  # s (1 - s) (1 - 2 s) with s = e^x, to 1e-16
    np.testing.assert_allclose(second, expected, rtol=1e-13)


def test_hessian_with_one_extreme_entry_has_no_nan_elsewhere(torch: ModuleType) -> None:
    values = np.array([-1000.0, 0.5, -2.0, 710.0])
    weights = np.array([[1.0, 0.5, -1.0, 2.0], [0.3, -0.7, 1.5, 0.2]])

    def ours(x: Any) -> Any:
        return ((weights @ x.sigmoid()) ** 2).sum()

    hessian = np.asarray(cr.hessian(ours)(values))
    expected = torch.autograd.functional.hessian(
        lambda x: ((torch.from_numpy(weights) @ torch.sigmoid(x)) ** 2).sum(),
        torch.from_numpy(values),
    ).numpy()
    assert not np.isnan(hessian).any()
    _assert_same(hessian, expected)


@pytest.mark.parametrize("scale", [50.0, 400.0, 710.0, 1000.0])
def test_cross_entropy_hessian_vector_product_matches_torch_at_extreme_logits(
    torch: ModuleType, scale: float
) -> None:
    logits = scale * np.array([[1.0, -1.0, 0.0], [-1.0, 0.5, 1.0], [0.0, 0.0, -1.0]])
    targets = np.array([1, 2, 0])
    direction = np.random.default_rng(9).standard_normal(logits.shape)

    def ours(z: Any) -> Any:
        return functional.cross_entropy(z, targets)

    ours_hvp = np.asarray(cr.hvp(ours, logits, direction))
    _, expected = torch.autograd.functional.hvp(
        lambda z: torch.nn.functional.cross_entropy(z, torch.from_numpy(targets)),
        torch.from_numpy(logits),
        torch.from_numpy(direction),
    )
    assert not np.isnan(ours_hvp).any()
    # Normwise: entries of 1e-11 that are a difference of probabilities near 1 carry a
    # relative rounding error of 1e-5 in either library.
    assert relative_error(ours_hvp, expected.numpy()) <= 1e-12
