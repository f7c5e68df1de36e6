"""The NumPy replay refuses an argument held by another array library by naming it.

A JAX or array_api_strict array passed to a step compiled for the NumPy replay was refused
as "argument of type ArrayImpl is neither an array nor hashable", which says it is not an
array. The message now names the library, the argument, and the two ways to pass it.
"""

from __future__ import annotations

from typing import Any

import array_api_strict
import jax.numpy as jnp
import numpy as np
import pytest

import chainrule as cr


@pytest.mark.parametrize(
    ("library", "name"), [(jnp, "jax"), (array_api_strict, "array_api_strict")]
)
@pytest.mark.parametrize("as_tensor", [False, True], ids=["array", "tensor"])
def test_an_array_of_another_library_is_refused_by_name(
    library: Any, name: str, as_tensor: bool
) -> None:
    weight = cr.tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    step = cr.compile(lambda scale, x: (weight * x).sum() * scale)
    values = library.asarray(np.arange(3, dtype=np.float32))
    argument = cr.tensor(values) if as_tensor else values
    with pytest.raises(cr.compiler.CompileError) as refused:
        step(2.0, argument)
    message = str(refused.value)
    assert f"argument 1 is an array of {name}" in message
    assert "np.asarray(x)" in message
    assert "backend='xla'" in message


def test_an_unhashable_setting_is_still_refused_as_one() -> None:
    step = cr.compile(lambda setting, x: cr.tensor(x).sum())
    with pytest.raises(cr.compiler.CompileError, match="argument 0 of type set is neither"):
        step({1, 2}, np.ones(3, dtype=np.float32))
