"""A function transform (chainrule.grad and its siblings) called inside a function that
chainrule.compile traces is refused by name, with what to do instead. Before, the trace
failed later with an unrelated message (a constant "computed from an argument")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.modes import CompileError


def _square_sum(y: Any) -> Any:
    return (y * y).sum()


TRANSFORMS: dict[str, Callable[[Any], Any]] = {
    "grad": lambda x: cr.grad(_square_sum)(x),
    "value_and_grad": lambda x: cr.value_and_grad(_square_sum)(x)[1],
    "vjp": lambda x: cr.vjp(lambda y: y * y, x)[0],
    "jvp": lambda x: cr.jvp(lambda y: y * y, (x,), (x,))[1],
    "jacrev": lambda x: cr.jacrev(lambda y: y * y)(x),
    "hessian": lambda x: cr.hessian(_square_sum)(x),
}


@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_a_transform_inside_a_compiled_function_is_refused_by_name(name: str) -> None:
    compiled = cr.compile(TRANSFORMS[name])
    with pytest.raises(
        CompileError,
        match=r"compile: chainrule\.\w+ was called inside the function being "
        r"compiled.*loss\.backward\(\).*outside chainrule\.compile",
    ):
        compiled(cr.tensor(np.array([1.0, 2.0, 3.0])))


@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_the_same_transform_runs_eagerly(name: str) -> None:
    # The refusal is the trace's alone: the transform itself works outside compile.
    result = TRANSFORMS[name](cr.tensor(np.array([1.0, 2.0, 3.0])))
    assert np.all(np.isfinite(np.asarray(result)))
