"""zero_grad(set_to_none=False) on parameters held by JAX or array_api_strict.

PyTorch's form zeroes each `.grad` in place; the arrays of these libraries cannot be written
into, so the optimizer's and the module's zero_grad raised "in-place changes need a NumPy or
CuPy array" from inside the library. Now each gradient tensor (the same object) gets zeros
of its library, and training with it takes NumPy's steps.
"""

from __future__ import annotations

from typing import Any

import array_api_strict
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.backends import to_numpy

jax.config.update("jax_enable_x64", True)

LIBRARIES = [pytest.param(jnp, id="jax"), pytest.param(array_api_strict, id="array_api_strict")]


def _train(library: Any, zero_by_module: bool) -> tuple[list[float], list[np.ndarray]]:
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    rng = np.random.default_rng(5)
    for param in model.parameters():
        param.data = rng.standard_normal(param.shape)
    if library is not None:
        model = model.to(library)
    optimizer = cr.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    inputs = rng.standard_normal((6, 3))
    x = cr.tensor(inputs if library is None else library.asarray(inputs))
    losses = []
    for _ in range(3):
        if zero_by_module:
            model.zero_grad(set_to_none=False)
        else:
            optimizer.zero_grad(set_to_none=False)
        loss = (model(x) ** 2).mean()
        loss.backward()
        optimizer.step()
        losses.append(float(to_numpy(loss.data)))
    return losses, [to_numpy(param.data) for param in model.parameters()]


@pytest.mark.parametrize("library", LIBRARIES)
@pytest.mark.parametrize("zero_by_module", [False, True], ids=["optimizer", "module"])
def test_training_with_kept_zeroed_grads_takes_numpy_steps(
    library: Any, zero_by_module: bool
) -> None:
    expected_losses, expected_params = _train(None, zero_by_module)
    losses, params = _train(library, zero_by_module)
    np.testing.assert_allclose(losses, expected_losses, rtol=1e-12)
    for actual, expected in zip(params, expected_params, strict=True):
        assert actual.dtype == expected.dtype
        np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("library", LIBRARIES)
def test_the_same_gradient_tensor_holds_zeros_of_its_library(library: Any) -> None:
    layer = nn.Linear(3, 2).to(library)
    layer(cr.tensor(library.asarray(np.ones((1, 3), dtype=np.float32)))).sum().backward()
    grad = layer.weight.grad
    assert grad is not None
    cr.optim.SGD(layer.parameters(), lr=0.1).zero_grad(set_to_none=False)
    assert layer.weight.grad is grad
    assert type(grad.data) is type(layer.weight.data)
    assert grad.dtype == np.float32
    np.testing.assert_array_equal(to_numpy(grad.data), np.zeros(layer.weight.shape, np.float32))
