"""Every rule of the op table, run on arrays of other libraries than NumPy.

The primitives take their array namespace from their inputs (chainrule.backends), so the
same forward and vjp run on NumPy, on `array_api_strict` (the array API standard and nothing
else: a rule that reaches outside the standard fails here) and on JAX arrays (immutable: a
rule that writes into an array fails here). For each case of engine_cases.CASES this records
the NumPy graph (forward and, recorded, backward), then replays every recorded node's forward
and vjp on the other library's arrays and compares values, shapes and dtypes with NumPy's.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from engine_cases import CASES, OpCase, op_inputs, relative_error
from hypothesis import Phase, find, settings

import chainrule as cr
from chainrule.backends import namespace, to_numpy
from chainrule.graph import Node
from chainrule.primitives import PRIMITIVES
from chainrule.primitives.base import Grads

strict = pytest.importorskip("array_api_strict")
jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = pytest.importorskip("jax.numpy")

BACKENDS = {"array_api_strict": strict, "jax": jnp}


def _nodes(*outputs: Any) -> Iterator[Node]:
    """Every node recorded in the graphs of `outputs`, once each."""
    stack, seen = [o for o in outputs if o is not None], set()
    while stack:
        tensor = stack.pop()
        node = tensor._node
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        stack.extend(node.parents)


def _recorded_nodes(case: OpCase) -> list[Node]:
    """The nodes of one drawn example per variant: the forward graph and, recorded with
    create_graph, the backward's, so the rules backward calls (scatter, ...) are there too."""
    nodes: list[Node] = []
    for variant in case.variants:
        arrays, params = find(
            op_inputs(replace(case, variants=[variant])),
            lambda _: True,
            settings=settings(max_examples=1, database=None, phases=[Phase.generate]),
        )
        inputs = [cr.tensor(array, requires_grad=True) for array in arrays]
        output = case.chainrule(*inputs, **params)
        grads: list[Any] = []
        if output.requires_grad and output.dtype.kind == "f":
            seed = cr.tensor(np.ones(output.shape, dtype=output.dtype), requires_grad=True)
            output.backward(seed, create_graph=True)
            grads = [tensor.grad for tensor in inputs]
        nodes.extend(_nodes(output, *grads))
    return nodes


def _to_backend(xp: Any, value: Any) -> Any:
    """`value` with every ndarray (and NumPy scalar) in it made an array of `xp`."""
    if isinstance(value, (np.ndarray, np.generic)):
        return xp.asarray(value)
    if isinstance(value, tuple):
        return tuple(_to_backend(xp, item) for item in value)
    if isinstance(value, list):
        return [_to_backend(xp, item) for item in value]
    if isinstance(value, dict):
        return {key: _to_backend(xp, item) for key, item in value.items()}
    return value


def _assert_same(op: str, what: str, actual: Any, expected: Any, floor: float = 0.0) -> None:
    """`actual` equals `expected` in shape, dtype and value; `floor` is the inputs' magnitude,
    for a result that cancels to near 0 (its rounding is relative to the terms, not to it)."""
    expected = np.asarray(expected)
    actual = to_numpy(actual) if actual is not None else None
    assert actual is not None, f"{op}: {what} is None on the backend, NumPy gave an array"
    assert actual.shape == expected.shape, f"{op}: {what} shape {actual.shape} != {expected.shape}"
    assert actual.dtype == expected.dtype, f"{op}: {what} dtype {actual.dtype} != {expected.dtype}"
    if expected.dtype.kind in "biu":
        np.testing.assert_array_equal(actual, expected, err_msg=f"{op}: {what}")
        return
    finite = np.isfinite(expected)
    np.testing.assert_array_equal(np.isfinite(actual), finite, err_msg=f"{op}: {what}")
    tolerance = {8: 1e-11, 4: 1e-5, 2: 2e-3}[expected.dtype.itemsize]
    error = relative_error(np.where(finite, actual, 0), np.where(finite, expected, 0), floor=floor)
    assert error <= tolerance, f"{op}: {what} relative error {error:.2e} > {tolerance}"


def _replay(node: Node, xp: Any) -> None:
    """Run `node`'s forward and vjp on NumPy and on `xp`'s arrays; compare."""
    op = node.primitive.name
    arrays = [parent._data for parent in node.parents]
    with cr.no_grad():
        out, saved = node.primitive.forward(*arrays, **node.params)
        theirs, their_saved = node.primitive.forward(
            *_to_backend(xp, arrays), **_to_backend(xp, node.params)
        )
        magnitudes = [np.max(np.abs(a), initial=0.0) for a in arrays if a.dtype.kind == "f"]
        # A sum of 0.03-sized terms that cancels to 3e-18 on NumPy is 0 on JAX: rounding.
        _assert_same(op, "forward", theirs, out, floor=float(max(magnitudes, default=0.0)))
        assert namespace(theirs) is not np or xp is np, f"{op}: forward returned a NumPy array"
        if not any(node.needs):
            return
        out = np.asarray(out)
        seed = np.random.default_rng(0).uniform(-1, 1, out.shape).astype(out.dtype)
        grads = node.primitive.vjp(saved, seed, node.needs)
        their_grads = node.primitive.vjp(their_saved, xp.asarray(seed), node.needs)
    for position, (grad, their_grad) in enumerate(zip(grads, their_grads, strict=True)):
        if grad is None or not node.needs[position]:
            continue
        _assert_same(op, f"gradient of input {position}", their_grad, grad)


def _params() -> Iterator[Any]:
    for backend in BACKENDS:
        for case in CASES:
            yield pytest.param(backend, case, id=f"{backend}-{case.name}")


@pytest.mark.parametrize(("backend", "case"), list(_params()))
def test_each_rule_computes_on_other_array_libraries_as_on_numpy(
    backend: str, case: OpCase
) -> None:
    for node in _recorded_nodes(case):
        _replay(node, BACKENDS[backend])


# --- reductions and linear algebra: their rules where NumPy's take another formula (zeros,
# ties, a wide spread) and einsum's repeated labels, on each backend and under jax.jit.
FAMILY_MODULES = {
    "chainrule.primitives.reduction",
    "chainrule.primitives.reduction_more",
    "chainrule.primitives.linalg",
    "chainrule.primitives.linalg_more",
}
FAMILY_PRIMITIVES = {
    primitive.name for primitive in PRIMITIVES if primitive.__module__ in FAMILY_MODULES
}


def _family_nodes(nodes: list[Node]) -> list[Node]:
    family = [node for node in nodes if node.primitive.name in FAMILY_PRIMITIVES]
    assert family, "the graph records none of the family's primitives"
    return family


def _recorded(function: Any, *arrays: np.ndarray) -> list[Node]:
    """The nodes of `function` on these arrays, forward and recorded backward."""
    inputs = [cr.tensor(array, requires_grad=True) for array in arrays]
    output = function(*inputs)
    output.backward(cr.tensor(np.ones(output.shape), requires_grad=True), create_graph=True)
    return list(_nodes(output, *(tensor.grad for tensor in inputs)))


def _with_zeros(shape: tuple[int, ...], *places: tuple[int, ...]) -> np.ndarray:
    values = np.random.default_rng(1).uniform(-1, 1, shape)
    for place in places:
        values[place] = 0
    return values


# Inputs where NumPy's rules take another formula (zeros, ties, a wide spread) or a library's
# einsum would be needed. prod_single_zero and prod_zeros follow PyTorch's inputs for prod's
# gradient (torch.testing._internal: one zero in a 5x5 matrix; three zeros in a 5x5x5 array,
# so one line holds two); the repeated labels follow TensorFlow's einsum_op_test.py.
EXTREMES: dict[str, tuple[Any, tuple[np.ndarray, ...]]] = {
    "prod_single_zero": (lambda x: cr.prod(x, axis=1), (_with_zeros((5, 5), (0, 1)),)),
    "prod_zeros": (
        lambda x: cr.prod(x, axis=(0, 2)),
        (_with_zeros((5, 5, 5), (0, 1), (2, 3), (4, 3)),),
    ),
    "cumprod_zeros": (lambda x: cr.cumprod(x, axis=0), (_with_zeros((4, 3), (1, 0), (2, 1)),)),
    "norm_of_zeros": (lambda x: cr.norm(x, axis=1), (_with_zeros((2, 3), (0, 0), (0, 1), (0, 2)),)),
    "pnorm_of_zeros": (
        lambda x: cr.norm(x, ord=3, axis=0),
        (_with_zeros((2, 3), (0, 1), (1, 1)),),
    ),
    "logcumsumexp_wide_spread": (
        lambda x: cr.logcumsumexp(x, axis=1),
        (np.array([[-1000.0, 0.0, 1000.0], [3.0, -800.0, 2.0]]),),
    ),
    "max_ties": (lambda x: cr.max(x, axis=1), (np.array([[1.0, 1.0, 0.0], [2.0, 0.0, 2.0]]),)),
    "einsum_ijj_k": (
        lambda x, y: cr.einsum("ijj,k->ik", x, y),
        (_with_zeros((2, 3, 3)), _with_zeros((4,))),
    ),
    "einsum_aba_a": (
        lambda x, y: cr.einsum("aba,a->b", x, y),
        (_with_zeros((3, 4, 3)), _with_zeros((3,))),
    ),
    "einsum_aab_bcc": (
        lambda x, y: cr.einsum("aab,bcc->ac", x, y),
        (_with_zeros((2, 2, 3)), _with_zeros((3, 4, 4))),
    ),
    "diagonal_past_the_matrix": (lambda x: cr.diagonal(x, 5), (_with_zeros((2, 3)),)),
}


@pytest.mark.parametrize("backend", list(BACKENDS))
@pytest.mark.parametrize("name", list(EXTREMES))
def test_reduction_and_linalg_rules_at_zeros_ties_and_repeated_labels_compute_as_on_numpy(
    backend: str, name: str
) -> None:
    function, arrays = EXTREMES[name]
    for node in _family_nodes(_recorded(function, *arrays)):
        _replay(node, BACKENDS[backend])


@pytest.mark.parametrize("name", list(EXTREMES))
def test_reduction_and_linalg_rules_trace_under_jax_jit_with_no_branch_on_values(
    name: str,
) -> None:
    function, arrays = EXTREMES[name]
    for node in _family_nodes(_recorded(function, *arrays)):
        primitive, params, needs = node.primitive, node.params, node.needs

        def forward_and_vjp(inputs: list[Any], seed: Any) -> tuple[Any, Grads]:
            out, saved = primitive.forward(*inputs, **params)  # noqa: B023 (traced at once)
            return out, primitive.vjp(saved, seed, needs)  # noqa: B023

        inputs = [parent._data for parent in node.parents]
        with cr.no_grad():
            out, saved = primitive.forward(*inputs, **params)
            seed = np.random.default_rng(0).uniform(-1, 1, np.shape(out)).astype(out.dtype)
            grads = primitive.vjp(saved, seed, needs)
            traced_out, traced_grads = jax.jit(forward_and_vjp)(
                [jnp.asarray(array) for array in inputs], jnp.asarray(seed)
            )
        _assert_same(primitive.name, "forward under jax.jit", traced_out, out)
        for position, grad in enumerate(grads):
            if needs[position]:
                _assert_same(
                    primitive.name,
                    f"gradient {position} under jax.jit",
                    traced_grads[position],
                    grad,
                )
