"""Forward mode over every op of the table (engine_cases.CASES), at drawn points of every
variant (0-d, odd and broadcast shapes): jacfwd equals jacrev in shape, dtype and value; a
float32 tangent stays float32, shaped as the output; the Hessian, forward over reverse, is
symmetric. test_forward_mode checks each op's jvp against torch.func.jvp."""

from __future__ import annotations

import numpy as np
import pytest
from engine_cases import CASES, OpCase, op_inputs, relative_error
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr

FLOAT_CASES = [case for case in CASES if "casts" not in case.tags]
ONE_INPUT_CASES = [case for case in FLOAT_CASES if all(len(v[0]) == 1 for v in case.variants)]


@pytest.mark.parametrize("case", FLOAT_CASES, ids=[case.name for case in FLOAT_CASES])
@settings(max_examples=2, deadline=None)
@given(data=st.data())
def test_jacfwd_equals_jacrev(case: OpCase, data: st.DataObject) -> None:
    arrays, params = data.draw(op_inputs(case))
    every_input = tuple(range(len(arrays)))

    def f(*xs: cr.Tensor) -> cr.Tensor:
        return case.chainrule(*xs, **params)

    forward = cr.jacfwd(f, argnums=every_input)(*arrays)
    reverse = cr.jacrev(f, argnums=every_input)(*arrays)
    for by_forward, by_reverse, array in zip(forward, reverse, arrays, strict=True):
        assert by_forward.shape == by_reverse.shape
        assert by_forward.shape[by_forward.ndim - array.ndim :] == array.shape
        assert by_forward.dtype == by_reverse.dtype == np.float64
        assert relative_error(by_forward.numpy(), by_reverse.numpy()) <= 1e-13


@pytest.mark.parametrize("case", FLOAT_CASES, ids=[case.name for case in FLOAT_CASES])
@settings(max_examples=2, deadline=None)
@given(data=st.data())
def test_a_float32_tangent_stays_float32(case: OpCase, data: st.DataObject) -> None:
    arrays, params = data.draw(op_inputs(case))
    primals = tuple(array.astype(np.float32) for array in arrays)
    tangents = tuple(np.ones_like(primal) for primal in primals)
    output, tangent = cr.jvp(lambda *xs: case.chainrule(*xs, **params), primals, tangents)
    assert output.dtype == tangent.dtype == np.float32
    assert tangent.shape == output.shape


@pytest.mark.parametrize("case", ONE_INPUT_CASES, ids=[case.name for case in ONE_INPUT_CASES])
@settings(max_examples=2, deadline=None)
@given(data=st.data())
def test_hessian_is_symmetric(case: OpCase, data: st.DataObject) -> None:
    arrays, params = data.draw(op_inputs(case))
    (x,) = arrays

    def energy(a: cr.Tensor) -> cr.Tensor:
        # squared, so that a linear op's Hessian is not identically 0
        out: cr.Tensor = case.chainrule(a, **params)
        return (out * out).sum()

    hessian = cr.hessian(energy)(x).numpy().reshape(x.size, x.size)
    assert relative_error(hessian, hessian.T, floor=1.0) <= 1e-12
