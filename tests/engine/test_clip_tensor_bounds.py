"""clip's bounds are constants of the op: a Tensor bound is refused by name with the ops
that take one (it recursed through NumPy's clip until Python's recursion limit)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr

CALLS: list[Callable[[cr.Tensor, cr.Tensor], Any]] = [
    lambda x, bound: cr.clip(x, bound, None),
    lambda x, bound: cr.clip(x, None, bound),
    lambda x, bound: x.clip(bound, 5.0),
    lambda x, bound: np.clip(x, bound, 5.0),
]


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("requires_grad", [False, True])
def test_a_tensor_bound_is_refused_naming_clip_and_the_ops_that_take_one(
    call: Callable[[cr.Tensor, cr.Tensor], Any], requires_grad: bool
) -> None:
    x = cr.tensor(np.array([[0.3, 0.7], [1.1, 2.3]]))
    bound = cr.tensor(np.full((2, 2), 0.5), requires_grad=requires_grad)
    with pytest.raises(TypeError, match=r"clip: .*chainrule\.maximum"):
        call(x, bound)


def test_array_and_number_bounds_still_clip_with_the_clamp_gradient() -> None:
    x = cr.tensor(np.array([0.3, 0.5, 1.1, 2.3]), requires_grad=True)
    clipped = cr.clip(x, np.array([0.5, 0.5, 0.5, 0.5]), 2.0)
    np.testing.assert_array_equal(clipped.numpy(), [0.5, 0.5, 1.1, 2.0])
    clipped.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 1.0, 1.0, 0.0])
