"""The local derivatives explain prints for a @ b are NumPy expressions: evaluated on the
operands and an upstream gradient they must give the gradient PyTorch gives, of the
operand's shape, for 1-D, 2-D, stacked and broadcast operands; so must the engine's."""

from __future__ import annotations

import re
from types import ModuleType

import numpy as np
import pytest

import chainrule
from chainrule import functional as F
from chainrule.explanation import Explanation
from chainrule.tensor import Tensor

SHAPES = [
    pytest.param((3,), (3, 4), id="1-D @ 2-D"),
    pytest.param((2, 3), (3,), id="2-D @ 1-D"),
    pytest.param((3,), (3,), id="1-D @ 1-D"),
    pytest.param((2, 3), (3, 4), id="2-D @ 2-D"),
    pytest.param((5, 2, 3), (3, 4), id="3-D @ 2-D"),
    pytest.param((2, 3), (5, 3, 4), id="2-D @ 3-D"),
    pytest.param((5, 1, 2, 3), (6, 3, 4), id="broadcast batch 4-D @ 3-D"),
    pytest.param((1, 2, 3), (5, 3, 4), id="broadcast batch 3-D @ 3-D"),
    pytest.param((3,), (5, 3, 4), id="1-D @ 3-D"),
    pytest.param((5, 2, 3), (3,), id="3-D @ 1-D"),
]

_GRADIENT = re.compile(r"(?<![\w.])\.(?![\w.])")
"""A lone `.` in a rule: the upstream gradient."""


def _evaluate(rule: str, values: dict[str, np.ndarray], upstream: np.ndarray) -> np.ndarray:
    expression = _GRADIENT.sub("upstream", rule)
    scope = {"sum": np.sum, "outer": np.outer, "upstream": upstream, **values}
    return np.asarray(eval(expression, {"__builtins__": {}}, scope))


def _link_rule(explanation: Explanation, output: str, operand: str) -> str:
    (link,) = [
        link for link in explanation.links if link.output == output and link.input == operand
    ]
    return link.rule


def _torch_grads(
    torch: ModuleType, values: dict[str, np.ndarray], upstream: np.ndarray, *, bias: bool
) -> dict[str, np.ndarray]:
    leaves = {k: torch.tensor(v, requires_grad=True) for k, v in values.items()}
    product = leaves["a"] @ leaves["b"]
    if bias:
        product = product + leaves["c"]
    (product * torch.tensor(upstream)).sum().backward()
    return {k: t.grad.numpy() for k, t in leaves.items()}


@pytest.mark.parametrize(("a_shape", "b_shape"), SHAPES)
def test_matmul_rules_give_torchs_gradient(
    torch: ModuleType, a_shape: tuple[int, ...], b_shape: tuple[int, ...]
) -> None:
    rng = np.random.default_rng(0)
    values = {"a": rng.normal(size=a_shape), "b": rng.normal(size=b_shape)}
    upstream = rng.normal(size=np.matmul(values["a"], values["b"]).shape)
    a = chainrule.tensor(values["a"], requires_grad=True, name="a")
    b = chainrule.tensor(values["b"], requires_grad=True, name="b")
    z = a @ b
    z.name = "z"
    loss = (z * chainrule.tensor(upstream, name="g")).sum()
    loss.backward()
    expected = _torch_grads(torch, values, upstream, bias=False)
    for name, leaf in (("a", a), ("b", b)):
        assert leaf.grad is not None
        assert leaf.grad.shape == expected[name].shape
        np.testing.assert_allclose(leaf.grad.data, expected[name], rtol=1e-10, atol=1e-12)
        rule = _link_rule(chainrule.explain(loss, leaf), "z", name)
        printed = _evaluate(rule, values, upstream)
        assert printed.shape == expected[name].shape, rule
        np.testing.assert_allclose(printed, expected[name], rtol=1e-10, atol=1e-12, err_msg=rule)


LINEAR_SHAPES = [
    pytest.param((3,), id="1-D input"),
    pytest.param((2, 3), id="2-D input"),
    pytest.param((5, 2, 3), id="3-D input"),
]


@pytest.mark.parametrize("x_shape", LINEAR_SHAPES)
@pytest.mark.parametrize("fused", [True, False], ids=["linear", "matmul then add"])
def test_affine_rules_give_torchs_gradient(
    torch: ModuleType, x_shape: tuple[int, ...], fused: bool
) -> None:
    rng = np.random.default_rng(1)
    values = {"a": rng.normal(size=x_shape), "b": rng.normal(size=(3, 4)), "c": rng.normal(size=4)}
    upstream = rng.normal(size=(*x_shape[:-1], 4))
    leaves = {k: chainrule.tensor(v, requires_grad=True, name=k) for k, v in values.items()}
    if fused:
        z = F.linear(leaves["a"], leaves["b"], leaves["c"])
    else:
        z = leaves["a"] @ leaves["b"] + leaves["c"]
    z.name = "z"
    loss: Tensor = (z * chainrule.tensor(upstream, name="g")).sum()
    expected = _torch_grads(torch, values, upstream, bias=True)
    for name in ("a", "b"):
        rule = _link_rule(chainrule.explain(loss, leaves[name]), "z", name)
        printed = _evaluate(rule, values, upstream)
        assert printed.shape == expected[name].shape, rule
        np.testing.assert_allclose(printed, expected[name], rtol=1e-10, atol=1e-12, err_msg=rule)


def test_rules_read_as_written_for_matrices_and_vectors() -> None:
    """The text a learner reads: an outer product for a vector operand, .mT for stacks."""
    cases = {
        ((3,), (3, 4)): (". @ b.T", "outer(a, .)"),
        ((2, 3), (3,)): ("outer(., b)", "a.T @ ."),
        ((3,), (3,)): (". * b", ". * a"),
        ((5, 2, 3), (3, 4)): (". @ b.T", "sum(a.mT @ ., axis=0)"),
        ((1, 2, 3), (5, 3, 4)): ("sum(. @ b.mT, axis=0, keepdims=True)", "a.mT @ ."),
    }
    for (a_shape, b_shape), rules in cases.items():
        a = chainrule.tensor(np.ones(a_shape), requires_grad=True, name="a")
        b = chainrule.tensor(np.ones(b_shape), requires_grad=True, name="b")
        z = a @ b
        z.name = "z"
        loss = z.sum()
        printed = tuple(_link_rule(chainrule.explain(loss, t), "z", t.name) for t in (a, b))
        assert printed == rules, (a_shape, b_shape)


def test_a_bias_that_broadcasts_the_product_is_not_absorbed(torch: ModuleType) -> None:
    """a @ b + c with c (5, 2, 4) against a product (2, 4): the product's gradient is the
    upstream one summed over axis 0, so the product stays a step of its own, whose rule
    evaluates to torch's gradient."""
    rng = np.random.default_rng(2)
    values = {"a": rng.normal(size=(2, 3)), "b": rng.normal(size=(3, 4))}
    values["c"] = rng.normal(size=(5, 2, 4))
    upstream = rng.normal(size=(5, 2, 4))
    leaves = {k: chainrule.tensor(v, requires_grad=True, name=k) for k, v in values.items()}
    z = leaves["a"] @ leaves["b"] + leaves["c"]
    loss = (z * chainrule.tensor(upstream, name="g")).sum()
    explanation = chainrule.explain(loss, leaves["a"])
    assert [step.formula for step in explanation.steps][:2] == ["a @ b", "u1 + c"]
    links = {(link.output, link.input): link.rule for link in explanation.links}
    assert links[("u2", "u1")] == "1, summed back to (2, 4)"
    summed = upstream.sum(axis=0)
    expected = _torch_grads(torch, values, upstream, bias=True)["a"]
    np.testing.assert_allclose(_evaluate(links[("u1", "a")], values, summed), expected)


@pytest.mark.parametrize(
    ("bias_shape", "rule"),
    [
        ((4,), "sum(., axis=0)"),
        ((1, 4), "sum(., axis=0, keepdims=True)"),
        ((2, 1), "sum(., axis=1, keepdims=True)"),
    ],
)
def test_the_bias_rule_gives_the_bias_its_own_shape(
    torch: ModuleType, bias_shape: tuple[int, ...], rule: str
) -> None:
    rng = np.random.default_rng(3)
    values = {"a": rng.normal(size=(2, 3)), "b": rng.normal(size=(3, 4))}
    values["c"] = rng.normal(size=bias_shape)
    upstream = rng.normal(size=(2, 4))
    leaves = {k: chainrule.tensor(v, requires_grad=True, name=k) for k, v in values.items()}
    z = leaves["a"] @ leaves["b"] + leaves["c"]
    z.name = "z"
    loss = (z * chainrule.tensor(upstream, name="g")).sum()
    printed = _link_rule(chainrule.explain(loss, leaves["c"]), "z", "c")
    assert printed == rule
    expected = _torch_grads(torch, values, upstream, bias=True)["c"]
    evaluated = _evaluate(printed, values, upstream)
    assert evaluated.shape == expected.shape
    np.testing.assert_allclose(evaluated, expected, rtol=1e-12)
