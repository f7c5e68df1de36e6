"""zeros_like, ones_like and full_like keep the input's array library and device.

Given a tensor held by JAX or array_api_strict they made a NumPy tensor, which the next op
with the input refused ("expected all tensors on the same device"); torch's *_like keep
the input's device. Now the result lives beside the input, in its dtype (or `dtype`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import array_api_strict
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import chainrule as cr
from chainrule.backends import to_numpy

jax.config.update("jax_enable_x64", True)

LIBRARIES = [pytest.param(jnp, id="jax"), pytest.param(array_api_strict, id="array_api_strict")]
FACTORIES: list[Any] = [
    pytest.param(lambda t, **kw: cr.zeros_like(t, **kw), 0.0, id="zeros_like"),
    pytest.param(lambda t, **kw: cr.ones_like(t, **kw), 1.0, id="ones_like"),
    pytest.param(lambda t, **kw: cr.full_like(t, 2.5, **kw), 2.5, id="full_like"),
]


@pytest.mark.parametrize("library", LIBRARIES)
@pytest.mark.parametrize(("factory", "value"), FACTORIES)
@pytest.mark.parametrize("dtype", [None, np.float32])
def test_the_result_lives_beside_the_input(
    library: Any, factory: Callable[..., cr.Tensor], value: float, dtype: Any
) -> None:
    source = cr.tensor(library.asarray(np.arange(6.0).reshape(2, 3)), requires_grad=True)
    made = factory(source, dtype=dtype, requires_grad=True)
    assert made.device == source.device
    assert made.dtype == (source.dtype if dtype is None else np.dtype(dtype))
    assert made.requires_grad
    assert made.grad_fn is None
    np.testing.assert_array_equal(to_numpy(made.data), np.full((2, 3), value, made.dtype))


@pytest.mark.parametrize("library", LIBRARIES)
def test_the_result_combines_with_the_input(library: Any) -> None:
    values = np.arange(6.0).reshape(2, 3)
    source = cr.tensor(library.asarray(values), requires_grad=True)
    (source * cr.full_like(source, 3.0) + cr.zeros_like(source)).sum().backward()
    assert source.grad is not None
    np.testing.assert_array_equal(to_numpy(source.grad.data), np.full((2, 3), 3.0))
