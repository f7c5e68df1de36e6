"""A list (or number) beside a tensor in concatenate, stack, vstack and hstack takes that
tensor's dtype, as the binary operators' operands do: beside float64 data a list was made
float32 first and widened after, so 0.3 joined as 0.30000001192092896."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import chainrule as cr

JOINS: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
    "concatenate": (cr.concatenate, torch.cat),
    "stack": (cr.stack, torch.stack),
    "vstack": (cr.vstack, torch.vstack),
    "hstack": (cr.hstack, torch.hstack),
}
LIST = [[0.1, 0.2], [0.3, 0.7]]


@pytest.mark.parametrize("name", list(JOINS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
@pytest.mark.parametrize("list_first", [False, True])
def test_a_list_joins_in_the_tensors_dtype_as_torch_with_that_dtype(
    name: str, dtype: type, list_first: bool
) -> None:
    ours, theirs = JOINS[name]
    data = np.array([[1.1, -2.3], [0.4, 3.9]], dtype=dtype)
    x = cr.tensor(data, requires_grad=True)
    items = [LIST, x] if list_first else [x, LIST]
    joined = ours(items)
    t = torch.tensor(data, requires_grad=True)
    constant = torch.tensor(LIST, dtype=t.dtype)
    expected = theirs([constant, t] if list_first else [t, constant])
    assert joined.dtype == dtype
    assert joined.shape == tuple(expected.shape)
    np.testing.assert_array_equal(joined.numpy(), expected.detach().numpy())
    weights = np.arange(joined.size, dtype=np.float64).reshape(joined.shape)
    (joined * cr.tensor(weights.astype(dtype))).sum().backward()
    (expected * torch.tensor(weights, dtype=t.dtype)).sum().backward()
    assert t.grad is not None
    np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())


@pytest.mark.parametrize("name", list(JOINS))
def test_a_float64_array_beside_a_float32_tensor_keeps_numpys_promotion(name: str) -> None:
    ours, _ = JOINS[name]
    ones = np.ones((2, 2), dtype=np.float32)
    joined = ours([cr.tensor(ones), np.array(LIST)])
    expected = getattr(np, name)([ones, np.array(LIST)])
    assert joined.dtype == expected.dtype == np.float64
    np.testing.assert_array_equal(joined.numpy(), expected)


def test_numpys_concatenate_with_axis_none_joins_a_list_in_the_tensors_dtype() -> None:
    x = cr.tensor(np.array([[1.1, -2.3]]), requires_grad=True)
    joined = np.concatenate([x, LIST], axis=None)
    assert isinstance(joined, cr.Tensor)
    assert joined.dtype == np.float64
    np.testing.assert_array_equal(joined.numpy(), np.concatenate([[[1.1, -2.3]], LIST], None))
    joined.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[1.0, 1.0]])
