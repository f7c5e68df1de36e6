"""`.grad` after `backward(create_graph=True)`: each leaf gets a tensor of its own (as
torch's AccumulateGrad clones under create_graph), so a later backward that accumulates into
one leaf's `.grad` neither adds into another leaf's nor into the caller's seed."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest

import chainrule as cr

pytestmark = [
    pytest.mark.torch,
    # torch warns that backward(create_graph=True) ties a parameter to its .grad in a cycle
    pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True:UserWarning"),
]


def test_leaves_sharing_a_passed_through_gradient_accumulate_separately(
    torch: ModuleType,
) -> None:
    # add passes its output gradient to both inputs unchanged: one tensor reaches a and b
    a = cr.tensor([1.0, 2.0], dtype=np.float64, requires_grad=True)
    b = cr.tensor([3.0, 4.0], dtype=np.float64, requires_grad=True)
    seed = cr.tensor([1.0, 1.0], dtype=np.float64)
    (a + b).backward(seed, create_graph=True)
    assert a.grad is not None
    assert b.grad is not None
    assert a.grad is not b.grad
    (a * 2 + b * 3).sum().backward()

    ta = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    tb = torch.tensor([3.0, 4.0], dtype=torch.float64, requires_grad=True)
    (ta + tb).backward(torch.ones(2, dtype=torch.float64), create_graph=True)
    (ta * 2 + tb * 3).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), ta.grad.numpy())
    np.testing.assert_array_equal(b.grad.numpy(), tb.grad.numpy())
    np.testing.assert_array_equal(seed.numpy(), [1.0, 1.0])


def test_a_broadcast_gradient_stored_under_create_graph_can_be_accumulated_into() -> None:
    # sum's gradient is a broadcast (read-only) view of the seed; .grad must be its own array
    x = cr.tensor([1.0, 2.0, 3.0], dtype=np.float64, requires_grad=True)
    x.sum().backward(create_graph=True)
    (x * 2).sum().backward()
    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0, 3.0])


def test_a_recorded_grad_stays_differentiable_after_the_copy(torch: ModuleType) -> None:
    x = cr.tensor([0.5, -1.5], dtype=np.float64, requires_grad=True)
    y = cr.tensor([2.0, 0.25], dtype=np.float64, requires_grad=True)
    (x * y).sum().backward(create_graph=True)
    assert x.grad is not None
    assert y.grad is not None
    assert x.grad.requires_grad
    penalty = (x.grad * x.grad).sum() + (y.grad**3).sum()
    x.grad, y.grad = None, None
    penalty.backward()

    tx = torch.tensor([0.5, -1.5], dtype=torch.float64, requires_grad=True)
    ty = torch.tensor([2.0, 0.25], dtype=torch.float64, requires_grad=True)
    (tx * ty).sum().backward(create_graph=True)
    torch_penalty = (tx.grad * tx.grad).sum() + (ty.grad**3).sum()
    tx.grad, ty.grad = None, None
    torch_penalty.backward()
    assert x.grad is not None
    assert y.grad is not None
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(y.grad.numpy(), ty.grad.numpy(), rtol=1e-12)


def test_a_plain_backward_adds_into_a_recorded_zero_dim_grad(torch: ModuleType) -> None:
    x = cr.tensor(2.0, dtype=np.float64, requires_grad=True)
    (x * x).backward(create_graph=True)
    (x * 3.0).backward()
    tx = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    (tx * tx).backward(create_graph=True)
    (tx * 3.0).backward()
    assert x.grad is not None
    assert x.grad.shape == ()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.detach().numpy())
