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

FAMILY_PRIMITIVES = frozenset({"mse_loss", "cross_entropy", "nll_loss"})
FAMILY_CASES = ("mse_loss", "cross_entropy", "nll_loss", "cross_entropy_options")


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
