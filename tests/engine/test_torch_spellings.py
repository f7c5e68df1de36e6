"""Calls a PyTorch user writes on a Tensor: where chainrule accepts torch's spelling it must
give torch's answer, and where its NumPy reading differs it must refuse rather than guess.

Each accepted spelling is compared with torch (CPU) in float64, value and gradient.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import chainrule as cr

VALUES = np.random.default_rng(7).standard_normal((3, 4, 5))

# The same call, written once, on a chainrule tensor and on a torch tensor.
SAME_MEANING: dict[str, Callable[[Any], Any]] = {
    "sum(1, True)": lambda x: x.sum(1, True),
    "mean(1, True)": lambda x: x.mean(1, True),
    "sum((0, 2))": lambda x: x.sum((0, 2)),
    "logsumexp(1)": lambda x: x.logsumexp(1),
    "softmax(1)": lambda x: x.softmax(1),
    "log_softmax(0)": lambda x: x.log_softmax(0),
    "amax(1)": lambda x: x.amax(1),
    "amax((0, 1), True)": lambda x: x.amax((0, 1), True),
    "prod(1)": lambda x: x.prod(1),
    "cumsum(1)": lambda x: x.cumsum(1),
    "cumprod(2)": lambda x: x.cumprod(2),
    "logcumsumexp(1)": lambda x: x.logcumsumexp(1),
    "norm()": lambda x: x.norm(),
    "norm(1, 1)": lambda x: x.norm(1, 1),
    "norm(2, 2, True)": lambda x: x.norm(2, 2, True),
    "T of 3-D reverses the axes": lambda x: (
        x.permute(2, 1, 0) if isinstance(x, torch.Tensor) else x.T  # torch warns on x.T
    ),
    "flatten(1)": lambda x: x.flatten(1),
    "flatten(0, 1)": lambda x: x.flatten(0, 1),
    "unsqueeze(1)": lambda x: x.unsqueeze(1),
    "squeeze() of a size-1 axis": lambda x: x[:, :1].squeeze(),
    "reshape(4, -1)": lambda x: x.reshape(4, -1),
    "view(-1, 5)": lambda x: x.view(-1, 5),
    "movedim(0, 2)": lambda x: x.movedim(0, 2),
    "flip(1)": lambda x: x.flip(1),
    "flip((0, 1))": lambda x: x.flip((0, 1)),
    "roll(1, 1)": lambda x: x.roll(1, 1),
    "tile((2, 1))": lambda x: x.tile((2, 1)),
    "repeat_interleave(2, 1)": lambda x: x.repeat_interleave(2, 1),
    "narrow(1, 1, 2)": lambda x: x.narrow(1, 1, 2),
    "clip(-0.5, 0.5)": lambda x: x.clip(-0.5, 0.5),
    "clip with min > max": lambda x: x.clip(0.5, -0.5),
    "round() of halves": lambda x: (x * 4).floor().__truediv__(2).round(),
    "fmod(-1.3)": lambda x: x.fmod(-1.3),
    "remainder(-1.3)": lambda x: x.remainder(-1.3),
    "% -1.3": lambda x: x % -1.3,
    "lerp(2x, 0.3)": lambda x: x.lerp(x * 2, 0.3),
    "diagonal(0, 1, 2)": lambda x: x.diagonal(0, 1, 2),
    "tril(-1)": lambda x: x.tril(-1),
    "triu(1)": lambda x: x.triu(1),
    "topk(2)": lambda x: x.topk(2)[0],
    "topk(2, 1, False)": lambda x: x.topk(2, 1, False)[0],
    "var(axis, ddof=1, keepdims=True) as var(dim, True, True)": lambda x: (
        x.var(1, True, True) if isinstance(x, torch.Tensor) else x.var(1, ddof=1, keepdims=True)
    ),
    "std(ddof=0) as std(unbiased=False)": lambda x: (
        x.std(unbiased=False) if isinstance(x, torch.Tensor) else x.std(ddof=0)
    ),
}


@pytest.mark.parametrize("name", list(SAME_MEANING))
def test_a_torch_spelling_chainrule_accepts_gives_torchs_value_and_gradient(name: str) -> None:
    call = SAME_MEANING[name]
    ours = cr.tensor(VALUES, requires_grad=True)
    theirs = torch.tensor(VALUES, requires_grad=True)
    result, expected = call(ours), call(theirs)
    assert result.shape == tuple(expected.shape)
    assert result.dtype == np.float64
    np.testing.assert_allclose(result.numpy(), expected.detach().numpy(), rtol=1e-12, atol=1e-14)
    weights = np.random.default_rng(1).standard_normal(result.shape)
    (result * cr.tensor(weights)).sum().backward()
    (expected * torch.tensor(weights)).sum().backward()
    assert ours.grad is not None
    assert theirs.grad is not None
    np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-12, atol=1e-14)


SPREAD_CALLS: dict[str, Callable[[Any], Any]] = {
    "x.var(1, True)": lambda x: x.var(1, True),
    "x.std(1, True)": lambda x: x.std(1, True),
    "x.var(0, False)": lambda x: x.var(0, False),
    "x.std(None, 1)": lambda x: x.std(None, 1),
    "cr.var(x, 1, True)": lambda x: cr.var(x, 1, True),
    "cr.std(x, 1, True, 1)": lambda x: cr.std(x, 1, True, 1),
}


@pytest.mark.parametrize("name", list(SPREAD_CALLS))
def test_var_and_std_refuse_a_positional_argument_after_the_axis(name: str) -> None:
    # torch reads x.var(1, True) as unbiased=True (dim 1 reduced away); it used to be read
    # here as keepdims=True with ddof=0: another value and a (3, 1, 5) shape that broadcasts.
    x = cr.tensor(VALUES)
    with pytest.raises(TypeError, match=r"(var|std): got \d positional argument.*unbiased"):
        SPREAD_CALLS[name](x)


def test_var_and_std_by_name_still_match_numpy() -> None:
    x = cr.tensor(VALUES)
    np.testing.assert_allclose(x.var(1, ddof=1).numpy(), VALUES.var(1, ddof=1), rtol=1e-13)
    np.testing.assert_allclose(
        cr.std(x, 1, keepdims=True).numpy(), VALUES.std(1, keepdims=True), rtol=1e-13
    )
    float32 = cr.tensor(VALUES.astype(np.float32)).std(2, keepdims=True, ddof=1)
    assert float32.dtype == np.float32
    assert float32.shape == (3, 4, 1)


MATRIX = np.random.default_rng(3).standard_normal((2, 3))


@pytest.mark.parametrize("axes", [(0, 1), (-2, -1), (0, -1), (-2, 1)])
def test_transpose_of_two_axes_that_numpy_reads_as_no_change_is_refused(
    axes: tuple[int, int],
) -> None:
    # torch's m.transpose(0, 1) swaps; NumPy's (and chainrule's before) returned m unchanged.
    with pytest.raises(ValueError, match=r"transpose.*2-D.*PyTorch.*swaps.*x\.swapaxes"):
        cr.tensor(MATRIX).transpose(*axes)


@pytest.mark.parametrize("axes", [(1, 0), (-1, -2), (1, -2), (-1, 0)])
def test_transpose_of_two_axes_that_swap_matches_torch(axes: tuple[int, int]) -> None:
    ours = cr.tensor(MATRIX, requires_grad=True)
    theirs = torch.tensor(MATRIX, requires_grad=True)
    result, expected = ours.transpose(*axes), theirs.transpose(*axes)
    assert result.shape == tuple(expected.shape)
    np.testing.assert_array_equal(result.numpy(), expected.detach().numpy())
    weights = np.arange(6.0).reshape(3, 2)
    (result * cr.tensor(weights)).sum().backward()
    (expected * torch.tensor(weights)).sum().backward()
    assert theirs.grad is not None
    np.testing.assert_array_equal(ours.grad, theirs.grad.numpy())


def test_the_identity_order_as_one_tuple_is_still_numpys() -> None:
    matrix = cr.tensor(MATRIX)
    for same in (
        matrix.transpose((0, 1)),
        cr.transpose(matrix, (0, 1)),
        np.transpose(matrix, (0, 1)),
        matrix.transpose([-2, -1]),
    ):
        assert same.shape == (2, 3)
        np.testing.assert_array_equal(same.numpy(), MATRIX)
    assert cr.transpose(matrix).shape == (3, 2)


LIST_AXES: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "sum([0, 2])": (lambda x: x.sum([0, 2]), lambda t: t.sum([0, 2])),
    "mean([0, 1], True)": (lambda x: x.mean([0, 1], True), lambda t: t.mean([0, 1], True)),
    "max([0, 1])": (lambda x: x.max([0, 1]), lambda t: t.amax([0, 1])),
    "min([2])": (lambda x: x.min([2]), lambda t: t.amin([2])),
    "var([0, 2], ddof=1)": (lambda x: x.var([0, 2], ddof=1), lambda t: t.var([0, 2])),
    "std([1])": (lambda x: x.std([1]), lambda t: t.std([1], unbiased=False)),
    "logsumexp([0, 1])": (lambda x: x.logsumexp([0, 1]), lambda t: t.logsumexp([0, 1])),
    "prod(range(1))": (lambda x: x.prod(range(1)), lambda t: t.prod(0)),
}


@pytest.mark.parametrize("name", list(LIST_AXES))
def test_a_list_of_axes_reduces_as_torchs(name: str) -> None:
    # A list (torch's x.sum([0, 2])) used to fail inside the primitive with
    # "'list' object cannot be interpreted as an integer".
    ours_call, torch_call = LIST_AXES[name]
    ours = cr.tensor(VALUES, requires_grad=True)
    theirs = torch.tensor(VALUES, requires_grad=True)
    result, expected = ours_call(ours), torch_call(theirs)
    assert result.shape == tuple(expected.shape)
    np.testing.assert_allclose(result.numpy(), expected.detach().numpy(), rtol=1e-12)
    result.sum().backward()
    expected.sum().backward()
    assert theirs.grad is not None
    np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(("op", "other"), [("max", "maximum"), ("min", "minimum")])
def test_max_of_another_tensor_points_to_the_element_wise_op(op: str, other: str) -> None:
    # torch's x.max(y) is the element-wise maximum; here it used to fail deep in NumPy
    # ("The truth value of an array with more than one element is ambiguous").
    x, y = cr.tensor(MATRIX), cr.tensor(-MATRIX)
    with pytest.raises(TypeError, match=rf"{op}: axis must be an integer.*chainrule\.{other}"):
        getattr(x, op)(y)


@pytest.mark.parametrize("axis", [1.0, "1", np.array([0, 1]), [0, 1.5]])
def test_a_reduction_names_a_non_integer_axis(axis: Any) -> None:
    with pytest.raises(TypeError, match=r"sum: axis must be an integer or a sequence"):
        cr.tensor(MATRIX).sum(axis)


@pytest.mark.parametrize("dtype", [np.float32, "float64", torch.float32, np.dtype(np.int64)])
def test_tensor_to_a_dtype_points_to_astype(dtype: Any) -> None:
    # torch's x.to(torch.float32) converts; chainrule's to() moves between devices and used
    # to answer "cannot place arrays on ..." / "unknown device 'float64'".
    with pytest.raises(
        TypeError, match=r"to: .* is a dtype, but Tensor\.to takes a device.*astype"
    ):
        cr.tensor(MATRIX).to(dtype)


def test_python_abs_of_a_tensor_is_its_abs_with_torchs_gradient() -> None:
    # abs(x) works on NumPy arrays and torch tensors; here it was "bad operand type".
    ours = cr.tensor(MATRIX, requires_grad=True)
    theirs = torch.tensor(MATRIX, requires_grad=True)
    result, expected = abs(ours), abs(theirs)
    assert result.dtype == np.float64
    np.testing.assert_array_equal(result.numpy(), expected.detach().numpy())
    (result * cr.tensor(MATRIX)).sum().backward()
    (expected * torch.tensor(MATRIX)).sum().backward()
    assert theirs.grad is not None
    np.testing.assert_array_equal(ours.grad, theirs.grad.numpy())
