"""Composition cases ported from PyTorch's test/test_autograd.py, in our own words, each
checked against PyTorch where it gives a value: gradient accumulation across two backwards,
in-place changes through views of views, detached aliases of saved outputs, unused inputs."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest

import chainrule as cr


def test_second_backward_accumulates_into_the_same_grad_array_without_create_graph() -> None:
    # test_autograd.py::test_accumulate_grad, create_graph=False: in place
    x = cr.tensor(np.random.default_rng(0).standard_normal((5, 5)), requires_grad=True)
    y = x + 2
    y.backward(np.ones((5, 5)), retain_graph=True)
    first = x.grad
    assert first is not None
    before = first.numpy().copy()
    y.backward(np.ones((5, 5)))
    assert x.grad is first
    np.testing.assert_array_equal(first.numpy(), 2 * before)


def test_second_backward_with_create_graph_accumulates_out_of_place() -> None:
    # test_autograd.py::test_accumulate_grad, create_graph=True: the first .grad is kept
    x = cr.tensor(np.random.default_rng(0).standard_normal((5, 5)), requires_grad=True)
    y = x + 2
    y.backward(np.ones((5, 5)), retain_graph=True)
    first = x.grad
    assert first is not None
    before = first.numpy().copy()
    y.backward(np.ones((5, 5)), create_graph=True)
    assert x.grad is not first
    np.testing.assert_array_equal(first.numpy(), before)
    np.testing.assert_array_equal(x.grad.numpy(), 2 * before)


def test_in_place_change_through_a_view_of_a_view_of_a_saved_constant_raises(
    torch: ModuleType,
) -> None:
    # test_autograd.py::test_inplace_on_view_of_view, on a constant (chainrule refuses in-place
    # changes of tensors that require grad): the base's version moves, backward refuses
    base = np.arange(6.0).reshape(2, 3)
    w = cr.tensor(np.ones((2, 3)), requires_grad=True)
    c = cr.tensor(base.copy())
    loss = (w * c).sum()
    c[0][1:].mul_(2.0)
    with pytest.raises(RuntimeError, match=r"mul was modified in place"):
        loss.backward()
    tw = torch.ones(2, 3, dtype=torch.float64, requires_grad=True)
    tc = torch.tensor(base.copy())
    torch_loss = (tw * tc).sum()
    tc[0][1:].mul_(2.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        torch_loss.backward()
    np.testing.assert_array_equal(c.numpy(), tc.numpy())


def test_in_place_change_of_a_detached_saved_output_raises(torch: ModuleType) -> None:
    # test_autograd.py::test_detach (the detached tensor shares storage and version counter)
    w = cr.tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
    y = w.exp()
    y.detach().mul_(2.0)
    with pytest.raises(RuntimeError, match=r"output of exp .* modified in place"):
        y.sum().backward()
    tw = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64, requires_grad=True)
    ty = tw.exp()
    ty.detach().mul_(2.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        ty.sum().backward()


def test_grad_of_an_unused_argument_is_zeros_of_its_shape(torch: ModuleType) -> None:
    # test_autograd.py::test_grad_unreachable, through the functional API (torch.func.grad
    # gives zeros where torch.autograd.grad with allow_unused gives None)
    grads = cr.grad(lambda a, b: (a * a).sum(), argnums=(0, 1))(np.ones(2), np.ones(3))
    expected = torch.func.grad(lambda a, b: (a * a).sum(), argnums=(0, 1))(
        torch.ones(2, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    )
    for got, want in zip(grads, expected, strict=True):
        assert got.shape == tuple(want.shape)
        np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_two_losses_sharing_a_freed_subgraph_refuse_the_second_backward(
    torch: ModuleType,
) -> None:
    # test_autograd.py::test_backward_twice_without_saved_values' sibling: the second loss
    # would reach nodes the first backward freed; it raises rather than lose their share
    x = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    shared = (x * x).exp()
    first, second = (shared * 3).sum(), (shared * 5).sum()
    first.backward()
    with pytest.raises(RuntimeError, match="already freed"):
        second.backward()
    tx = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    tshared = (tx * tx).exp()
    tfirst, tsecond = (tshared * 3).sum(), (tshared * 5).sum()
    tfirst.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        tsecond.backward()


def test_two_losses_sharing_a_retained_subgraph_sum_their_gradients(torch: ModuleType) -> None:
    # the same with retain_graph=True: .grad holds both losses' gradients
    x = cr.tensor(np.array([1.0, -0.5]), requires_grad=True)
    shared = (x * x).exp()
    (shared * 3).sum().backward(retain_graph=True)
    (shared.sin() * 5).sum().backward()
    tx = torch.tensor([1.0, -0.5], dtype=torch.float64, requires_grad=True)
    tshared = (tx * tx).exp()
    (tshared * 3).sum().backward(retain_graph=True)
    (tshared.sin() * 5).sum().backward()
    assert x.grad is not None
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-14)
