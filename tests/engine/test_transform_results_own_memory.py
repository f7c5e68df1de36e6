"""What a transformation returns owns its memory: a vjp_fn result does not alias the caller's
cotangent (a buffer reused across calls, as in building a Jacobian row by row, must not
rewrite earlier rows), and two gradients of one call do not alias each other."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import numpy as np
import pytest

import chainrule as cr

FUNCTIONS: dict[str, Callable[[cr.Tensor], cr.Tensor]] = {
    "identity": lambda a: a,
    "add a constant": lambda a: a + 1.0,
    "reshape": lambda a: a.reshape(3, 1)[:, 0],
}


@pytest.mark.torch
@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_jacobian_rows_from_one_reused_cotangent_buffer(torch: ModuleType, name: str) -> None:
    x = np.array([1.0, -2.0, 0.5])
    _, vjp_fn = cr.vjp(FUNCTIONS[name], x)
    cotangent = np.zeros(3)
    rows = []
    for index in range(3):
        cotangent[:] = 0.0
        cotangent[index] = 1.0
        rows.append(vjp_fn(cotangent)[0].numpy())
    expected = torch.func.jacrev(FUNCTIONS[name])(torch.tensor(x)).numpy()
    np.testing.assert_array_equal(np.stack(rows), expected)


def test_gradients_of_two_arguments_do_not_share_memory() -> None:
    x, y = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    _, vjp_fn = cr.vjp(lambda a, b: a + b, x, y)
    first, second = vjp_fn(np.array([1.0, 1.0]))
    first.numpy()[0] = 5.0
    np.testing.assert_array_equal(second.numpy(), [1.0, 1.0])
