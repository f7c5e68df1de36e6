"""A loss's raw target of the prediction's own array library is taken as a constant there,
as a NumPy target is for a NumPy prediction: values and gradients equal PyTorch's."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import chainrule as cr
import chainrule.functional as F
from chainrule.backends import to_numpy

strict = pytest.importorskip("array_api_strict")

LOSSES = [
    "mse_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "l1_loss",
    "huber_loss",
    "smooth_l1_loss",
]
PROBABILITIES = np.array([[0.2, 0.7, 0.45], [0.9, 0.1, 0.6]])
TARGETS = np.array([[0.0, 1.0, 0.3], [1.0, 0.25, 0.0]])


def _torch_loss(name: str) -> tuple[float, np.ndarray]:
    p = torch.tensor(PROBABILITIES, requires_grad=True)
    loss = getattr(torch.nn.functional, name)(p, torch.tensor(TARGETS))
    loss.backward()
    assert p.grad is not None
    return loss.item(), p.grad.numpy()


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("as_target", [strict.asarray, np.asarray, np.ndarray.tolist])
def test_loss_takes_a_raw_target_of_the_predictions_library(name: str, as_target: object) -> None:
    p = cr.tensor(strict.asarray(PROBABILITIES), requires_grad=True)
    loss = getattr(F, name)(p, as_target(TARGETS))  # type: ignore[operator]
    loss.backward()
    assert loss.device == p.device
    assert p.grad is not None
    assert p.grad.device == p.device
    expected_loss, expected_grad = _torch_loss(name)
    np.testing.assert_allclose(float(to_numpy(loss.data)), expected_loss, rtol=1e-12)
    np.testing.assert_allclose(to_numpy(p.grad.data), expected_grad, rtol=1e-12, atol=1e-15)


def test_a_target_of_another_library_is_refused_naming_both_devices() -> None:
    jnp = pytest.importorskip("jax.numpy")
    p = cr.tensor(strict.asarray(PROBABILITIES.astype(np.float32)))
    with pytest.raises(TypeError, match="mse_loss: expected all tensors on the same device"):
        F.mse_loss(p, jnp.asarray(TARGETS.astype(np.float32)))
