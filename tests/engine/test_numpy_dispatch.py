"""NumPy functions called on tensors: arguments bind as NumPy's own signature binds them,
positionally or by keyword, and an argument the tensor op cannot honour is refused by name;
turning a tensor that requires grad into a plain array is refused rather than silently
dropping its gradient."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr

DISPATCHED: dict[str, Callable[[Any], Any]] = {
    "sum-positional": lambda x: np.sum(x, 1, None, None, True),
    "sum-keyword": lambda x: np.sum(x, axis=1, keepdims=True),
    "sum-dtype": lambda x: np.sum(x, 0, np.float32),
    "mean-positional": lambda x: np.mean(x, 0, None, None, True),
    "mean-keyword": lambda x: np.mean(x, axis=(0, 1), dtype=np.float32, keepdims=True),
    "max-positional": lambda x: np.max(x, 1, None, True),
    "max-keyword": lambda x: np.max(x, axis=0, keepdims=True),
    "amax-positional": lambda x: np.amax(x, 0, None, True),
    "min-positional": lambda x: np.min(x, 1, None, True),
    "min-keyword": lambda x: np.min(x, axis=1),
    "amin-keyword": lambda x: np.amin(x, axis=0, keepdims=True),
    "var-positional-ddof": lambda x: np.var(x, 0, None, None, 1),
    "var-positional-keepdims": lambda x: np.var(x, 1, None, None, 1, True),
    "var-keyword": lambda x: np.var(x, axis=1, ddof=1, keepdims=True),
    "var-correction": lambda x: np.var(x, axis=0, correction=1),
    "reshape-positional": lambda x: np.reshape(x, (4, 3)),
    "reshape-keyword": lambda x: np.reshape(x, shape=(2, 6)),
    "reshape-int": lambda x: np.reshape(x, -1),
    "reshape-order-c": lambda x: np.reshape(x, (12,), "C"),
    "reshape-to-scalar": lambda x: np.reshape(x[0:1, 0:1], ()),
    "transpose-default": lambda x: np.transpose(x),
    "transpose-positional": lambda x: np.transpose(x, (1, 0)),
    "transpose-keyword": lambda x: np.transpose(x, axes=[1, 0]),
    "swapaxes-positional": lambda x: np.swapaxes(x, 0, 1),
    "swapaxes-keyword": lambda x: np.swapaxes(x, axis1=1, axis2=0),
    "broadcast_to-positional": lambda x: np.broadcast_to(x[0], (2, 4)),
    "broadcast_to-keyword": lambda x: np.broadcast_to(x[0], shape=(2, 4), subok=False),
    "broadcast_to-int": lambda x: np.broadcast_to(x[0, 0], 3),
    "concatenate-positional": lambda x: np.concatenate([x, x], 1),
    "concatenate-keyword": lambda x: np.concatenate([x, x], axis=1),
    "concatenate-flat": lambda x: np.concatenate([x, x[0]], axis=None),
    "stack-positional": lambda x: np.stack([x, x], 1),
    "stack-keyword": lambda x: np.stack([x, x], axis=-1),
    "where": lambda x: np.where(x > 0.5, x, 2 * x),
    "clip-positional": lambda x: np.clip(x, 0.2, 0.6),
    "clip-keyword": lambda x: np.clip(x, a_min=0.2, a_max=0.6),
    "clip-min-max": lambda x: np.clip(x, min=0.2),
    "shape": lambda x: np.shape(x),
    "ndim": lambda x: np.ndim(x),
    "size": lambda x: np.size(x),
    "size-positional": lambda x: np.size(x, 1),
    "size-keyword": lambda x: np.size(x, axis=0),
}


@pytest.mark.parametrize("name", sorted(DISPATCHED))
def test_numpy_function_on_a_tensor_matches_numpy_on_the_array(name: str) -> None:
    values = np.random.default_rng(7).random((3, 4))
    call = DISPATCHED[name]
    expected = call(values)
    result = call(cr.tensor(values, requires_grad=True))
    if isinstance(expected, np.ndarray):
        assert isinstance(result, cr.Tensor)
        assert result.shape == expected.shape
        assert result.dtype == expected.dtype
        np.testing.assert_allclose(result.detach().numpy(), expected, rtol=1e-6)
    else:
        assert result == expected


def test_reductions_record_their_gradient_when_arguments_are_positional() -> None:
    x = cr.tensor(np.array([[1.0, 2.0], [3.0, 5.0]]), requires_grad=True)
    np.var(x, 0, None, None, 1).sum().backward()
    # d/dx of the unbiased variance of each column: 2 (x - mean) / (n - 1)
    np.testing.assert_allclose(x.grad.numpy(), [[-2.0, -3.0], [2.0, 3.0]], rtol=1e-12)


def test_where_with_only_a_condition_gives_plain_indices() -> None:
    x = cr.tensor(np.array([0.0, 2.0, 0.0, 3.0]), requires_grad=True)
    (indices,) = np.where(x > 1.0)
    np.testing.assert_array_equal(indices, [1, 3])


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda x: np.sum(x, out=np.empty(())), "out"),
        (lambda x: np.sum(x, 0, None, np.empty(4)), "out"),
        (lambda x: np.mean(x, where=np.ones((3, 4), dtype=bool)), "where"),
        (lambda x: np.max(x, initial=0.0), "initial"),
        (lambda x: np.min(x, 0, np.empty(4)), "out"),
        (lambda x: np.var(x, mean=np.zeros((1, 4))), "mean"),
        (lambda x: np.reshape(x, (4, 3), order="F"), "order"),
        (lambda x: np.reshape(x, (4, 3), copy=True), "copy"),
        (lambda x: np.broadcast_to(x, (2, 3, 4), subok=True), "subok"),
        (lambda x: np.concatenate([x, x], dtype=np.float32), "dtype"),
        (lambda x: np.concatenate([x, x], 0, np.empty((6, 4))), "out"),
        (lambda x: np.stack([x, x], casting="unsafe"), "casting"),
        (lambda x: np.clip(x, 0.0, 1.0, np.empty((3, 4))), "out"),
        (lambda x: np.clip(x, 0.0, 1.0, order="F"), "order"),
    ],
)
def test_numpy_argument_the_op_cannot_honour_is_refused_by_name(call, argument) -> None:
    x = cr.tensor(np.ones((3, 4)), requires_grad=True)
    with pytest.raises(TypeError, match=rf"numpy\.\w+: {argument}=.* is not supported"):
        call(x)


@pytest.mark.parametrize(
    "convert",
    [
        lambda x, y: np.asarray(x),
        lambda x, y: np.array(x),
        lambda x, y: np.array([x, y]),
        lambda x, y: np.mean([x, y]),
        lambda x, y: np.asarray(x * 2),
    ],
)
def test_a_tensor_that_requires_grad_does_not_turn_into_a_plain_array(convert) -> None:
    x = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = cr.tensor(np.array([3.0, 4.0]), requires_grad=True)
    with pytest.raises(TypeError, match=r"requires grad.*stack.*\.detach\(\)"):
        convert(x, y)


def test_a_detached_tensor_turns_into_a_plain_array() -> None:
    x = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    np.testing.assert_array_equal(np.array([x.detach(), x.detach()]), [[1.0, 2.0], [1.0, 2.0]])
    assert np.asarray(x.detach()) is x.data


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda x: np.add(x, 1.0, out=np.empty(3)), r"numpy\.add: out=.* is not supported"),
        (lambda x: np.exp(x, where=np.ones(3, dtype=bool)), r"numpy\.exp: where=.* is not"),
        (lambda x: np.multiply(x, 2.0, dtype=np.float32), r"numpy\.multiply: dtype=.* is not"),
        (lambda x: np.add.reduce(x), r"numpy\.add\.reduce is not supported"),
    ],
)
def test_numpy_ufunc_argument_the_op_cannot_honour_is_refused_by_name(call, message) -> None:
    with pytest.raises(TypeError, match=message):
        call(cr.tensor(np.ones(3), requires_grad=True))


def test_numpy_nan_to_num_on_a_tensor_matches_numpy_and_records_the_gradient() -> None:
    values = np.array([np.nan, np.inf, -np.inf, 1.5, -2.0])
    x = cr.tensor(values, requires_grad=True)
    out = np.nan_to_num(x, nan=-1.0, posinf=3.0)
    assert isinstance(out, cr.Tensor)
    np.testing.assert_array_equal(out.numpy(), np.nan_to_num(values, nan=-1.0, posinf=3.0))
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 0.0, 1.0, 1.0])


def test_numpy_nan_to_num_in_place_is_refused_by_name() -> None:
    x = cr.tensor(np.array([np.nan, 1.0]), requires_grad=True)
    with pytest.raises(TypeError, match=r"numpy\.nan_to_num: copy=False is not supported"):
        np.nan_to_num(x, copy=False)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda x: np.zeros_like(x), r"numpy\.zeros_like .*use chainrule\.zeros_like,"),
        (lambda x: np.full_like(x, 2.0), r"numpy\.full_like .*use chainrule\.full_like,"),
        (
            lambda x: np.put_along_axis(x, np.array([0]), 1.0, 0),
            r"numpy\.put_along_axis .*chainrule\.put_along_axis, which returns a new tensor",
        ),
        (lambda x: np.median(x), r"numpy\.median .*use a chainrule op, or call it on t\.detach"),
    ],
)
def test_an_undispatched_numpy_function_names_the_chainrule_op_to_write(call, message) -> None:
    with pytest.raises(TypeError, match=message):
        call(cr.tensor(np.ones(3), requires_grad=True))


def test_numpy_astype_on_a_tensor_converts_with_the_gradient() -> None:
    x = cr.tensor(np.array([0.5, -1.25]), requires_grad=True)
    out = np.astype(x, np.float32)
    assert isinstance(out, cr.Tensor)
    assert out.dtype == np.float32
    (out * np.float32(3.0)).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])
    with pytest.raises(TypeError, match=r"numpy\.astype: copy=False is not supported"):
        np.astype(x, np.float32, copy=False)
