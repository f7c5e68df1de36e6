"""A parameter whose array cannot be written is refused by `step()` before anything changes."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import chainrule
from chainrule import nn, optim

MAKERS: dict[str, Callable[[list[nn.Parameter]], optim.Optimizer]] = {
    "sgd": lambda params: optim.SGD(params, lr=0.1),
    "sgd-momentum": lambda params: optim.SGD(params, lr=0.1, momentum=0.9),
    "adam": lambda params: optim.Adam(params, lr=0.1),
    "adamw-amsgrad": lambda params: optim.AdamW(params, lr=0.1, amsgrad=True),
}


@pytest.mark.parametrize("name", list(MAKERS))
def test_a_read_only_parameter_is_refused_before_its_state_changes(name: str) -> None:
    # NumPy failed at the last in-place write ("output array is read-only"), after Adam had
    # advanced its step count and moments: a retry on a writable copy then took step 2.
    param = nn.Parameter(np.ones(3))
    optimizer = MAKERS[name]([param])
    param.grad = chainrule.tensor(np.full(3, 0.5))
    optimizer.step()
    before = {key: np.copy(value) for key, value in optimizer.state[param].items()}
    param.data = np.broadcast_to(np.array(2.0), (3,))
    with pytest.raises(ValueError, match=r"step: a parameter of shape \(3,\) holds a read-only"):
        optimizer.step()
    after = optimizer.state[param]
    assert after.keys() == before.keys()
    for key, value in before.items():
        np.testing.assert_array_equal(after[key], value, err_msg=key)
    np.testing.assert_array_equal(param.data, np.full(3, 2.0))
