"""jvp, linearize and vjp return f's output in its own dtype, as JAX does for primals: an
integer or bool output (a count, a comparison's mask, a Python int) stays integer or bool
instead of becoming float32, and its tangent is zero in that dtype."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr

X = np.array([1.5, -2.0, 3.0])

OUTPUTS: dict[str, tuple[Callable[[Any], Any], np.ndarray]] = {
    "python int": (lambda x: 3, np.array(3, dtype=np.int64)),
    "python bool": (lambda x: True, np.array(True)),
    "int32 array": (lambda x: np.array([1, 2], dtype=np.int32), np.array([1, 2], dtype=np.int32)),
    "comparison mask": (lambda x: x > 0, np.array([True, False, True])),
    "uint8 scalar": (lambda x: np.uint8(7), np.array(7, dtype=np.uint8)),
}


def _transformed(transform: str, f: Callable[[Any], Any]) -> tuple[Any, Any]:
    """(f's output, its tangent along ones, or None for vjp) through `transform`."""
    if transform == "jvp":
        return cr.jvp(f, (X,), (np.ones(3),))
    if transform == "linearize":
        output, f_jvp = cr.linearize(f, X)
        return output, f_jvp(np.ones(3))
    output, _ = cr.vjp(f, X)
    return output, None


@pytest.mark.parametrize("output", list(OUTPUTS))
@pytest.mark.parametrize("transform", ["jvp", "linearize", "vjp"])
def test_integer_and_bool_outputs_keep_their_dtype(transform: str, output: str) -> None:
    f, expected = OUTPUTS[output]
    result, tangent = _transformed(transform, f)
    assert result.dtype == expected.dtype
    assert result.shape == expected.shape
    np.testing.assert_array_equal(result.numpy(), expected)
    if tangent is not None:
        assert tangent.dtype == expected.dtype
        assert tangent.shape == expected.shape
        assert not np.any(tangent.numpy())


@pytest.mark.parametrize("transform", ["jvp", "linearize"])
def test_a_float_output_beside_an_integer_one_keeps_its_tangent(transform: str) -> None:
    result, tangent = _transformed(transform, lambda x: (cr.argmax(x), x * x))
    assert result[0].dtype == np.int64
    assert tangent[0].dtype == np.int64
    assert result[1].dtype == np.float64
    np.testing.assert_allclose(tangent[1].numpy(), 2 * X, rtol=1e-15)


@pytest.mark.parametrize("output", list(OUTPUTS))
def test_jacfwd_and_jacrev_of_an_integer_or_bool_output_are_float_zeros(output: str) -> None:
    f, expected = OUTPUTS[output]
    forward, reverse = cr.jacfwd(f)(X), cr.jacrev(f)(X)
    for jacobian in (forward, reverse):
        assert jacobian.dtype == X.dtype
        assert jacobian.shape == expected.shape + X.shape
        assert not np.any(jacobian.numpy())
