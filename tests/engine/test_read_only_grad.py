"""A `.grad` whose array is read-only (a broadcast view, or its writeable flag off): backward
cannot add into it, and says so, naming the tensor, its shape and the fix; as torch refuses
an expanded .grad. Inside chainrule.compile the same message comes through."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest

import chainrule as cr


def _broadcast_grad(p: cr.Tensor) -> None:
    p.grad = cr.tensor(np.broadcast_to(np.zeros(1), p.shape))


def _frozen_grad(p: cr.Tensor) -> None:
    p.grad = cr.tensor(np.zeros(p.shape))
    p.grad.data.setflags(write=False)


@pytest.mark.parametrize(
    ("make_read_only", "what"),
    [(_broadcast_grad, "a broadcast view"), (_frozen_grad, "not writeable")],
)
def test_backward_names_the_tensor_whose_grad_is_read_only(make_read_only, what) -> None:  # type: ignore[no-untyped-def]
    p = cr.tensor(np.ones(3), requires_grad=True)
    p.name = "scale"
    make_read_only(p)
    with pytest.raises(
        RuntimeError,
        match=rf"^backward: the .grad of tensor 'scale' \(shape \(3,\)\) holds an array that "
        rf"is {what}.*set .grad = None before backward",
    ):
        (p * 2.0).sum().backward()


def test_the_fix_the_message_names_works() -> None:
    p = cr.tensor(np.ones(3), requires_grad=True)
    _frozen_grad(p)
    assert p.grad is not None
    p.grad = p.grad.clone()
    (p * 2.0).sum().backward()
    np.testing.assert_array_equal(p.grad.numpy(), np.full(3, 2.0))


@pytest.mark.torch
def test_torch_refuses_an_expanded_grad_too(torch: ModuleType) -> None:
    p = torch.ones(3, requires_grad=True)
    p.grad = torch.zeros(1).expand(3)
    with pytest.raises(RuntimeError, match="more than one element of the written-to tensor"):
        (p * 2.0).sum().backward()


def test_compile_reports_a_read_only_grad_as_such() -> None:
    layer = cr.nn.Linear(2, 1, dtype=np.float64)
    x = cr.tensor(np.ones((1, 2)))
    layer(x).sum().backward()
    layer.weight.grad.data.setflags(write=False)  # type: ignore[union-attr]

    def step(x: cr.Tensor) -> cr.Tensor:
        loss = layer(x).sum()
        loss.backward()
        return loss

    with pytest.raises(RuntimeError, match=r"^backward: the .grad of tensor 'weight' \(shape"):
        cr.compile(step)(x)
