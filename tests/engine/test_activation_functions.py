"""The activation functions (`chainrule.gelu`, `leaky_relu`, ...) beyond the op table: erf
against math.erf, PyTorch's gradients on the kinks, extreme inputs, a few cases ported from
peer suites, and their argument errors. The op table (engine_cases.py) covers values, first
and second derivatives away from the kinks."""

from __future__ import annotations

import math
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.primitives.activation import erf_values

pytestmark = pytest.mark.torch


def test_erf_matches_math_erf_to_float64_rounding_on_a_grid() -> None:
    grid = np.concatenate(
        [np.linspace(-7.0, 7.0, 28000), np.geomspace(1e-300, 1.0, 300), [2.5, -2.5, 27.0]]
    )
    assert np.all(grid != 0)
    expected = np.array([math.erf(value) for value in grid])
    got = erf_values(grid)
    assert got.shape == grid.shape
    assert np.max(np.abs(got - expected) / np.abs(expected)) <= 2e-15


def test_erf_of_infinities_and_nan() -> None:
    got = cr.erf(np.array([-np.inf, np.inf, np.nan, -0.0])).numpy()
    np.testing.assert_array_equal(got, [-1.0, 1.0, np.nan, -0.0])
    assert np.signbit(got[3])


def test_erf_keeps_float32_and_rounds_correctly() -> None:
    grid = np.linspace(-4.0, 4.0, 801).astype(np.float32)
    got = cr.erf(grid)
    assert got.dtype == np.float32
    expected = np.array([math.erf(value) for value in grid.astype(np.float64)], np.float32)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1.2e-7, atol=0)


def _values_and_grads(
    torch: ModuleType,
    ours: Callable[[cr.Tensor], cr.Tensor],
    theirs: Callable[[Any], Any],
    x: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    mine = cr.tensor(x, requires_grad=True)
    out = ours(mine)
    out.sum().backward()
    reference = torch.tensor(x, requires_grad=True)
    expected = theirs(reference)
    expected.sum().backward()
    assert mine.grad is not None
    return out.numpy(), expected.detach().numpy(), mine.grad.numpy(), reference.grad.numpy()


# (name, ours, PyTorch's, the points where the function has a kink or a switch)
KINKS: list[tuple[str, Callable[[Any], Any], Callable[[Any, Any], Any], list[float]]] = [
    ("leaky_relu", lambda x: cr.leaky_relu(x, 0.2), lambda F, x: F.leaky_relu(x, 0.2), [0.0]),
    ("hardtanh", lambda x: cr.hardtanh(x), lambda F, x: F.hardtanh(x), [-1.0, 1.0]),
    (
        "hardtanh_bounds",
        lambda x: cr.hardtanh(x, -0.5, 2.0),
        lambda F, x: F.hardtanh(x, -0.5, 2.0),
        [-0.5, 2.0],
    ),
    ("hardsigmoid", cr.hardsigmoid, lambda F, x: F.hardsigmoid(x), [-3.0, 3.0]),
    ("hardswish", cr.hardswish, lambda F, x: F.hardswish(x), [-3.0, 3.0]),
    ("elu", lambda x: cr.elu(x, 0.5), lambda F, x: F.elu(x, 0.5), [0.0]),
    ("celu", lambda x: cr.celu(x, 2.0), lambda F, x: F.celu(x, 2.0), [0.0]),
    ("selu", cr.selu, lambda F, x: F.selu(x), [0.0]),
    (
        "softplus_threshold",
        lambda x: cr.softplus(x, 2.0, 1.0),
        lambda F, x: F.softplus(x, 2.0, 1.0),
        [0.5],
    ),
    ("softsign", cr.softsign, lambda F, x: F.softsign(x), [0.0]),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize(("name", "ours", "theirs", "kinks"), KINKS, ids=[k[0] for k in KINKS])
def test_gradient_on_the_kinks_follows_torch(
    torch: ModuleType,
    name: str,
    ours: Callable[[Any], Any],
    theirs: Callable[[Any, Any], Any],
    kinks: list[float],
    dtype: type,
) -> None:
    x = np.array([k + offset for k in kinks for offset in (-0.25, 0.0, 0.25)], dtype=dtype)
    value, expected, grad, expected_grad = _values_and_grads(
        torch, ours, lambda t: theirs(torch.nn.functional, t), x
    )
    # PyTorch's hardsigmoid multiplies its gradient by a float32 1/6 even in float64.
    tolerance = 1e-7 if dtype == np.float32 or name == "hardsigmoid" else 1e-15
    np.testing.assert_allclose(value, expected, rtol=tolerance, atol=0)
    np.testing.assert_allclose(grad, expected_grad, rtol=tolerance, atol=0)


# Inputs where a naive formula overflows (exp(800)) or cancels (1 + erf(-40)).
EXTREMES: list[tuple[str, Callable[[Any], Any], Callable[[Any, Any], Any]]] = [
    ("softplus", cr.softplus, lambda F, x: F.softplus(x)),
    ("logsigmoid", cr.logsigmoid, lambda F, x: F.logsigmoid(x)),
    ("silu", cr.silu, lambda F, x: F.silu(x)),
    ("gelu", cr.gelu, lambda F, x: F.gelu(x)),
    ("gelu_tanh", lambda x: cr.gelu(x, "tanh"), lambda F, x: F.gelu(x, approximate="tanh")),
    ("elu", cr.elu, lambda F, x: F.elu(x)),
    ("selu", cr.selu, lambda F, x: F.selu(x)),
    ("celu", lambda x: cr.celu(x, 0.5), lambda F, x: F.celu(x, 0.5)),
    ("mish", cr.mish, lambda F, x: F.mish(x)),
    ("softmin", lambda x: cr.softmin(x, axis=0), lambda F, x: F.softmin(x, dim=0)),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize(("name", "ours", "theirs"), EXTREMES, ids=[e[0] for e in EXTREMES])
def test_extreme_inputs_give_torchs_finite_values_and_gradients(
    torch: ModuleType,
    name: str,
    ours: Callable[[Any], Any],
    theirs: Callable[[Any, Any], Any],
    dtype: type,
) -> None:
    x = np.array([-1000.0, -800.0, -40.0, -15.0, 15.0, 40.0, 800.0, 1000.0], dtype=dtype)
    value, expected, grad, expected_grad = _values_and_grads(
        torch, ours, lambda t: theirs(torch.nn.functional, t), x
    )
    assert np.all(np.isfinite(value))
    assert np.all(np.isfinite(grad))
    tolerance = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(value, expected, rtol=tolerance, atol=1e-30)
    np.testing.assert_allclose(grad, expected_grad, rtol=tolerance, atol=1e-30)


def test_softplus_without_threshold_stays_finite_where_torch_overflows(torch: ModuleType) -> None:
    # Deliberately unlike PyTorch, whose log1p(exp(800)) is inf (README.md says so).
    x = cr.tensor(np.array([800.0, 1000.0]), requires_grad=True)
    out = cr.softplus(x, 1.0, math.inf)
    out.sum().backward()
    np.testing.assert_array_equal(out.numpy(), [800.0, 1000.0])
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0])
    theirs = torch.nn.functional.softplus(torch.tensor([800.0]), 1.0, math.inf)
    assert torch.isinf(theirs).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softsign_gradient_far_out_keeps_its_digits(dtype: type) -> None:
    # PyTorch's softsign is x / (1 + |x|) with the quotient rule, whose float32 gradient at
    # 1000 is 1e-4 off; 1 / (1 + |x|)**2 keeps float32's 7 digits.
    x = np.array([-1000.0, -40.0, 0.0, 40.0, 1000.0], dtype=dtype)
    tensor = cr.tensor(x, requires_grad=True)
    cr.softsign(tensor).sum().backward()
    expected = 1 / (1 + np.abs(x.astype(np.float64))) ** 2
    assert tensor.grad is not None
    assert tensor.grad.dtype == dtype
    np.testing.assert_allclose(tensor.grad.numpy(), expected, rtol=2 * np.finfo(dtype).eps)


# Ported from tinygrad's test/test_ops.py (test_gelu, test_mish, test_celu, test_softplus):
# (45, 65) inputs, far out on both sides for the tanh gelu and mish, several celu alphas.
TINYGRAD = [
    (
        "gelu_tanh_high",
        lambda x: cr.gelu(x, "tanh"),
        lambda F, x: F.gelu(x, approximate="tanh"),
        (300, 400),
    ),
    (
        "gelu_tanh_low",
        lambda x: cr.gelu(x, "tanh"),
        lambda F, x: F.gelu(x, approximate="tanh"),
        (-400, -300),
    ),
    ("mish_high", cr.mish, lambda F, x: F.mish(x), (300, 400)),
    ("mish_low", cr.mish, lambda F, x: F.mish(x), (-400, -300)),
    *[
        (
            f"celu_{alpha}",
            lambda x, a=alpha: cr.celu(x, a),
            lambda F, x, a=alpha: F.celu(x, a),
            (-3, 3),
        )
        for alpha in (1.0, 2.0, 3.0, 4.0)
    ],
    ("softplus_beta", lambda x: cr.softplus(x, 3.0), lambda F, x: F.softplus(x, 3.0), (-3, 3)),
]


@pytest.mark.parametrize(("name", "ours", "theirs", "span"), TINYGRAD, ids=[t[0] for t in TINYGRAD])
def test_tinygrad_cases(
    torch: ModuleType,
    name: str,
    ours: Callable[[Any], Any],
    theirs: Callable[[Any, Any], Any],
    span: tuple[float, float],
) -> None:
    x = np.random.default_rng(7).uniform(*span, size=(45, 65))
    value, expected, grad, expected_grad = _values_and_grads(
        torch, ours, lambda t: theirs(torch.nn.functional, t), x
    )
    np.testing.assert_allclose(value, expected, rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-12, atol=1e-300)


# Ported from PyTorch's OpInfo sample inputs (sample_inputs_softplus and the elementwise
# activation samples): softplus with a small threshold and with negative beta, leaky_relu with
# a negative slope above 1, elu with a negative alpha.
OPINFO = [
    (
        "softplus_threshold",
        lambda x: cr.softplus(x, 2.0, 0.5),
        lambda F, x: F.softplus(x, 2.0, 0.5),
    ),
    ("softplus_negative_beta", lambda x: cr.softplus(x, -1.5), lambda F, x: F.softplus(x, -1.5)),
    ("leaky_relu_steep", lambda x: cr.leaky_relu(x, 3.0), lambda F, x: F.leaky_relu(x, 3.0)),
    ("elu_negative_alpha", lambda x: cr.elu(x, -0.5), lambda F, x: F.elu(x, -0.5)),
]


@pytest.mark.parametrize(("name", "ours", "theirs"), OPINFO, ids=[o[0] for o in OPINFO])
def test_pytorch_opinfo_samples(
    torch: ModuleType, name: str, ours: Callable[[Any], Any], theirs: Callable[[Any, Any], Any]
) -> None:
    x = np.random.default_rng(3).uniform(-4.0, 4.0, size=(5, 5))
    value, expected, grad, expected_grad = _values_and_grads(
        torch, ours, lambda t: theirs(torch.nn.functional, t), x
    )
    np.testing.assert_allclose(value, expected, rtol=1e-14, atol=0)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-14, atol=0)


def test_gelu_hessian_matches_torch(torch: ModuleType) -> None:
    x = np.array([-2.0, -0.3, 0.0, 0.7, 3.0])
    ours = cr.hessian(lambda t: cr.gelu(t).sum())(x)
    theirs = torch.autograd.functional.hessian(
        lambda t: torch.nn.functional.gelu(t).sum(), torch.from_numpy(x)
    )
    np.testing.assert_allclose(np.asarray(ours), theirs.numpy(), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: cr.gelu([1.0], approximate="erf"), ValueError, "gelu: approximate must be"),
        (lambda: cr.softplus([1.0], beta=0), ValueError, "softplus: beta must be nonzero"),
        (lambda: cr.celu([1.0], alpha=0.0), ValueError, "celu: alpha must be nonzero"),
        (lambda: cr.hardtanh([1.0], 2.0, 1.0), ValueError, "hardtanh: min_val=2.0 is greater"),
        (lambda: cr.leaky_relu([1.0], "0.1"), TypeError, "leaky_relu: negative_slope must be"),
        (lambda: cr.elu([1.0], float("nan")), TypeError, "elu: alpha must be a real number"),
    ],
    ids=["gelu", "softplus", "celu", "hardtanh", "leaky_relu", "elu"],
)
def test_bad_arguments_are_refused_by_name(
    call: Callable[[], Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_float32_gelu_far_below_zero_keeps_its_digits(torch: ModuleType, approximate: str) -> None:
    # 1 + erf(x / sqrt 2) (or 1 + tanh(...)) cancels there: computed in float32 it was 1e-4
    # off PyTorch at x = -3.375.
    x = np.linspace(-5.0, -2.0, 61, dtype=np.float32)
    ours = cr.gelu(cr.tensor(x), approximate)
    expected = torch.nn.functional.gelu(
        torch.from_numpy(x.astype(np.float64)), approximate=approximate
    )
    assert ours.dtype == np.float32
    relative = np.abs(ours.numpy() - expected.numpy()) / np.abs(expected.numpy())
    assert relative.max() <= 2 * np.finfo(np.float32).eps


def test_celu_gradient_keeps_its_float64_digits_for_any_alpha(torch: ModuleType) -> None:
    # found by fuzzing: PyTorch's float64 celu backward for alpha = 1.3 is 2e-8 off
    # exp(x / alpha) (its 1 / alpha in single precision); chainrule's is exact, on purpose
    values = np.array([-0.5, -1.7, -3.0])
    x = cr.tensor(values, requires_grad=True)
    cr.celu(x, 1.3).sum().backward()
    assert x.grad is not None
    np.testing.assert_allclose(x.grad.numpy(), np.exp(values / 1.3), rtol=1e-15)
    tx = torch.tensor(values, requires_grad=True)
    torch.nn.functional.celu(tx, 1.3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-7)
