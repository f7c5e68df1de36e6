"""A seed (backward's grad, a cotangent, a tangent, hvp's v) that does not hold real numbers
is refused by name, as torch refuses a complex grad for a real output, rather than cast to
the output's dtype: a complex one lost its imaginary part and None became NaN, silently."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr

NOT_REAL = [
    pytest.param(np.array([1.0 + 1.0j, 1.0]), id="complex"),
    pytest.param(np.array([1.0, None], dtype=object), id="None"),
    pytest.param(np.array(["1", "2"]), id="strings"),
]


def _leaf() -> cr.Tensor:
    return cr.Tensor(np.array([1.0, 2.0]), requires_grad=True)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("create_graph", [False, True])
@pytest.mark.parametrize("seed", [*NOT_REAL, pytest.param([1.0, None], id="list-None")])
def test_backward_refuses_a_grad_that_is_not_real_numbers(seed: Any, create_graph: bool) -> None:
    x = _leaf()
    with pytest.raises(TypeError, match=r"backward: grad has dtype .*real numbers"):
        (x * x).backward(seed, create_graph=create_graph)
    assert x.grad is None


def _vjp(seed: Any) -> Any:
    return cr.vjp(lambda x: x * x, np.array([1.0, 2.0]))[1](seed)


def _jvp(seed: Any) -> Any:
    return cr.jvp(lambda x: x * x, (np.array([1.0, 2.0]),), (seed,))


def _linearize(seed: Any) -> Any:
    return cr.linearize(lambda x: x * x, np.array([1.0, 2.0]))[1](seed)


def _hvp(seed: Any) -> Any:
    return cr.hvp(lambda x: (x * x * x).sum(), np.array([1.0, 2.0]), seed)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize(
    ("op", "call"), [("vjp", _vjp), ("jvp", _jvp), ("linearize", _linearize), ("hvp", _hvp)]
)
@pytest.mark.parametrize("seed", NOT_REAL)
def test_transforms_refuse_seeds_that_are_not_real_numbers(
    op: str, call: Callable[[Any], Any], seed: Any
) -> None:
    with pytest.raises(TypeError, match=rf"{op}: .* has dtype .*real numbers"):
        call(seed)


@pytest.mark.parametrize(
    "seed", [np.array([1, 3]), np.array([True, False]), np.array([1.0, 3.0], np.float32)]
)
def test_backward_still_takes_integer_boolean_and_other_float_grads(seed: np.ndarray) -> None:
    x = _leaf()
    (x * x).backward(seed)
    assert x.grad is not None
    expected = 2.0 * np.array([1.0, 2.0]) * seed.astype(np.float64)
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-12)
    assert x.grad.dtype == np.float64


@pytest.mark.parametrize("create_graph", [False, True])
@pytest.mark.parametrize(
    "seed", [np.array([0.5, 3.0], np.float32), np.array([1, 3]), np.array([0.5, 3.0], np.float16)]
)
def test_a_leafs_backward_with_a_tensor_grad_of_another_dtype_keeps_the_leafs_dtype(
    seed: np.ndarray, create_graph: bool
) -> None:
    x = _leaf()
    x.backward(cr.Tensor(seed), create_graph=create_graph)
    assert x.grad is not None
    assert x.grad.dtype == np.float64
    assert x.grad.shape == x.shape
    np.testing.assert_allclose(x.grad.numpy(), seed.astype(np.float64), rtol=1e-12)
