"""A compiled step's backward is the eager sweep recorded: the same vjps, in the same order,
with the same sums, so its gradients are bit-identical to eager ones in float64, and ops are
matched by class, never by name."""

from __future__ import annotations

from typing import Any

import numpy as np

import chainrule as cr
from chainrule.compiler import compile
from chainrule.primitives import Primitive


def _eager_and_compiled_grad(
    step: Any, weight: cr.Tensor, x: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    weight.grad = None
    step(cr.tensor(x))
    assert weight.grad is not None
    eager = weight.grad.numpy().copy()
    compiled = compile(step)
    weight.grad = None
    compiled(x)  # the trace
    weight.grad = None
    compiled(x)  # a replay
    assert weight.grad is not None
    return eager, weight.grad.numpy()


def test_gradients_summed_from_many_consumers_match_eager_bit_for_bit() -> None:
    rng = np.random.default_rng(4)
    weight = cr.tensor(rng.standard_normal((4, 4)), requires_grad=True)

    def step(x: cr.Tensor) -> cr.Tensor:
        h = x @ weight
        p1 = h.exp() * 0.01
        p2 = h + h
        p3 = p2 + p1
        p4 = p3 + p2
        p5 = p4 * p4
        loss = (p5 + p4).sum() + p5.sum() + h.sum()
        loss.backward()
        return loss

    x = rng.standard_normal((3, 4)) * 0.3
    eager, compiled = _eager_and_compiled_grad(step, weight, x)
    assert compiled.dtype == np.float64
    np.testing.assert_array_equal(compiled, eager)


class _NamedRelu(Primitive):
    """z = 2 x (named "relu" to show that the compiler does not match ops by name);
    dz/dx = 2."""

    name = "relu"

    @staticmethod
    def forward(x: Any) -> tuple[Any, Any]:
        return x * 2.0, None

    @staticmethod
    def vjp(saved: Any, grad_out: Any, needs: tuple[bool, ...]) -> tuple[Any, ...]:
        return (grad_out * 2.0,)


def test_a_new_primitive_compiles_even_when_its_name_is_an_existing_ops() -> None:
    rng = np.random.default_rng(0)
    weight = cr.tensor(rng.standard_normal((3, 3)), requires_grad=True)

    def step(x: cr.Tensor) -> cr.Tensor:
        doubled = cr.Tensor.apply(_NamedRelu, x @ weight)
        loss = (doubled * doubled).sum()
        loss.backward()
        return loss

    x = rng.standard_normal((2, 3))
    eager_loss = float(step(cr.tensor(x)).item())
    eager, compiled = _eager_and_compiled_grad(step, weight, x)
    np.testing.assert_array_equal(compiled, eager)
    assert float(compile(step)(x).item()) == eager_loss
