"""The activation and loss rules on array_api_strict and JAX arrays, rule by rule.

test_rules_on_array_backends replays whole recorded graphs, which also hold other families'
nodes (mul, exp, scatter_add, ...); this replays only the nodes of the activation and loss
primitives on array_api_strict (the standard and nothing else), so each rule is checked on
its own, and runs them under jax.jit (how a step compiled to XLA calls them: traced, so no
rule may branch on a value or write into an array), plus the cases where the other
libraries' paths differ from NumPy's: extreme inputs and refused targets.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from engine_cases import CASES, OpCase
from test_rules_on_array_backends import BACKENDS, _recorded_nodes, _replay

from chainrule import primitives as P
from chainrule.backends import to_numpy

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")

# Embedding's forward is checked below; its backward is the shape family's scatter_add.
FAMILY_PRIMITIVES = frozenset(
    {
        "mse_loss",
        "cross_entropy",
        "nll_loss",
        "erf",
        "softplus",
        "elu",
        "leaky_relu",
        "hardtanh",
        "hardsigmoid",
        "hardswish",
        "softsign",
    }
)
FAMILY_CASES = (
    "mse_loss",
    "cross_entropy",
    "nll_loss",
    "cross_entropy_options",
    "erf",
    "gelu",
    "softplus",
    "logsigmoid",
    "mish",
    "elu",
    "celu",
    "selu",
    "leaky_relu",
    "hardtanh",
    "hardsigmoid",
    "hardswish",
    "softsign",
)
# Each activation primitive with its parameters, for the jax.jit check.
ACTIVATIONS: tuple[tuple[type[P.Primitive], dict[str, Any]], ...] = (
    (P.Erf, {}),
    (P.Softplus, {"beta": 1.0, "threshold": 20.0}),
    (P.Elu, {"alpha": 1.5, "scale": 1.0, "input_scale": 1 / 1.5}),
    (P.LeakyReLU, {"negative_slope": 0.01}),
    (P.Hardtanh, {"min_val": -1.0, "max_val": 2.0}),
    (P.Hardsigmoid, {}),
    (P.Hardswish, {}),
    (P.Softsign, {}),
)


def _case(name: str) -> OpCase:
    return next(case for case in CASES if case.name == name)


@pytest.mark.parametrize("name", FAMILY_CASES)
def test_each_activation_and_loss_rule_computes_on_the_standard_as_on_numpy(name: str) -> None:
    nodes = [n for n in _recorded_nodes(_case(name)) if n.primitive.name in FAMILY_PRIMITIVES]
    assert nodes, f"{name}: no node of the activation and loss primitives was recorded"
    for node in nodes:
        _replay(node, BACKENDS["array_api_strict"])


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_cross_entropy_rule_refuses_targets_outside_the_classes_on_other_libraries(
    backend: str,
) -> None:
    xp = BACKENDS[backend]
    logits = xp.asarray(np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"target 4 is outside the 4 classes \[0, 3\]"):
        P.SoftmaxCrossEntropy.forward(logits, targets=xp.asarray(np.array([0, 4, 1])))


def test_nll_loss_rule_gives_nan_on_jax_when_the_mean_counts_no_target() -> None:
    # PyTorch's nll_loss: the weighted mean over no counted target is 0 / 0.
    log_probs = jnp.asarray(np.log(np.full((2, 3), 1 / 3)))
    params: dict[str, Any] = {
        "targets": jnp.asarray(np.array([1, 1])),
        "weight": None,
        "ignore_index": 1,
        "reduction": "mean",
        "label_smoothing": 0.0,
    }
    loss, saved = P.NLLLoss.forward(log_probs, **params)
    (grad,) = P.NLLLoss.vjp(saved, jnp.asarray(1.0), (True,))
    assert math.isnan(float(loss))
    np.testing.assert_array_equal(to_numpy(grad), np.zeros((2, 3)))


def _jitted_loss_and_grad(primitive: type[P.Primitive], **params: Any) -> Any:
    def loss_and_grad(logits: Any, targets: Any) -> Any:
        loss, saved = primitive.forward(logits, targets=targets, **params)
        return loss, primitive.vjp(saved, jnp.ones_like(loss), (True,))[0]

    return jax.jit(loss_and_grad)


@pytest.mark.parametrize(
    ("primitive", "params"),
    [
        (P.SoftmaxCrossEntropy, {}),
        (
            P.NLLLoss,
            {"weight": None, "ignore_index": 2, "reduction": "mean", "label_smoothing": 0.1},
        ),
    ],
    ids=["cross_entropy", "nll_loss"],
)
def test_loss_rules_trace_under_jax_jit_and_match_numpy(
    primitive: type[P.Primitive], params: dict[str, Any]
) -> None:
    # No branch on a value: compiling a step to XLA traces the rules with abstract arrays.
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((5, 4))
    targets = np.array([0, 3, 2, 1, 3])
    loss, saved = primitive.forward(logits, targets=targets, **params)
    (grad,) = primitive.vjp(saved, np.ones_like(loss), (True,))
    jitted = _jitted_loss_and_grad(primitive, **params)
    their_loss, their_grad = jitted(jnp.asarray(logits), jnp.asarray(targets))
    np.testing.assert_allclose(to_numpy(their_loss), loss, rtol=1e-12)
    np.testing.assert_allclose(to_numpy(their_grad), grad, rtol=1e-12, atol=1e-15)
    assert their_grad.shape == grad.shape


def test_embedding_forward_gathers_rows_on_the_standard_as_on_numpy() -> None:
    strict = BACKENDS["array_api_strict"]
    weight = np.arange(10.0).reshape(5, 2)
    indices = np.array([[4, 0, 4], [1, 1, 2]])
    rows, (_, _, keep) = P.Embedding.forward(
        strict.asarray(weight), indices=strict.asarray(indices), padding_idx=1
    )
    assert rows.shape == (2, 3, 2)
    np.testing.assert_array_equal(to_numpy(rows), weight[indices])
    np.testing.assert_array_equal(to_numpy(keep), [[1.0], [0.0], [1.0], [1.0], [1.0]])


@pytest.mark.parametrize("outside", [-1, 4])
def test_cross_entropy_rule_under_jax_jit_gives_nan_for_a_target_outside_the_classes(
    outside: int,
) -> None:
    # Traced, the targets' values are unknown until the step runs, so nothing can raise:
    # the loss must not wrap -1 around to the last class.
    jitted = _jitted_loss_and_grad(P.SoftmaxCrossEntropy)
    loss, _ = jitted(jnp.zeros((3, 4)), jnp.asarray(np.array([0, outside, 1])))
    assert math.isnan(float(loss))


@pytest.mark.parametrize(
    ("primitive", "params"), ACTIVATIONS, ids=[primitive.name for primitive, _ in ACTIVATIONS]
)
def test_activation_rules_trace_under_jax_jit_and_match_numpy(
    primitive: type[P.Primitive], params: dict[str, Any]
) -> None:
    # -4 to 4 by halves: the kinks (-3, -1, 0, 2, 3) take NumPy's conventions under XLA too.
    x = np.linspace(-4.0, 4.0, 17)
    seed = np.linspace(1.0, 2.0, 17)
    out, saved = primitive.forward(x, **params)
    (grad,) = primitive.vjp(saved, seed, (True,))

    def out_and_grad(values: Any, grad_out: Any) -> Any:
        their_out, their_saved = primitive.forward(values, **params)
        return their_out, primitive.vjp(their_saved, grad_out, (True,))[0]

    their_out, their_grad = jax.jit(out_and_grad)(jnp.asarray(x), jnp.asarray(seed))
    # XLA may multiply by 1/3 where NumPy divides by 3: a zero can come back as 1e-17.
    np.testing.assert_allclose(to_numpy(their_out), out, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(to_numpy(their_grad), grad, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_erf_on_other_libraries_at_extremal_values(backend: str) -> None:
    # Ported from PyTorch's OpInfo for erf (its reference inputs add the extremal values
    # -inf, inf, nan and huge and tiny magnitudes to every unary op's samples).
    xp = BACKENDS[backend]
    values = [-np.inf, np.inf, np.nan, -0.0, 0.0, 1e-300, -1e150, 2.5, -2.4999999, 6.0, -27.0]
    out, saved = P.Erf.forward(xp.asarray(np.array(values)))
    (grad,) = P.Erf.vjp(saved, xp.asarray(np.ones(len(values))), (True,))
    expected = np.array([math.erf(value) for value in values])
    np.testing.assert_allclose(to_numpy(out), expected, rtol=4e-15, atol=0)
    np.testing.assert_array_equal(np.signbit(to_numpy(out)), np.signbit(expected))
    slope = np.array([2 / math.sqrt(math.pi) * math.exp(-(value * value)) for value in values])
    # XLA on CPU flushes subnormals (the slope at -27 is 3e-317) to zero.
    np.testing.assert_allclose(to_numpy(grad), slope, rtol=4e-15, atol=1e-307)


def test_erf_on_jax_without_float64_computes_in_float32_without_a_warning() -> None:
    x = np.linspace(-4.0, 4.0, 33, dtype=np.float32)
    with jax.enable_x64(False):
        out, _ = P.Erf.forward(jnp.asarray(x))
        values = to_numpy(out)
    expected = np.array([math.erf(value) for value in x.astype(np.float64)])
    assert values.dtype == np.float32
    np.testing.assert_allclose(values, expected, rtol=1e-6, atol=1e-7)


@pytest.mark.torch
@pytest.mark.parametrize("backend", list(BACKENDS))
@pytest.mark.parametrize(
    ("beta", "low", "high"),
    [(1.0, -2.0, 2.0), (3.0, -2.0, 2.0), (1 / 3, -2.0, 2.0), (1.0, -400.0, -300.0)],
)
def test_softplus_on_other_libraries_matches_torch(
    torch: Any, backend: str, beta: float, low: float, high: float
) -> None:
    # Ported from tinygrad's test_ops.py test_softplus: betas 1, 3 and 1/3 on (45, 65)
    # inputs, and inputs in [-400, -300], where exp(beta x) underflows.
    xp = BACKENDS[backend]
    x = np.random.default_rng(3).uniform(low, high, (45, 65))
    out, saved = P.Softplus.forward(xp.asarray(x), beta=beta, threshold=20.0)
    (grad,) = P.Softplus.vjp(saved, xp.asarray(np.ones_like(x)), (True,))
    reference = torch.tensor(x, requires_grad=True)
    torch.nn.functional.softplus(reference, beta=beta, threshold=20.0).sum().backward()
    expected = torch.nn.functional.softplus(reference.detach(), beta=beta, threshold=20.0)
    np.testing.assert_allclose(to_numpy(out), expected.numpy(), rtol=1e-13, atol=0)
    np.testing.assert_allclose(to_numpy(grad), reference.grad.numpy(), rtol=1e-13, atol=0)
