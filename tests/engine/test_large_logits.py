"""softmax, log_softmax and logsumexp at large logits (1e4, 3e7) in float32 and float64:
values as PyTorch's, gradients within a few ulps of the exact ones.

Subtracting two numbers as large as the logits loses the answer's digits to their rounding
(a float32 of 3e7 is only known to 2), so each op works on x - max(x) throughout.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from engine_cases import relative_error

import chainrule as cr

pytestmark = pytest.mark.torch

# Relative error allowed: a few ulps of the dtype, as PyTorch achieves on these values.
TOLERANCE = {np.dtype(np.float32): 2e-6, np.dtype(np.float64): 1e-14}

OPS: dict[str, tuple[Callable[[cr.Tensor], cr.Tensor], Callable[..., Any]]] = {
    "softmax": (lambda x: cr.softmax(x, axis=-1), lambda torch, x: torch.softmax(x, -1)),
    "log_softmax": (
        lambda x: cr.log_softmax(x, axis=-1),
        lambda torch, x: torch.log_softmax(x, -1),
    ),
    "logsumexp": (lambda x: cr.logsumexp(x, axis=-1), lambda torch, x: torch.logsumexp(x, -1)),
}


def _logits(scale: float, dtype: type) -> np.ndarray:
    rng = np.random.default_rng(7)
    return (scale + 3 * rng.standard_normal((4, 6))).astype(dtype)


def _exact_gradient(
    torch: ModuleType, name: str, logits: np.ndarray, cotangent: np.ndarray
) -> np.ndarray:
    """The gradient in float64 from formulas that keep every digit: PyTorch's softmax and
    log_softmax backward, and for logsumexp cotangent * softmax(x) (PyTorch's own
    exp(x - logsumexp(x)) subtracts two numbers as large as x)."""
    x = torch.tensor(logits.astype(np.float64), requires_grad=True)
    weights = torch.from_numpy(cotangent.astype(np.float64))
    if name == "logsumexp":
        return (torch.softmax(x, -1) * weights[:, None]).detach().numpy()
    OPS[name][1](torch, x).backward(weights)
    gradient: np.ndarray = x.grad.numpy()
    return gradient


@pytest.mark.parametrize("scale", [1e4, 3e7])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", sorted(OPS))
def test_values_match_torch_at_large_logits(
    torch: ModuleType, name: str, dtype: type, scale: float
) -> None:
    logits = _logits(scale, dtype)
    ours = OPS[name][0](cr.tensor(logits))
    expected = OPS[name][1](torch, torch.from_numpy(logits)).numpy()
    assert ours.dtype == expected.dtype
    assert relative_error(ours.numpy(), expected) <= TOLERANCE[np.dtype(dtype)]


@pytest.mark.parametrize("scale", [1e4, 3e7])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", sorted(OPS))
def test_gradients_are_exact_to_a_few_ulps_at_large_logits(
    torch: ModuleType, name: str, dtype: type, scale: float
) -> None:
    logits = _logits(scale, dtype)
    x = cr.tensor(logits, requires_grad=True)
    out = OPS[name][0](x)
    cotangent = np.random.default_rng(8).standard_normal(out.shape).astype(dtype)
    out.backward(cotangent)
    expected = _exact_gradient(torch, name, logits, cotangent)
    assert x.grad is not None
    assert x.grad.dtype == np.dtype(dtype)
    assert (
        relative_error(x.grad.numpy(), expected, floor=float(np.max(np.abs(cotangent))))
        <= TOLERANCE[np.dtype(dtype)]
    )


def test_log_softmax_of_a_row_holding_inf_is_nan_there_and_minus_inf_elsewhere() -> None:
    """Documented in README (PyTorch gives NaN for the whole row)."""
    logits = cr.tensor(np.array([[1.0, np.inf, 2.0], [1.0, 2.0, 3.0]]))
    with np.errstate(invalid="ignore"):
        result = cr.log_softmax(logits, axis=-1).numpy()
    assert result.shape == (2, 3)
    np.testing.assert_array_equal(result[0], [-np.inf, np.nan, -np.inf])
    assert np.all(np.isfinite(result[1]))
