"""round() and math.trunc() of a value the step reduces from an argument (`round(x.mean(), 1)`):
eagerly NumPy gives a NumPy scalar, which both take; under the trace it is a 0-d marked array,
and ndarray defines neither, so the compiled step raised a TypeError naming an internal type
where eager ran. Now they are reads of the argument like float(): the trace holds for its
values (full-batch training replays) and the result equals eager's."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.compiler import compile

ROUNDINGS: dict[str, Callable[[Any], Any]] = {
    "round": lambda x: round(x.mean()),
    "round-1-digit": lambda x: round(x.mean(), 1),
    "round-element": lambda x: round(x[1], 2),
    "math.trunc": lambda x: math.trunc(x.mean()),
}


@pytest.mark.parametrize("backend", ["numpy", "xla"])
@pytest.mark.parametrize("case", list(ROUNDINGS))
def test_a_rounded_reduction_of_an_argument_matches_eager_and_replays(
    case: str, backend: str
) -> None:
    if backend == "xla":
        from chainrule.compiler.xla import enable_float64

        enable_float64()
    rounding = ROUNDINGS[case]
    weight = cr.tensor(np.array([1.0, -2.0, 0.5]), requires_grad=True)

    def step(x: np.ndarray) -> cr.Tensor:
        weight.grad = None
        loss = (cr.tensor(x) * weight).sum() * float(rounding(x))
        loss.backward()
        return loss

    compiled = compile(step, backend=backend)
    x = np.array([1.26, 2.5, 4.1])
    for _ in range(4):
        expected = step(x).numpy()
        assert weight.grad is not None
        expected_grad = weight.grad.numpy().copy()
        got = compiled(x).numpy()
        assert got.shape == expected.shape
        assert got.dtype == expected.dtype
        np.testing.assert_allclose(got, expected, rtol=0 if backend == "numpy" else 1e-12)
        np.testing.assert_allclose(
            weight.grad.numpy(), expected_grad, rtol=0 if backend == "numpy" else 1e-12
        )
    assert compiled.traces == 2  # the trace and its check; replays after


def test_round_of_a_whole_array_argument_fails_as_eagerly() -> None:
    def step(x: np.ndarray) -> cr.Tensor:
        return cr.tensor(x) * float(round(x))

    x = np.array([1.5, 2.5])
    with pytest.raises(TypeError, match=r"numpy\.ndarray doesn't define __round__"):
        step(x)
    with pytest.raises(TypeError, match=r"numpy\.ndarray doesn't define __round__"):
        compile(step)(x)
