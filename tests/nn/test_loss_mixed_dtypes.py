"""Losses with an input and a target of two float dtypes, against PyTorch 2.13: refused
where torch refuses (binary_cross_entropy, huber_loss), else the loss takes torch's result
dtype and the gradient keeps the input's. Before, binary_cross_entropy and huber_loss gave a
float64 loss that torch refuses, binary_cross_entropy_with_logits and cross_entropy with
probabilities took the input's dtype where torch takes the target's or the promoted one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import chainrule as cr
import chainrule.functional as CF

PAIRS = [("float32", "float64"), ("float64", "float32")]
LOSSES: dict[str, Callable[[Any, Any, Any], Any]] = {
    "mse_loss": lambda f, x, t: f.mse_loss(x, t),
    "l1_loss": lambda f, x, t: f.l1_loss(x, t),
    "smooth_l1_loss": lambda f, x, t: f.smooth_l1_loss(x, t),
    "binary_cross_entropy_with_logits": lambda f, x, t: f.binary_cross_entropy_with_logits(x, t),
    "cross_entropy (probabilities)": lambda f, x, t: f.cross_entropy(x, t),
    "binary_cross_entropy": lambda f, x, t: f.binary_cross_entropy(x, t),
    "huber_loss": lambda f, x, t: f.huber_loss(x, t),
}
REFUSED_BY_TORCH = ("binary_cross_entropy", "huber_loss")


def _values() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    return rng.uniform(0.1, 0.9, (4, 3)), rng.uniform(0.1, 0.9, (4, 3))


@pytest.mark.parametrize(("input_dtype", "target_dtype"), PAIRS)
@pytest.mark.parametrize("name", list(LOSSES))
def test_mixed_float_dtypes_follow_torch(name: str, input_dtype: str, target_dtype: str) -> None:
    x, t = _values()
    tx = torch.tensor(x, dtype=getattr(torch, input_dtype), requires_grad=True)
    tt = torch.tensor(t, dtype=getattr(torch, target_dtype))
    cx = cr.tensor(x.astype(input_dtype), requires_grad=True)
    ct = cr.tensor(t.astype(target_dtype))
    if name in REFUSED_BY_TORCH:
        with pytest.raises(RuntimeError):  # huber_loss: in its backward, after the forward
            LOSSES[name](F, tx, tt).backward()
        message = rf"{name}: input has dtype {input_dtype} but target has dtype {target_dtype}"
        with pytest.raises(TypeError, match=rf"{message}.*target\.astype\(np\.{input_dtype}\)"):
            LOSSES[name](CF, cx, ct)
        return
    expected = LOSSES[name](F, tx, tt)
    expected.backward()
    loss = LOSSES[name](CF, cx, ct)
    loss.backward()
    assert loss.dtype == np.dtype(str(expected.dtype).removeprefix("torch."))
    assert cx.grad is not None
    assert cx.grad.dtype == np.dtype(input_dtype)
    rtol = 1e-6 if "float32" in (input_dtype, target_dtype) else 1e-13
    np.testing.assert_allclose(loss.item(), expected.item(), rtol=rtol)
    assert tx.grad is not None
    np.testing.assert_allclose(cx.grad.numpy(), tx.grad.numpy(), rtol=rtol, atol=1e-7)


@pytest.mark.parametrize(
    "name", ["binary_cross_entropy_with_logits", "cross_entropy (probabilities)"]
)
def test_mixed_dtype_gradient_matches_central_differences(name: str) -> None:
    # float64 input, float32 target: the derivative in float64 against central differences.
    x, t = _values()
    target = cr.tensor(t.astype(np.float32))
    point = cr.tensor(x, requires_grad=True)
    LOSSES[name](CF, point, target).backward()
    assert point.grad is not None
    step = 1e-3 if name.startswith("binary") else 1e-6  # a float32 loss: a longer step
    numeric = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        shifted = [x.copy(), x.copy()]
        shifted[0][index] += step
        shifted[1][index] -= step
        up, down = (
            LOSSES[name](CF, cr.tensor(value), target).astype(np.float64).item()
            for value in shifted
        )
        numeric[index] = (up - down) / (2 * step)
    # the loss itself is rounded to float32 for bce_with_logits (torch's result dtype)
    atol = 1e-4 if name.startswith("binary") else 1e-9
    np.testing.assert_allclose(point.grad.numpy(), numeric, rtol=1e-4, atol=atol)
