"""The eager backward's slot hand-out: `_slot_outs` checks each flat-buffer slot once in the
sweep (leaf alive, `.grad` None, no gradient yet, dtype, shape, 2-D operands) and enters it
in `claimed`; `store_leaf_grads` then hands a claimed slot out without checking it again.
Each check must still keep a slot from a leaf it does not fit: the gradients are compared
with PyTorch's, and a slot that should not have been written is read back unchanged."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

import chainrule as cr
from chainrule import functional as F
from chainrule import nn
from chainrule.graph import grad_slot
from chainrule.nn.flat import flatten_parameters
from chainrule.tensor import Tensor


def _layer(seed: int = 0) -> tuple[Tensor, Tensor, np.ndarray]:
    """A flat 3 -> 4 affine layer's weight and bias, and a batch of inputs."""
    rng = np.random.default_rng(seed)
    weight = cr.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    bias = cr.tensor(rng.standard_normal(4), requires_grad=True)
    flatten_parameters([weight, bias])
    return weight, bias, rng.standard_normal((5, 3))


def _torch_grads(loss: Callable[..., torch.Tensor], *arrays: np.ndarray) -> list[np.ndarray]:
    leaves = [torch.tensor(a, requires_grad=True) for a in arrays]
    loss(*leaves).backward()
    return [leaf.grad.numpy() for leaf in leaves]  # type: ignore[union-attr]


def _affine_loss(x: np.ndarray) -> Callable[[Tensor, Tensor], Tensor]:
    return lambda weight, bias: (F.linear(cr.tensor(x), weight, bias).relu() ** 2).sum()


def _torch_affine_loss(x: np.ndarray) -> Callable[..., torch.Tensor]:
    return lambda weight, bias: ((torch.tensor(x) @ weight + bias).relu() ** 2).sum()


def _assert_grad(tensor: Tensor, expected: np.ndarray, rtol: float = 1e-12) -> None:
    assert tensor.grad is not None
    assert tensor.grad.shape == expected.shape
    np.testing.assert_allclose(tensor.grad.numpy(), expected, rtol=rtol)


def test_a_plain_step_hands_out_every_slot_the_kernel_wrote() -> None:
    weight, bias, x = _layer()
    _affine_loss(x)(weight, bias).backward()
    expected = _torch_grads(_torch_affine_loss(x), weight.numpy(), bias.numpy())
    for tensor, grad in zip((weight, bias), expected, strict=True):
        _assert_grad(tensor, grad)
        assert tensor.grad is not None
        assert tensor.grad.data is grad_slot(tensor)


def test_a_grad_the_user_set_between_steps_is_added_into_not_replaced_by_the_slot() -> None:
    weight, bias, x = _layer()
    _affine_loss(x)(weight, bias).backward()
    weight.grad = bias.grad = None
    mine = cr.tensor(np.ones((3, 4)))
    weight.grad = mine
    slot_before = grad_slot(weight).copy()  # type: ignore[union-attr]
    x = 2 * x + 1  # another batch: a gradient written into the slot would change it
    _affine_loss(x)(weight, bias).backward()
    expected = _torch_grads(_torch_affine_loss(x), weight.numpy(), bias.numpy())
    assert weight.grad is mine
    _assert_grad(weight, expected[0] + 1.0)
    np.testing.assert_array_equal(grad_slot(weight), slot_before)  # not written
    _assert_grad(bias, expected[1])
    assert bias.grad is not None
    assert bias.grad.data is grad_slot(bias)


def test_a_parameter_given_another_dtype_through_data_gets_a_gradient_in_it() -> None:
    weight, bias, x = _layer()
    weight.data = weight.numpy().astype(np.float32)  # out of the float64 buffer
    slot_before = grad_slot(weight).copy()  # type: ignore[union-attr]
    _affine_loss(x)(weight, bias).backward()
    expected = _torch_grads(_torch_affine_loss(x), weight.numpy().astype(np.float64), bias.numpy())
    assert weight.grad is not None
    assert weight.grad.dtype == np.float32
    _assert_grad(weight, expected[0].astype(np.float32), rtol=1e-6)
    np.testing.assert_array_equal(grad_slot(weight), slot_before)
    _assert_grad(bias, expected[1])


def test_a_parameter_given_another_shape_through_data_gets_a_gradient_in_it() -> None:
    weight, bias, x = _layer()
    rng = np.random.default_rng(3)
    weight.data, bias.data = rng.standard_normal((3, 2)), rng.standard_normal(2)
    _affine_loss(x)(weight, bias).backward()
    expected = _torch_grads(_torch_affine_loss(x), weight.numpy(), bias.numpy())
    _assert_grad(weight, expected[0])
    _assert_grad(bias, expected[1])


def test_a_parameter_reshaped_in_place_is_not_given_its_old_slot() -> None:
    weight, bias, x = _layer()
    weight.data.shape = (3, 4)  # unchanged: still the slot's shape
    head = cr.tensor(np.random.default_rng(4).standard_normal((2, 6)), requires_grad=True)
    flatten_parameters([head])
    head.data.shape = (3, 4)  # the same values, the view's shape changed under the tensor
    loss = (F.linear(cr.tensor(x), head, bias) ** 2).sum()
    loss.backward()
    expected = _torch_grads(
        lambda h, b: ((torch.tensor(x) @ h + b) ** 2).sum(), head.numpy(), bias.numpy()
    )
    _assert_grad(head, expected[0])
    _assert_grad(bias, expected[1])


def test_a_parameter_added_after_flatten_parameters_gets_a_gradient_of_its_own() -> None:
    rng = np.random.default_rng(5)
    model = nn.Sequential(nn.Linear(3, 4, rng=rng), nn.ReLU(), nn.Linear(4, 2, rng=rng)).double()
    model.flatten_parameters()
    model.extra = nn.Parameter(rng.standard_normal((2, 2)))
    x = rng.standard_normal((5, 3))
    (model(cr.tensor(x)) @ model.extra).sum().backward()
    first, second = model[0], model[2]
    arrays = [p.numpy() for p in (first.weight, first.bias, second.weight, second.bias)]

    def reference(
        w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor, b2: torch.Tensor, extra: torch.Tensor
    ) -> torch.Tensor:
        return (((torch.tensor(x) @ w1 + b1).relu() @ w2 + b2) @ extra).sum()

    expected = _torch_grads(reference, *arrays, model.extra.numpy())
    params = [first.weight, first.bias, second.weight, second.bias, model.extra]
    for param, grad in zip(params, expected, strict=True):
        _assert_grad(param, grad)
    assert grad_slot(model.extra) is None


def test_two_losses_add_into_the_slot_the_first_one_filled() -> None:
    weight, bias, x = _layer()
    loss = _affine_loss(x)
    loss(weight, bias).backward()
    first = weight.grad
    loss(weight, bias).backward()
    expected = _torch_grads(_torch_affine_loss(x), weight.numpy(), bias.numpy())
    assert weight.grad is first
    _assert_grad(weight, 2 * expected[0])
    _assert_grad(bias, 2 * expected[1])


def test_a_weight_read_by_a_product_and_another_op_gets_both_gradients() -> None:
    weight, bias, x = _layer()
    hidden = F.linear(cr.tensor(x), weight, bias)
    loss = (hidden**2).sum() + (weight * weight).sum() + (hidden * bias).sum()
    loss.backward()

    def reference(w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        h = torch.tensor(x) @ w + b
        return (h**2).sum() + (w * w).sum() + (h * b).sum()

    expected = _torch_grads(reference, weight.numpy(), bias.numpy())
    _assert_grad(weight, expected[0])
    _assert_grad(bias, expected[1])


def test_a_square_weight_multiplied_by_itself_gets_both_gradients_added() -> None:
    square = cr.tensor(np.random.default_rng(6).standard_normal((4, 4)), requires_grad=True)
    flatten_parameters([square])
    ((square @ square) ** 2).sum().backward()
    expected = _torch_grads(lambda s: ((s @ s) ** 2).sum(), square.numpy())
    _assert_grad(square, expected[0])


def test_a_bias_given_another_dtype_through_data_gets_a_gradient_in_it() -> None:
    """The slot's dtype is the layer's, and so is the gradient the kernel writes: it would
    fit the slot, not the bias, which a claimed slot's gradient is handed to unfitted."""
    weight, bias, x = _layer()
    bias.data = bias.numpy().astype(np.float32)  # out of the float64 buffer
    _affine_loss(x)(weight, bias).backward()
    expected = _torch_grads(_torch_affine_loss(x), weight.numpy(), bias.numpy().astype(np.float64))
    _assert_grad(weight, expected[0])
    assert bias.grad is not None
    assert bias.grad.dtype == np.float32
    _assert_grad(bias, expected[1].astype(np.float32), rtol=1e-6)


def test_a_flat_weight_whose_flag_was_turned_off_after_the_forward_gets_no_gradient() -> None:
    """A leaf's flag is read at backward, as torch's; a claimed slot skips the sweep's own
    reading of it, so `_slot_outs` reads it."""
    weight, bias, x = _layer()
    loss = _affine_loss(x)(weight, bias)
    weight.requires_grad = False
    loss.backward()
    assert weight.grad is None
    expected = _torch_grads(_torch_affine_loss(x), weight.numpy(), bias.numpy())
    _assert_grad(bias, expected[1])


def _held_grad_in_a_graph(weight: Tensor) -> tuple[Tensor, np.ndarray]:
    """A graph that saved `weight.grad` (a penalty on it) and the values it saved; then
    `.grad` dropped, as zero_grad does, the Tensor still held."""
    held = weight.grad
    assert held is not None
    scale = cr.tensor(np.ones(held.shape), requires_grad=True)
    penalty = (scale * held).sum()  # its gradient for `scale` reads `held`
    values = held.numpy().copy()
    weight.grad = None
    return penalty, values


def _refuses(penalty: Tensor) -> None:
    """The penalty's backward refuses: the `.grad` it saved was written under since (as
    torch's version counter refuses it), where running would read the new values."""
    with pytest.raises(RuntimeError, match="modified in place"):
        penalty.backward()


def test_a_backward_refused_after_the_kernel_wrote_a_slot_bumps_the_grad_held_over_it() -> None:
    weight, bias, x = _layer()
    _affine_loss(x)(weight, bias).backward()
    penalty, values = _held_grad_in_a_graph(weight)
    bias.grad = None
    constant = cr.tensor(np.random.default_rng(7).standard_normal((5, 3)))
    factor = cr.tensor(np.ones((5, 3)), requires_grad=True)
    hidden = F.linear(constant * factor, weight, bias)  # the product's kernel runs first
    constant.add_(1.0)  # ... then `*` refuses: its gradient for `factor` reads `constant`
    with pytest.raises(RuntimeError, match=r"input 0 .* of mul was modified in place"):
        (hidden**2).sum().backward()
    assert not np.array_equal(grad_slot(weight), values)  # the kernel wrote the slot
    _refuses(penalty)


def test_a_store_that_fails_before_a_claimed_slot_bumps_the_grad_held_over_it() -> None:
    weight, bias, x = _layer()
    first = cr.tensor(np.ones(4), requires_grad=True)  # reached first, stored first

    def backward(batch: np.ndarray) -> None:
        (F.linear(cr.tensor(batch), weight, bias) * first).sum().backward()

    backward(x)
    penalty, values = _held_grad_in_a_graph(weight)
    bias.grad = None
    read_only = np.zeros(4)
    read_only.flags.writeable = False
    first.grad = Tensor.from_numpy(read_only)  # its store cannot add into it
    with pytest.raises(RuntimeError, match="not writeable"):
        backward(2 * x + 1)
    assert not np.array_equal(grad_slot(weight), values)  # the kernel wrote the slot
    _refuses(penalty)


def test_a_flat_zero_grad_bumps_the_grad_held_over_a_slot_since_set_to_none() -> None:
    from chainrule import optim

    rng = np.random.default_rng(8)
    model = nn.Sequential(nn.Linear(3, 2, rng=rng)).double()
    model.flatten_parameters()
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    model(cr.tensor(rng.standard_normal((4, 3)))).sum().backward()
    penalty, values = _held_grad_in_a_graph(model[0].weight)
    assert values.any()
    optimizer.zero_grad()  # set_to_none: the held `.grad` is the slot's last holder
    optimizer.zero_grad(set_to_none=False)  # one fill of the flat buffer zeroes it
    _refuses(penalty)
