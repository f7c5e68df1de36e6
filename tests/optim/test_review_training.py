"""Found by reviewing the training side against PyTorch: what an optimizer is handed."""

from __future__ import annotations

import re

import numpy as np
import pytest

from chainrule import nn, optim
from chainrule.tensor import Tensor


@pytest.mark.parametrize("shape", [(1,), (), (3, 1), (4,)])
def test_assigning_a_gradient_of_another_shape_is_refused(shape: tuple[int, ...]) -> None:
    # PyTorch refuses it at the assignment ("assigned grad has data of a different size");
    # accepted, a (1,) or () gradient was broadcast by SGD and Adam over the whole parameter.
    param = nn.Parameter(np.zeros(3))
    expected = f"gradient of shape {shape} to a tensor of shape (3,)"
    with pytest.raises(ValueError, match=re.escape(expected)):
        param.grad = Tensor(np.ones(shape))
    assert param.grad is None


def test_a_refused_gradient_leaves_the_parameter_untouched_by_the_next_step() -> None:
    param = nn.Parameter(np.zeros(3))
    optimizer = optim.SGD([param], lr=0.1)
    with pytest.raises(ValueError, match="a gradient has its tensor's shape"):
        param.grad = Tensor(np.ones(1))
    optimizer.step()
    np.testing.assert_array_equal(param.data, np.zeros(3))


@pytest.mark.parametrize(
    ("saver", "loader", "lacking"),
    [
        (optim.Adam, optim.SGD, "momentum, dampening"),
        (optim.SGD, optim.Adam, "betas, eps"),
    ],
)
def test_loading_another_optimizers_state_is_refused(
    saver: type[optim.Optimizer], loader: type[optim.Optimizer], lacking: str
) -> None:
    # Adam's state loaded into SGD restarted its momentum silently; SGD's into Adam failed
    # with a KeyError inside the next step.
    param = nn.Parameter(np.zeros(3))
    param.grad = Tensor(np.ones(3))
    source = saver([param], lr=0.1)
    source.step()
    target = loader([param], lr=0.1)
    with pytest.raises(ValueError, match=f"has no {lacking}.*saved by another optimizer"):
        target.load_state_dict(source.state_dict())


def test_adams_state_loads_into_adamw_and_keeps_custom_group_keys() -> None:
    # As torch: the two share their hyperparameters; a user's own group entry survives.
    param = nn.Parameter(np.zeros(3))
    param.grad = Tensor(np.ones(3))
    source = optim.Adam([{"params": [param], "name": "head"}], lr=0.1)
    source.step()
    target = optim.AdamW([param], lr=0.1)
    target.load_state_dict(source.state_dict())
    assert target.param_groups[0]["name"] == "head"
    assert target.state[param]["step"] == 1
