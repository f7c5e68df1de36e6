"""Every op of the op table on 0-d tensors (a single value, shape ()): values, gradients and
gradients of gradients against PyTorch and central differences.

NumPy returns scalars (np.float64) instead of arrays for 0-d results; the engine must turn
them back into 0-d arrays wherever they appear. Two routes are tried: 0-d leaves fed to the
op, and 0-d inputs taken by indexing one-element leaves (x[0]) whose result continues
through exp, so every rule both receives and sends a 0-d gradient.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
import pytest
from engine_cases import (
    CASES,
    NO_ZERO_DIM,
    ZERO_DIM_VARIANTS,
    OpCase,
    numerical_grad,
    op_inputs,
    relative_error,
    zero_dim_cases,
)
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr

ZERO_DIM_CASES = zero_dim_cases()
FLOAT64_CASES = [case for case in ZERO_DIM_CASES if "casts" not in case.tags]
ROUTES = ["leaves", "indexed"]
TOLERANCE = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-4}
# gelu's tanh form computes 1 + tanh(u), which cancels below x = -3: PyTorch and chainrule
# each lose up to ~3e-12 there (seen at x = -4 on drawn inputs) in float64. In float32,
# PyTorch's exact (erf) gelu is the one that loses: at x = -4 it gives -1.2671947e-4 where
# x * erfc(-x / sqrt 2) / 2 is -1.2668497e-4 (chainrule: -1.2668497e-4), 2.7e-4 apart.
CANCELLING = {("gelu", np.dtype(np.float64)): 1e-11, ("gelu", np.dtype(np.float32)): 5e-4}


def _inputs(lib: Any, arrays: list[np.ndarray], route: str) -> tuple[list[Any], list[Any]]:
    """(leaves, op inputs): on the indexed route a 0-d input is leaf[0] of a (1,) leaf."""
    if route == "leaves":
        leaves = [lib(array) for array in arrays]
        return leaves, leaves
    leaves = [lib(array.reshape(1)) if array.ndim == 0 else lib(array) for array in arrays]
    return leaves, [
        leaf[0] if array.ndim == 0 else leaf for leaf, array in zip(leaves, arrays, strict=True)
    ]


def _ours(
    case: OpCase, arrays: list[np.ndarray], params: dict[str, Any], route: str
) -> tuple[list[cr.Tensor], cr.Tensor]:
    leaves, inputs = _inputs(lambda a: cr.tensor(a, requires_grad=True), arrays, route)
    out = case.chainrule(*inputs, **params)
    return leaves, (out.exp() if route == "indexed" else out)


def _theirs(
    torch: ModuleType, case: OpCase, arrays: list[np.ndarray], params: dict[str, Any], route: str
) -> tuple[list[Any], Any]:
    leaves, inputs = _inputs(lambda a: torch.tensor(a, requires_grad=True), arrays, route)
    out = case.torch(torch, *inputs, **params)
    return leaves, (out.exp() if route == "indexed" else out)


def test_every_op_in_the_table_has_a_zero_dim_form_or_refuses_one() -> None:
    names = {case.name for case in CASES}
    assert names == set(ZERO_DIM_VARIANTS) | set(NO_ZERO_DIM)
    assert not set(ZERO_DIM_VARIANTS) & set(NO_ZERO_DIM)


@pytest.mark.parametrize("name", sorted(NO_ZERO_DIM))
def test_op_without_a_zero_dim_form_refuses_zero_dim_inputs_by_name(name: str) -> None:
    with pytest.raises(ValueError, match=rf"^{name}"):
        NO_ZERO_DIM[name](cr.tensor(np.float64(1.5), requires_grad=True))


@pytest.mark.torch
@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("case", ZERO_DIM_CASES, ids=[case.name for case in ZERO_DIM_CASES])
@settings(max_examples=8, deadline=None)
@given(data=st.data())
def test_zero_dim_values_and_gradients_match_torch(
    torch: ModuleType, case: OpCase, dtype: type, route: str, data: st.DataObject
) -> None:
    arrays, params = data.draw(op_inputs(case))
    arrays = [array.astype(dtype) for array in arrays]
    leaves, out = _ours(case, arrays, params, route)
    torch_leaves, reference = _theirs(torch, case, arrays, params, route)
    expected = reference.detach().numpy()
    assert type(out.numpy()) is np.ndarray
    assert out.shape == expected.shape
    assert out.dtype == expected.dtype
    cotangent = np.asarray(
        np.random.default_rng(0).normal(size=expected.shape), dtype=expected.dtype
    )
    out.backward(cotangent)
    reference.backward(torch.from_numpy(cotangent))

    tolerance = max(
        TOLERANCE[np.dtype(dtype)],
        TOLERANCE[out.dtype],
        CANCELLING.get((case.name, np.dtype(dtype)), 0),
    )
    assert relative_error(out.numpy(), expected) <= tolerance
    for leaf, torch_leaf in zip(leaves, torch_leaves, strict=True):
        assert leaf.grad is not None
        assert type(leaf.grad.numpy()) is np.ndarray
        assert leaf.grad.shape == leaf.shape
        assert leaf.grad.dtype == np.dtype(dtype)
        assert (
            relative_error(
                leaf.grad.numpy(), torch_leaf.grad.numpy(), floor=float(np.max(np.abs(cotangent)))
            )
            <= tolerance
        )


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("case", FLOAT64_CASES, ids=[case.name for case in FLOAT64_CASES])
@settings(max_examples=8, deadline=None)
@given(data=st.data())
def test_zero_dim_gradient_matches_central_differences(
    case: OpCase, route: str, data: st.DataObject
) -> None:
    arrays, params = data.draw(op_inputs(case))
    leaves, out = _ours(case, arrays, params, route)
    weights = np.random.default_rng(1).normal(size=out.shape)
    out.backward(weights)

    for position, leaf in enumerate(leaves):

        def weighted_output(point: np.ndarray, position: int = position) -> float:
            values = [point if i == position else array for i, array in enumerate(arrays)]
            with cr.no_grad():
                _, result = _ours(case, values, params, route)
            return float(np.sum(result.numpy() * weights))

        expected = numerical_grad(weighted_output, arrays[position])
        assert leaf.grad is not None
        ours = leaf.grad.numpy().reshape(expected.shape)
        scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
        assert np.max(np.abs(ours - expected), initial=0.0) <= 1e-6 * scale


@pytest.mark.torch
@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("case", FLOAT64_CASES, ids=[case.name for case in FLOAT64_CASES])
@settings(max_examples=8, deadline=None)
@given(data=st.data())
def test_zero_dim_gradient_of_gradient_matches_torch(
    torch: ModuleType, case: OpCase, route: str, data: st.DataObject
) -> None:
    arrays, params = data.draw(op_inputs(case))
    rng = np.random.default_rng(2)
    leaves, out = _ours(case, arrays, params, route)
    weights = np.asarray(rng.normal(size=out.shape))
    directions = [np.asarray(rng.normal(size=leaf.shape)) for leaf in leaves]
    out.backward(weights, create_graph=True)
    grads = [leaf.grad for leaf in leaves]
    for leaf in leaves:
        leaf.grad = None
    directional = cr.tensor(0.0, dtype=np.float64)
    for grad, direction in zip(grads, directions, strict=True):
        assert grad is not None
        directional = directional + (grad * direction).sum()
    if directional.requires_grad:
        directional.backward()

    torch_leaves, reference = _theirs(torch, case, arrays, params, route)
    torch_grads = torch.autograd.grad(
        reference, torch_leaves, torch.from_numpy(weights), create_graph=True, allow_unused=True
    )
    torch_directional = sum(
        (grad * torch.from_numpy(v)).sum()
        for grad, v in zip(torch_grads, directions, strict=True)
        if grad is not None and grad.requires_grad
    )
    expected = [np.zeros(leaf.shape) for leaf in leaves]
    if isinstance(torch_directional, torch.Tensor):
        second = torch.autograd.grad(torch_directional, torch_leaves, allow_unused=True)
        expected = [
            e if s is None else s.numpy(force=True) for e, s in zip(expected, second, strict=True)
        ]
    for leaf, reference_grad in zip(leaves, expected, strict=True):
        ours = np.zeros(leaf.shape) if leaf.grad is None else leaf.grad.numpy()
        assert ours.shape == reference_grad.shape
        assert (
            relative_error(ours, reference_grad) <= 1e-10
            or np.max(np.abs(ours - reference_grad)) <= 1e-13
        ), case.name


def test_indexing_one_element_then_exp_backpropagates() -> None:
    x = cr.tensor(np.array([0.5, 2.0]), requires_grad=True)
    x[0].exp().backward()
    assert x.grad is not None
    np.testing.assert_allclose(x.grad.numpy(), [np.exp(0.5), 0.0], rtol=1e-15)


def test_indexing_one_element_then_multiply_backpropagates() -> None:
    x = cr.tensor(np.array([0.5, 2.0], dtype=np.float32), requires_grad=True)
    (x[0] * 2).backward()
    assert x.grad is not None
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(), np.array([2.0, 0.0], dtype=np.float32))


@pytest.mark.parametrize("op", ["sum", "mean", "max", "min", "logsumexp", "softmax", "log_softmax"])
@pytest.mark.parametrize("axis", [-1, 0])
def test_zero_dim_tensor_accepts_axis_zero_and_minus_one(op: str, axis: int) -> None:
    expected = {"softmax": 1.0, "log_softmax": 0.0}.get(op, 0.75)
    result = getattr(cr.tensor(np.float64(0.75)), op)(axis=axis)
    assert result.shape == ()
    assert result.item() == expected


@pytest.mark.parametrize("axis", [1, -2, (0, 1)])
def test_zero_dim_tensor_refuses_other_axes_by_name(axis: Any) -> None:
    with pytest.raises(
        ValueError,
        match=r"^sum: axis -?\d+ is out of range for a tensor with "
        r"0 dimensions",
    ):
        cr.tensor(np.float64(0.75)).sum(axis=axis)
