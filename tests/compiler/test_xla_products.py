"""compile(backend="xla") emits a narrow weight gradient x^T @ grad_out as (grad_out^T @ x)^T,
the dot XLA's CPU compiler runs faster (benchmarks/results/session-2026-11-30-d/
xla-w1-notes.txt), with the same values as the products' own vjp rules."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import functional as F
from chainrule.compiler import compile
from chainrule.primitives.linalg import Linear, MatMul

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)  # the float64 checks; float32 stays float32
jnp = pytest.importorskip("jax.numpy")
xla_products = pytest.importorskip("chainrule.compiler.xla_products")


def _dot_shapes(hlo: str) -> list[str]:
    """The result shapes of the dots in an optimized HLO module, as 'f32[8,40]'."""
    return re.findall(r"= (\w+\[[\d,]*\])\{[\d,]*\} dot\(", hlo)


@pytest.mark.parametrize(
    ("x_shape", "grad_shape", "transposed"),
    [
        ((50000, 784), (50000, 50), True),  # W1's first layer
        ((50000, 50), (50000, 1), True),  # W1's second layer
        ((128, 256), (128, 10), True),
        ((128, 784), (128, 256), False),  # wide gradient: the dot producing (k, n) is faster
        ((64, 64), (64, 64), False),  # n == k
        ((1, 784), (1, 50), False),  # one row: an outer product, the rule's own
    ],
)
def test_only_a_narrow_gradient_over_several_rows_is_emitted_transposed(
    x_shape: tuple[int, int], grad_shape: tuple[int, int], transposed: bool
) -> None:
    assert xla_products.emits_transposed(x_shape, grad_shape) is transposed


def test_a_narrow_weight_gradient_compiles_to_a_dot_producing_its_transpose() -> None:
    x = jax.ShapeDtypeStruct((300, 40), np.float32)
    grad_out = jax.ShapeDtypeStruct((300, 8), np.float32)
    hlo = jax.jit(xla_products.weight_gradient).lower(x, grad_out).compile().as_text()
    assert _dot_shapes(hlo) == ["f32[8,40]"]


# Ported in our own words from JAX's lax tests (tests/lax_test.py, testDotGeneralContractOnly):
# a dot contracting both operands' first axis equals NumPy's, over shapes on both sides of
# the narrow-gradient rule.
@pytest.mark.parametrize(
    ("rows", "k", "n"), [(300, 40, 8), (300, 40, 1), (17, 9, 30), (1, 12, 5), (64, 64, 64)]
)
def test_weight_gradient_equals_x_transposed_times_grad_out(
    rng: np.random.Generator, rows: int, k: int, n: int
) -> None:
    x = rng.standard_normal((rows, k))
    grad_out = rng.standard_normal((rows, n))
    got = np.asarray(jax.jit(xla_products.weight_gradient)(jnp.asarray(x), jnp.asarray(grad_out)))
    expected = x.T @ grad_out
    assert got.shape == (k, n)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max())


@pytest.mark.parametrize("product", ["linear", "matmul"])
def test_the_xla_program_takes_weight_gradients_from_weight_gradient(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch, product: str
) -> None:
    shapes: list[tuple[tuple[int, ...], tuple[int, ...]]] = []
    original = xla_products.weight_gradient

    def recording(x: Any, grad_out: Any) -> Any:
        shapes.append((tuple(x.shape), tuple(grad_out.shape)))
        return original(x, grad_out)

    monkeypatch.setattr(xla_products, "weight_gradient", recording)
    layer = cr.nn.Linear(20, 4, rng=rng, dtype=np.float32)

    def step(x: np.ndarray) -> cr.Tensor:
        inputs = cr.tensor(x)
        out = layer(inputs) if product == "linear" else inputs @ layer.weight
        loss = out.sum()
        loss.backward()
        return loss

    compile(step, backend="xla")(rng.standard_normal((64, 20)).astype(np.float32))
    assert ((64, 20), (64, 4)) in shapes


def _narrow_network(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = rng.standard_normal((256, 30))
    w1 = rng.standard_normal((30, 8)) * 0.3
    w2 = rng.standard_normal((8, 1)) * 0.3
    return x, w1, w2


def test_w1_shaped_gradients_equal_pytorch_in_float64(rng: np.random.Generator, torch: Any) -> None:
    """The tutorial network's shape (wide input, narrow hidden layer, one output, MSE) in
    small: every weight gradient goes through the transposed form."""
    x, w1, w2 = _narrow_network(rng)
    target = rng.standard_normal((256, 1))
    weights = [cr.nn.Parameter(w1.copy()), cr.nn.Parameter(w2.copy())]

    def step(inputs: np.ndarray, labels: np.ndarray) -> cr.Tensor:
        for weight in weights:
            weight.grad = None
        hidden = cr.relu(cr.tensor(inputs) @ weights[0])
        loss = F.mse_loss(hidden @ weights[1], labels)
        loss.backward()
        return loss

    compile(step, backend="xla")(x, target)
    torch_weights = [torch.tensor(w, requires_grad=True) for w in (w1, w2)]
    hidden = torch.relu(torch.tensor(x) @ torch_weights[0])
    torch.nn.functional.mse_loss(hidden @ torch_weights[1], torch.tensor(target)).backward()
    for weight, expected in zip(weights, torch_weights, strict=True):
        assert weight.grad is not None
        got, want = weight.grad.data, expected.grad.numpy()
        assert got.shape == want.shape
        assert got.dtype == np.float64
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * np.abs(want).max())


def test_on_a_cpu_the_products_take_the_transposed_form(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(jax, "default_backend", lambda: "cpu")
    assert xla_products.vjp_rule(Linear) is not Linear.vjp
    assert xla_products.vjp_rule(MatMul) is not MatMul.vjp


def test_off_the_cpu_the_products_keep_their_own_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    """The form was measured on XLA's CPU backend only; a GPU runs the rules as written."""
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert xla_products.vjp_rule(Linear) is Linear.vjp
    assert xla_products.vjp_rule(MatMul) is MatMul.vjp
