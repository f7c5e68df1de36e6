"""x ** y at the points where its derivatives are not smooth (x = 0, a negative base, y = 0,
y < 0): values, first and second derivatives equal PyTorch 2.13's, NaN for NaN and inf for
inf, for a tensor exponent, a scalar exponent and an integer-array exponent."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import chainrule as cr

pytestmark = pytest.mark.torch

BASES = (0.0, -2.0, 2.0)
EXPONENTS = (0.0, -1.0, 0.5, 2.0, 3.0)
GRID = np.array(list(itertools.product(BASES, EXPONENTS)))
X, Y = GRID[:, 0].copy(), GRID[:, 1].copy()


def _assert_same(ours: Any, theirs: np.ndarray) -> None:
    """Equal to 1e-12 relative, with NaN where PyTorch has NaN and the same infinities."""
    ours = np.asarray(ours)
    assert ours.shape == theirs.shape
    assert ours.dtype == theirs.dtype
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=0, equal_nan=True)


def _ours_derivatives(
    f: Callable[..., cr.Tensor], arrays: list[np.ndarray]
) -> tuple[np.ndarray, list[np.ndarray], list[list[np.ndarray]]]:
    """f's value, its gradient per input and its second derivatives d(grad_i)/d(input_j),
    all entry by entry (f acts element-wise)."""
    with np.errstate(all="ignore"):
        value = f(*[cr.tensor(a) for a in arrays]).numpy()
        firsts, seconds = [], []
        for i in range(len(arrays)):
            inputs = [cr.tensor(a, requires_grad=True) for a in arrays]
            f(*inputs).sum().backward(create_graph=True)
            grad = inputs[i].grad
            assert grad is not None
            firsts.append(grad.numpy())
            for tensor in inputs:
                tensor.grad = None
            if grad.requires_grad:
                grad.sum().backward()
            seconds.append(
                [
                    np.zeros_like(a) if t.grad is None else t.grad.numpy()
                    for a, t in zip(arrays, inputs, strict=True)
                ]
            )
    return value, firsts, seconds


def _torch_derivatives(
    torch: ModuleType, f: Callable[..., Any], arrays: list[np.ndarray]
) -> tuple[np.ndarray, list[np.ndarray], list[list[np.ndarray]]]:
    inputs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = f(*inputs)
    grads = torch.autograd.grad(out.sum(), inputs, create_graph=True)
    seconds = []
    for grad in grads:
        if not grad.requires_grad:
            seconds.append([np.zeros_like(a) for a in arrays])
            continue
        second = torch.autograd.grad(grad.sum(), inputs, retain_graph=True, allow_unused=True)
        seconds.append(
            [
                np.zeros_like(a) if s is None else s.numpy(force=True)
                for a, s in zip(arrays, second, strict=True)
            ]
        )
    return (out.detach().numpy(), [g.detach().numpy(force=True) for g in grads], seconds)


def _compare(
    torch: ModuleType,
    ours_f: Callable[..., Any],
    torch_f: Callable[..., Any],
    arrays: list[np.ndarray],
) -> None:
    value, firsts, seconds = _ours_derivatives(ours_f, arrays)
    expected_value, expected_firsts, expected_seconds = _torch_derivatives(torch, torch_f, arrays)
    _assert_same(value, expected_value)
    for ours, theirs in zip(firsts, expected_firsts, strict=True):
        _assert_same(ours, theirs)
    for ours_row, theirs_row in zip(seconds, expected_seconds, strict=True):
        for ours, theirs in zip(ours_row, theirs_row, strict=True):
            _assert_same(ours, theirs)


def test_tensor_exponent_matches_torch_at_edge_points(torch: ModuleType) -> None:
    _compare(torch, lambda x, y: x**y, lambda x, y: x**y, [X, Y])


def test_gradient_of_zero_to_the_zero_is_zero_in_both_inputs() -> None:
    x = cr.tensor(np.zeros(1), requires_grad=True)
    y = cr.tensor(np.zeros(1), requires_grad=True)
    (x**y).sum().backward()
    assert x.grad is not None
    assert y.grad is not None
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros(1))
    np.testing.assert_array_equal(y.grad.numpy(), np.zeros(1))


@pytest.mark.parametrize("exponent", EXPONENTS)
def test_scalar_exponent_matches_torch_at_edge_points(torch: ModuleType, exponent: float) -> None:
    x = np.array(BASES)
    _compare(torch, lambda t: t**exponent, lambda t: t**exponent, [x])


@pytest.mark.parametrize("kind", [int, np.int64, np.float64], ids=["int", "np.int64", "np.float64"])
@pytest.mark.parametrize("exponent", [0, 1, 2, 3])
def test_numpy_scalar_exponent_matches_a_python_one(kind: type, exponent: int) -> None:
    x = np.array(BASES, dtype=np.float32)
    value, firsts, seconds = _ours_derivatives(lambda t: t ** kind(exponent), [x])
    expected = _ours_derivatives(lambda t: t ** float(exponent), [x])
    _assert_same(value, expected[0])
    _assert_same(firsts[0], expected[1][0])
    _assert_same(seconds[0][0], expected[2][0][0])


def test_integer_array_exponent_matches_torch_at_edge_points(torch: ModuleType) -> None:
    x = np.repeat(np.array(BASES), 4)
    exponents = np.tile(np.arange(4), len(BASES))
    _compare(torch, lambda t: t**exponents, lambda t: t ** torch.from_numpy(exponents), [x])


def test_integer_array_exponent_keeps_float32() -> None:
    x = cr.tensor(np.zeros(4, dtype=np.float32), requires_grad=True)
    (x ** np.arange(4)).sum().backward()
    assert x.grad is not None
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(), np.array([0, 1, 0, 0], dtype=np.float32))


def test_scalar_base_matches_torch_at_edge_points(torch: ModuleType) -> None:
    for base in BASES:
        exponents = np.array(EXPONENTS)
        _compare(torch, lambda y, base=base: base**y, lambda y, base=base: base**y, [exponents])
