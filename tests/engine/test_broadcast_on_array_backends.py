"""broadcast_to and its gradient (`sum_to_shape`, the one place broadcasting is undone) on
array_api_strict and JAX arrays, as on NumPy. The op table records broadcast_to only inside
other ops' backward passes, so its rule is specified here directly."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.backends import namespace, to_numpy
from chainrule.primitives.shape import BroadcastTo

strict = pytest.importorskip("array_api_strict")
jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = pytest.importorskip("jax.numpy")

BACKENDS = {"array_api_strict": strict, "jax": jnp}

# (input shape, broadcast shape): a size-1 axis stretched under added axes, added leading
# axes only (a bias), a size-1 axis alone, and a 0-d input.
SHAPES = (((3, 1), (2, 3, 4)), ((4,), (2, 3, 4)), ((1, 4), (3, 4)), ((), (2, 3)))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("shape", "target"), SHAPES)
def test_broadcast_to_and_its_gradient_compute_on_other_libraries_as_on_numpy(
    backend: str, shape: tuple[int, ...], target: tuple[int, ...]
) -> None:
    xp, rng = BACKENDS[backend], np.random.default_rng(0)
    x, grad_out = rng.standard_normal(shape), rng.standard_normal(target)
    out, saved = BroadcastTo.forward(x, shape=target)
    (grad_in,) = BroadcastTo.vjp(saved, grad_out, (True,))
    their_out, their_saved = BroadcastTo.forward(xp.asarray(x), shape=target)
    (their_grad_in,) = BroadcastTo.vjp(their_saved, xp.asarray(grad_out), (True,))
    assert namespace(their_out) is not np
    assert namespace(their_grad_in) is not np
    np.testing.assert_array_equal(to_numpy(their_out), out, strict=True)
    np.testing.assert_allclose(to_numpy(their_grad_in), grad_in, rtol=1e-14, strict=True)
