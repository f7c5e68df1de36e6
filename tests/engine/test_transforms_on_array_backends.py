"""The function transforms on Tensors that hold JAX or array_api_strict arrays: every result
(gradients, Jacobians, pushed tangents, Hessians) stays in the argument's array library, as
the README promises of gradients, with the values NumPy gives. The transforms made their
seeds, zeros and argument copies in NumPy, so a tensor that requires grad stopped with a
"two devices" error it did not cause, and one that does not came back moved to NumPy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import array_api_strict as strict
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import chainrule as cr
from chainrule import placement

jax.config.update("jax_enable_x64", True)

RNG = np.random.default_rng(16)
X = RNG.normal(size=(3,))
Y = RNG.normal(size=(2, 3))
V = RNG.normal(size=(3,))
ONES = np.ones((2, 3))


def scalar(a: Any, b: Any) -> Any:
    return ((a * b).sin() * b).sum()


def vector(a: Any, b: Any) -> Any:
    return (a * b).sin() * b


Make = Callable[[np.ndarray], cr.Tensor]

TRANSFORMS: dict[str, Callable[[Make], Any]] = {
    "grad": lambda t: cr.grad(scalar, argnums=(0, 1))(t(X), t(Y)),
    "value_and_grad": lambda t: cr.value_and_grad(scalar)(t(X), t(Y)),
    "jacrev": lambda t: cr.jacrev(vector, argnums=(0, 1))(t(X), t(Y)),
    "jacfwd": lambda t: cr.jacfwd(vector, argnums=(0, 1))(t(X), t(Y)),
    "jacobian of an unused argument": lambda t: cr.jacrev(lambda a, b: b * 2.0)(t(X), t(Y)),
    "hessian": lambda t: cr.hessian(scalar)(t(X), t(Y)),
    "vjp": lambda t: cr.vjp(vector, t(X), t(Y))[1](t(ONES)),
    "vjp of a NumPy cotangent": lambda t: cr.vjp(vector, t(X), t(Y))[1](ONES),
    "jvp": lambda t: cr.jvp(vector, (t(X), t(Y)), (t(V), t(ONES))),
    "linearize": lambda t: cr.linearize(vector, t(X), t(Y))[1](t(V), t(ONES)),
    "hvp": lambda t: cr.hvp(lambda a: (a.sin() * a).sum(), t(X), t(V)),
    "one gradient reaching two arguments": lambda t: cr.grad(
        lambda a, b: (a + b).sum(), argnums=(0, 1)
    )(t(X), t(X)),
}


def leaves(tree: Any) -> list[cr.Tensor]:
    if isinstance(tree, (tuple, list)):
        return [leaf for part in tree for leaf in leaves(part)]
    return [tree]


@pytest.mark.parametrize("requires_grad", [False, True], ids=["constant", "requires_grad"])
@pytest.mark.parametrize(
    ("library", "asarray"), [("jax", jnp.asarray), ("array_api_strict", strict.asarray)]
)
@pytest.mark.parametrize("transform", list(TRANSFORMS))
def test_results_stay_in_the_arguments_library_with_numpys_values(
    transform: str, library: str, asarray: Callable[[np.ndarray], Any], requires_grad: bool
) -> None:
    run = TRANSFORMS[transform]
    expected = leaves(run(lambda values: cr.tensor(values, requires_grad=requires_grad)))
    got = leaves(run(lambda values: cr.tensor(asarray(values), requires_grad=requires_grad)))
    assert len(got) == len(expected)
    for ours, reference in zip(got, expected, strict=True):
        assert placement.library_of(ours.data) == library
        assert ours.shape == reference.shape
        assert ours.dtype == reference.dtype
        np.testing.assert_allclose(ours.numpy(), reference.numpy(), rtol=1e-13, atol=1e-15)
