"""Every op's gradient against float64 central differences of <out, w> for a fixed random w."""

from __future__ import annotations

import numpy as np
import pytest
from engine_cases import CASES, OpCase, numerical_grad, op_inputs, relative_error
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr

FLOAT64_CASES = [case for case in CASES if "casts" not in case.tags]


@pytest.mark.parametrize("case", FLOAT64_CASES, ids=[case.name for case in FLOAT64_CASES])
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_gradient_matches_central_differences(case: OpCase, data: st.DataObject) -> None:
    arrays, params = data.draw(op_inputs(case))
    tensors = [cr.tensor(array, requires_grad=True) for array in arrays]
    out = case.chainrule(*tensors, **params)
    weights = np.random.default_rng(1).normal(size=out.shape)
    out.backward(weights)

    for position, tensor in enumerate(tensors):

        def weighted_output(point: np.ndarray, position: int = position) -> float:
            values = [point if i == position else array for i, array in enumerate(arrays)]
            with cr.no_grad():
                result = case.chainrule(*(cr.tensor(v) for v in values), **params)
            return float(np.sum(result.numpy() * weights))

        expected = numerical_grad(weighted_output, arrays[position])
        assert tensor.grad is not None
        assert tensor.grad.shape == expected.shape
        scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
        assert np.max(np.abs(tensor.grad.numpy() - expected), initial=0.0) <= 1e-6 * scale


def test_astype_gradient_matches_central_differences() -> None:
    x = np.array([[0.5, -1.25], [2.0, 3.0]])
    tensor = cr.tensor(x, requires_grad=True)
    out = (tensor.astype(np.float32) * 1.5).astype(np.float64)
    out.sum().backward()
    expected = numerical_grad(lambda point: float(np.sum(point * 1.5)), x)
    assert tensor.grad is not None
    assert tensor.grad.dtype == np.float64
    assert relative_error(tensor.grad.numpy(), expected) <= 1e-6
