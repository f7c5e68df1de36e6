"""Every primitive declares itself in one place: a unique name, its reading for `explain`,
its kernels, its exposure; and every one is covered by the op table the engine tests share."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from engine_cases import CASES, OpCase, op_inputs
from hypothesis import Phase, find, settings

import chainrule as cr
from chainrule import primitives as P
from chainrule.primitives.reading import Rule


def test_every_primitive_has_its_own_name() -> None:
    names = [primitive.name for primitive in P.PRIMITIVES]
    assert sorted(names) == sorted(set(names))


def test_scalar_power_is_named_pow_scalar_and_still_reads_as_a_power() -> None:
    x = cr.tensor(np.array([1.0, 2.0]), requires_grad=True, name="x")
    squared = x**2
    assert "grad_fn=pow_scalar" in repr(squared)
    explanation = cr.explain(squared.sum(), x)
    step = explanation.steps[0]
    assert (step.op, step.formula) == ("pow_scalar", "x**2")
    assert [link.rule for link in explanation.paths[0]][-1] == "2 * x"


def test_sum_to_shape_keeps_its_old_import_paths() -> None:
    from chainrule.primitives import sum_to_shape
    from chainrule.primitives.broadcast import sum_to_shape as from_broadcast
    from chainrule.primitives.call import sum_to_shape as from_call

    assert from_call is from_broadcast is sum_to_shape


def test_the_broadcast_rule_names_the_op_and_both_shapes() -> None:
    from chainrule.primitives.broadcast import broadcast_shapes

    assert broadcast_shapes("add", (3, 1), (4,)) == (3, 4)
    with pytest.raises(ValueError, match=r"^add: shapes \(3,\) and \(4,\) cannot broadcast"):
        broadcast_shapes("add", (3,), (4,))


# ------------------------------------------------------------------ completeness
# A primitive with no float64 finite-difference case, and why.
NO_FINITE_DIFFERENCES: dict[type[P.Primitive], str] = {
    P.Cast: "a cast through float32 rounds away the 1e-6 steps of central differences",
}


def _recorded_primitives(output: Any) -> set[type[P.Primitive]]:
    """Every primitive in the graph that produced `output`."""
    found: set[type[P.Primitive]] = set()
    stack, seen = [output], set()
    while stack:
        tensor = stack.pop()
        node = tensor._node
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        found.add(node.primitive)
        stack.extend(node.parents)
    return found


def _primitives_of(case: OpCase) -> set[type[P.Primitive]]:
    """The primitives a case records, forward and (to second order) backward, over every
    variant of the case (one drawn example each)."""
    found: set[type[P.Primitive]] = set()
    for variant in case.variants:
        # find() with one generated example: a draw per variant, without a @given example
        # that would have to hold the inputs of the whole table at once.
        arrays, params = find(
            op_inputs(replace(case, variants=[variant])),
            lambda _: True,
            settings=settings(max_examples=1, database=None, phases=[Phase.generate]),
        )
        inputs = [cr.tensor(array, requires_grad=True) for array in arrays]
        output = case.chainrule(*inputs, **params)
        found |= _recorded_primitives(output)
        # A seed that requires grad, so every vjp is recorded (the scatter of indexing too).
        seed = cr.tensor(np.ones(output.shape, dtype=output.dtype), requires_grad=True)
        output.backward(seed, create_graph=True)
        for tensor in inputs:
            found |= _recorded_primitives(tensor.grad)
    return found


def test_every_primitive_has_a_pytorch_and_a_finite_difference_case() -> None:
    covered: dict[type[P.Primitive], set[str]] = {}
    for case in CASES:
        for primitive in _primitives_of(case):
            covered.setdefault(primitive, set()).add(case.name)
    without_torch = [p.name for p in P.PRIMITIVES if p not in covered]
    assert without_torch == [], f"no case in engine_cases.CASES records {without_torch}"
    finite = {case.name for case in CASES if "casts" not in case.tags}
    without_finite = [
        p.name for p in P.PRIMITIVES if not covered[p] & finite and p not in NO_FINITE_DIFFERENCES
    ]
    assert without_finite == [], f"no finite-difference case records {without_finite}"


@pytest.mark.parametrize("primitive", P.PRIMITIVES, ids=lambda p: p.name)
def test_every_primitive_declares_its_reading(primitive: type[P.Primitive]) -> None:
    assert isinstance(primitive.reading, Rule), f"{primitive.name} has no reading for explain"
    assert primitive.reading.locals


def test_compiled_replays_take_the_kernels_the_primitives_declare() -> None:
    from chainrule.compiler import kernels

    assert kernels.FORWARD[P.ReLU] is P.ReLU.forward_into
    assert kernels.VJP[P.Linear] is P.Linear.vjp_into
    assert set(kernels.FORWARD) == {p for p in P.PRIMITIVES if p.forward_into is not None}


# ------------------------------------------------------------------ exposure
DECLARED_NUMPY = [(primitive, name) for primitive in P.PRIMITIVES for name in primitive.numpy]


@pytest.mark.parametrize(
    ("primitive", "name"), DECLARED_NUMPY, ids=[name for _, name in DECLARED_NUMPY]
)
def test_numpy_dispatch_follows_each_primitives_declaration(
    primitive: type[P.Primitive], name: str
) -> None:
    x = cr.tensor(np.array([[0.5, 1.5], [2.0, 0.25]]), requires_grad=True)
    operands = (x,) if P.is_unary(primitive) else (x, x)
    result = getattr(np, name)(*operands)
    assert isinstance(result, cr.Tensor)
    assert result._node is not None
    assert result._node.primitive is primitive


UNARY = [primitive for primitive in P.PRIMITIVES if P.is_unary(primitive)]


@pytest.mark.parametrize(
    "primitive", [p for p in UNARY if p.method and p.method[0] != "_"], ids=lambda p: p.name
)
def test_one_input_ops_get_a_method_documented_by_their_formula(
    primitive: type[P.Primitive],
) -> None:
    method = getattr(cr.Tensor, str(primitive.method))
    assert method.__doc__ == primitive.__doc__
    result = method(cr.tensor(np.array([0.5, 2.0]), requires_grad=True))
    assert result._node.primitive is primitive


@pytest.mark.parametrize("primitive", [p for p in UNARY if p.function], ids=lambda p: p.name)
def test_one_input_ops_get_a_function_in_chainrule(primitive: type[P.Primitive]) -> None:
    function = getattr(cr, str(primitive.function))
    assert primitive.function in cr.__all__
    result = function([0.5, 2.0])
    assert isinstance(result, cr.Tensor)
    np.testing.assert_array_equal(result.numpy(), primitive.forward(np.float32([0.5, 2.0]))[0])
