"""Indexing gradients against PyTorch in float64: x[index] in every NumPy form (ints,
negative ints, negative-step slices, Ellipsis, None, repeated integer arrays whose gradients
add up, masks, advanced indices apart so NumPy moves their axes first), the gathers and
scatters (take, take_along_axis, gather, scatter_add, scatter, put_along_axis, masked_fill),
and the refusals of x[i] = v where it would corrupt a gradient.

x[index] follows NumPy, which differs from PyTorch where an int and an array are split by a
slice (x[1, :, [3, 3]] is (2, 4) in NumPy, (4, 2) in PyTorch) and has negative steps, which
PyTorch refuses. So the oracle is torch.take at the flat positions NumPy's index selects
(its backward adds repeats), and PyTorch's own indexing too where the two agree.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import chainrule as cr

RNG = np.random.default_rng(7)
X = RNG.standard_normal((3, 4, 5))

INDEXES: dict[str, tuple[Any, ...]] = {
    "int": (1,),
    "negative ints": (-2, -1),
    "slice": (slice(1, None), slice(None, 3)),
    "negative step": (slice(None, None, -1),),
    "negative step, start and stop": (slice(None), slice(3, 0, -2)),
    "ellipsis then int": (Ellipsis, 2),
    "None around an ellipsis": (None, Ellipsis, None, 1),
    "repeated integer array": (np.array([0, 2, 0, 0]),),
    "repeated 2-D integer array": (np.array([[0, 1], [1, 1]]),),
    "negative integer array": (np.array([-1, -3, -1]),),
    "empty integer array": (np.array([], dtype=np.int64),),
    "0-d integer array": (np.array(1),),
    "mask on axis 0": (X[:, 0, 0] > 0,),
    "mask on all axes": (X > 0,),
    "mask on two axes": (X[..., 0] > 0,),
    "mask after a slice": (slice(None), np.array([True, False, True, True])),
    "arrays apart (axes move first)": (np.array([0, 0, 2]), slice(None), np.array([1, 1, 4])),
    "arrays together": (slice(None), np.array([0, 0, 3]), np.array([1, 1, 4])),
    "arrays apart, broadcast": (np.array([[0], [2]]), slice(1, None), np.array([4, 4, 0])),
    "int and array apart": (1, slice(None), np.array([3, 3])),
    "arrays around an int": (np.array([1, 1]), 2, np.array([0, 0])),
    "None before an array": (None, np.array([2, 2]), Ellipsis),
}
TORCH_DIFFERS = {"negative step", "negative step, start and stop", "int and array apart"}


def _torch_index(index: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(torch.as_tensor(p) if isinstance(p, np.ndarray) else p for p in index)


def _check(y: cr.Tensor, x: cr.Tensor, expected: torch.Tensor, leaf: torch.Tensor) -> None:
    weights = RNG.standard_normal(tuple(expected.shape))
    (y * cr.tensor(weights)).sum().backward()
    (expected * torch.from_numpy(weights)).sum().backward()
    assert y.shape == tuple(expected.shape)
    assert y.dtype == np.float64
    # scatter_add adds src into zeros and then x, PyTorch into x: one rounding apart
    np.testing.assert_allclose(y.numpy(), expected.detach().numpy(), rtol=1e-14, atol=1e-15)
    assert x.grad is not None
    assert x.grad.dtype == np.float64
    np.testing.assert_allclose(x.grad.numpy(), leaf.grad.numpy(), rtol=1e-14, atol=0)


@pytest.mark.parametrize("form", list(INDEXES))
def test_getitem_gradient_matches_torch_at_numpys_positions(form: str) -> None:
    index = INDEXES[form]
    positions = np.ascontiguousarray(np.arange(X.size).reshape(X.shape)[index])
    leaf = torch.tensor(X, requires_grad=True)
    x = cr.tensor(X.copy(), requires_grad=True)
    _check(x[index], x, torch.take(leaf, torch.from_numpy(positions)), leaf)


@pytest.mark.parametrize("form", [f for f in INDEXES if f not in TORCH_DIFFERS])
def test_getitem_gradient_matches_torchs_own_indexing(form: str) -> None:
    index = INDEXES[form]
    leaf = torch.tensor(X, requires_grad=True)
    x = cr.tensor(X.copy(), requires_grad=True)
    _check(x[index], x, leaf[_torch_index(index)], leaf)


def test_getitem_of_getitem_adds_both_gradients_into_one_leaf() -> None:
    rows = np.array([2, 2, 0])
    leaf = torch.tensor(X, requires_grad=True)
    x = cr.tensor(X.copy(), requires_grad=True)
    y = x[rows][:, np.array([1, 1])] + x[-1, np.array([3, 3])]
    expected = (
        leaf[torch.from_numpy(rows)][:, torch.tensor([1, 1])] + leaf[-1, torch.tensor([3, 3])]
    )
    _check(y, x, expected, leaf)


REPEATED = np.array([[2, 0, 2, 2], [1, 1, 0, 3], [0, 0, 0, 1]])


def test_gather_and_take_along_axis_add_repeated_gradients_as_torch() -> None:
    data = X[:, :, 0]
    leaf = torch.tensor(data, requires_grad=True)
    x = cr.tensor(data.copy(), requires_grad=True)
    rows = REPEATED % 3
    _check(cr.gather(x, 0, rows), x, torch.gather(leaf, 0, torch.from_numpy(rows)), leaf)
    leaf = torch.tensor(data, requires_grad=True)
    x = cr.tensor(data.copy(), requires_grad=True)
    expected = torch.take_along_dim(leaf, torch.from_numpy(REPEATED), dim=1)
    _check(cr.take_along_axis(x, REPEATED, axis=1), x, expected, leaf)


@pytest.mark.parametrize("axis", [None, 0, 2, -1])
def test_take_adds_repeated_gradients_as_torch(axis: int | None) -> None:
    indices = np.array([[1, 0], [1, 1]]) if axis is not None else np.array([7, 7, 59, 0])
    leaf = torch.tensor(X, requires_grad=True)
    x = cr.tensor(X.copy(), requires_grad=True)
    if axis is None:
        expected = torch.take(leaf, torch.from_numpy(indices))
    else:
        expected = torch.index_select(leaf, axis % 3, torch.from_numpy(indices.reshape(-1)))
        shape = list(leaf.shape)
        shape[axis % 3 : axis % 3 + 1] = indices.shape
        expected = expected.reshape(shape)
    _check(cr.take(x, indices, axis=axis), x, expected, leaf)


def test_scatter_add_gradients_match_torch() -> None:
    # src no larger than index: PyTorch's backward to a larger src has the wrong shape
    base, src = X[:, :, 0], X[:2, :3, 1]
    base_leaf = torch.tensor(base, requires_grad=True)
    src_leaf = torch.tensor(src, requires_grad=True)
    index = REPEATED[:2, :3]
    expected = torch.scatter_add(base_leaf, 1, torch.from_numpy(index), src_leaf)
    b = cr.tensor(base.copy(), requires_grad=True)
    s = cr.tensor(src.copy(), requires_grad=True)
    _check(cr.scatter_add(b, 1, index, s), b, expected, base_leaf)
    assert s.grad is not None
    np.testing.assert_allclose(s.grad.numpy(), src_leaf.grad.numpy(), rtol=1e-14, atol=0)


def test_scatter_and_put_along_axis_give_overwritten_entries_no_gradient() -> None:
    base, src = X[:, :, 0], X[:, :2, 1]
    index = np.array([[3, 0], [1, 2], [0, 3]])  # no position twice
    for name, write in {
        "scatter": lambda b, s: cr.scatter(b, 1, index, s),
        "put_along_axis": lambda b, s: cr.put_along_axis(b, index, s, axis=1),
    }.items():
        base_leaf = torch.tensor(base, requires_grad=True)
        src_leaf = torch.tensor(src, requires_grad=True)
        expected = torch.scatter(base_leaf, 1, torch.from_numpy(index), src_leaf)
        b = cr.tensor(base.copy(), requires_grad=True)
        s = cr.tensor(src.copy(), requires_grad=True)
        _check(write(b, s), b, expected, base_leaf)
        assert s.grad is not None, name
        np.testing.assert_allclose(s.grad.numpy(), src_leaf.grad.numpy(), rtol=1e-14, atol=0)


def test_masked_fill_sends_a_tensor_value_the_sum_over_its_positions() -> None:
    mask = X[0] > 0
    leaf = torch.tensor(X, requires_grad=True)
    value_leaf = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    expected = leaf.masked_fill(torch.from_numpy(mask), value_leaf)
    x = cr.tensor(X.copy(), requires_grad=True)
    value = cr.tensor(np.float64(0.5), requires_grad=True)
    _check(cr.masked_fill(x, mask, value), x, expected, leaf)
    assert value.grad is not None
    np.testing.assert_allclose(value.grad.numpy(), value_leaf.grad.numpy(), rtol=1e-14)


def test_setitem_is_refused_where_it_would_corrupt_a_gradient() -> None:
    leaf = cr.tensor(X.copy(), requires_grad=True)
    with pytest.raises(RuntimeError, match="setitem: in-place change of a tensor that requires"):
        leaf[0] = 1.0
    computed = leaf * 2
    with pytest.raises(RuntimeError, match="setitem: in-place change of a tensor that requires"):
        computed[np.array([0, 0])] = 1.0
    plain = cr.tensor(X.copy())
    with pytest.raises(RuntimeError, match="setitem: the value written into the tensor requires"):
        plain[0] = leaf[1]


def test_setitem_under_no_grad_on_a_saved_tensor_refuses_the_backward() -> None:
    x = cr.tensor(X.copy(), requires_grad=True)
    out = x.exp()  # exp's backward reads its output
    with cr.no_grad():
        out[np.array([0, 0])] = 0.0
    with pytest.raises(RuntimeError, match=r"exp .* was modified in place"):
        out.sum().backward()
    constant = cr.tensor(X.copy())
    product = x * constant[1]  # mul saves the view of row 1
    constant[1, 2] = 7.0
    with pytest.raises(RuntimeError, match="of mul was modified in place"):
        product.sum().backward()
