"""A list or tuple of arrays where an op or a layer expects one array: NumPy would stack it
into one array with a new leading axis, which turned a DataLoader batch (a 1-tuple) passed
whole to a layer into a result of shape (1, N, out) with no error. It is refused, as PyTorch
refuses a tuple where a tensor is due; lists of numbers, the explicit constructor and the
operands of binary ops (`x * [a, b]`, as NumPy broadcasts them) keep NumPy's meaning."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.data import DataLoader


def test_a_dataloader_batch_passed_whole_to_a_layer_is_refused_naming_the_fix() -> None:
    layer = cr.nn.Linear(3, 2, rng=np.random.default_rng(0))
    batch = next(iter(DataLoader(np.ones((4, 3)), batch_size=4)))
    assert isinstance(batch, tuple)
    with pytest.raises(TypeError, match=r"tuple of 1 arrays.*unpack it"):
        layer(batch)


@pytest.mark.parametrize(
    "call",
    [
        lambda xs: cr.relu(xs),
        lambda xs: cr.nn.ReLU()(xs),
    ],
    ids=["op", "module"],
)
def test_a_list_of_arrays_as_an_input_is_refused(call: Any) -> None:
    with pytest.raises(TypeError, match=r"list of 2 arrays or tensors"):
        call([np.ones(2), np.zeros(2)])


def test_python_numbers_in_a_list_still_broadcast_as_numpy() -> None:
    x = cr.tensor(np.arange(3.0), requires_grad=True)
    y = (x * [1.0, 2.0, 3.0]).sum()
    y.backward()
    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.numpy(), np.array([1.0, 2.0, 3.0]))


def test_the_constructor_still_stacks_arrays_on_purpose_as_np_array() -> None:
    stacked = cr.tensor([np.ones(2), np.zeros(2)])
    assert stacked.shape == (2, 2)


def test_pytorch_refuses_a_tuple_given_to_a_layer_too(torch: Any) -> None:
    layer = torch.nn.Linear(3, 2)
    with pytest.raises(TypeError):
        layer((torch.ones(4, 3),))
