"""Every op's values and gradients against PyTorch autograd, in float64 and float32, over
shapes that broadcast (scalars, (1,), (3, 1) with (1, 4), batched and 1-D matmul)."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest
from engine_cases import CASES, OpCase, op_inputs, record_torch_error, relative_error
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr

pytestmark = pytest.mark.torch

# Normwise relative error allowed against PyTorch. float32: where a gradient cancels
# (softmax, log_softmax, var), both libraries land up to ~5e-6 from the float64 truth, on
# opposite sides, so they may differ by ~1e-5; 1e-4 is about 800 ulps.
TOLERANCE = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-4}


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_values_and_gradients_match_torch(
    torch: ModuleType, case: OpCase, dtype: type, data: st.DataObject
) -> None:
    arrays, params = data.draw(op_inputs(case))
    inputs = [array.astype(dtype) for array in arrays]
    ours = [cr.tensor(array, requires_grad=True) for array in inputs]
    theirs = [torch.tensor(array, requires_grad=True) for array in inputs]

    out = case.chainrule(*ours, **params)
    reference = case.torch(torch, *theirs, **params)
    expected = reference.detach().numpy()
    assert out.dtype == expected.dtype
    cotangent = np.random.default_rng(0).normal(size=expected.shape).astype(expected.dtype)
    out.backward(cotangent)
    reference.backward(torch.from_numpy(cotangent))

    tolerance = max(TOLERANCE[np.dtype(dtype)], TOLERANCE[out.dtype])
    input_scale = max((float(np.max(np.abs(a))) for a in inputs if a.size), default=0.0)
    errors = [relative_error(out.numpy(), expected, floor=input_scale)]
    for tensor, torch_tensor in zip(ours, theirs, strict=True):
        assert tensor.grad is not None
        assert tensor.grad.dtype == np.dtype(dtype)
        # A gradient is linear in the cotangent: where it cancels (softmax's rows sum to 0),
        # its rounding error is relative to the cotangent's size, not to its own.
        errors.append(
            relative_error(
                tensor.grad.numpy(),
                torch_tensor.grad.numpy(),
                floor=float(np.max(np.abs(cotangent), initial=0.0)),
            )
        )
    record_torch_error(np.dtype(dtype).name, max(errors), case.name)
    assert max(errors) <= tolerance, f"{case.name}: errors {errors} (value, then each grad)"
