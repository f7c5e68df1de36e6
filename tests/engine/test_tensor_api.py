"""The Tensor a PyTorch or NumPy user expects: dtype rules, attributes, conversions, repr,
reflected operators and comparisons that return plain boolean arrays."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr


@pytest.mark.parametrize(
    ("data", "dtype"),
    [
        (1.5, np.float32),
        (3, np.float32),
        ([1.0, 2.0], np.float32),
        ([[1, 2]], np.float32),
        (np.array([1, 2], dtype=np.int64), np.float32),
        (np.array([True, False]), np.float32),
        (np.array([1.0], dtype=np.float64), np.float64),
        (np.array([1.0], dtype=np.float32), np.float32),
        (np.float64(2.0), np.float64),
    ],
)
def test_tensor_dtype_rules(data, dtype) -> None:
    assert cr.tensor(data).dtype == dtype


def test_dtype_argument_overrides() -> None:
    assert cr.tensor([1, 2], dtype=np.float64).dtype == np.float64
    assert cr.tensor(np.ones(2), dtype=np.float32).dtype == np.float32


def test_float_array_of_matching_dtype_is_shared_not_copied() -> None:
    array = np.ones(3)
    assert cr.tensor(array).numpy() is array


def test_attributes() -> None:
    x = cr.tensor(np.ones((2, 3)), requires_grad=True)
    y = x * 2
    assert isinstance(x.data, np.ndarray)
    assert (x.shape, x.ndim, x.dtype) == ((2, 3), 2, np.float64)
    assert x.requires_grad
    assert x.is_leaf
    assert not y.is_leaf
    assert y.requires_grad
    assert x.grad is None


def test_grad_is_a_tensor() -> None:
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    assert isinstance(x.grad, cr.Tensor)
    assert x.grad.shape == x.shape
    assert not x.grad.requires_grad


def test_numpy_item_and_asarray() -> None:
    x = cr.tensor(np.array([[2.5]]))
    assert x.numpy() is x.data
    assert x.item() == 2.5
    assert isinstance(x.item(), float)
    assert np.asarray(x) is x.data
    assert np.asarray(x, dtype=np.float32).dtype == np.float32


def test_detach_shares_values_and_drops_the_graph() -> None:
    x = cr.tensor([1.0], requires_grad=True)
    detached = (x * 2).detach()
    assert not detached.requires_grad
    assert detached.is_leaf


def test_requires_grad_underscore_returns_the_tensor() -> None:
    x = cr.tensor([1.0])
    assert x.requires_grad_() is x
    assert x.requires_grad
    x.requires_grad_(False)
    assert not x.requires_grad


def test_repr_shows_values_dtype_and_grad_fn() -> None:
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    assert repr(x) == "tensor([1., 2.], dtype=float32, requires_grad=True)"
    assert repr(x * 2) == "tensor([2., 4.], dtype=float32, grad_fn=mul)"
    assert repr(cr.tensor(3.0)) == "tensor(3., dtype=float32)"


@pytest.mark.parametrize(
    "compare",
    [
        lambda x: x < 2,
        lambda x: x <= 2,
        lambda x: x > 2,
        lambda x: x >= 2,
        lambda x: x == 2,
        lambda x: x != 2,
        lambda x: x > np.array([0.0, 5.0, 1.0]),
        lambda x: np.greater(x, x),
    ],
)
def test_comparisons_return_plain_boolean_arrays(compare) -> None:
    result = compare(cr.tensor([1.0, 2.0, 3.0], requires_grad=True))
    assert type(result) is np.ndarray
    assert result.dtype == np.bool_
    assert result.shape == (3,)


def test_reflected_operators_with_scalars_and_arrays() -> None:
    x = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    array = np.array([3.0, 5.0])
    for value, expected in [
        (2 + x, [3.0, 4.0]),
        (2 - x, [1.0, 0.0]),
        (2 * x, [2.0, 4.0]),
        (2 / x, [2.0, 1.0]),
        (2**x, [2.0, 4.0]),
        (array - x, [2.0, 3.0]),
        (array @ x, 13.0),
        (-x, [-1.0, -2.0]),
    ]:
        assert isinstance(value, cr.Tensor)
        np.testing.assert_array_equal(value.numpy(), expected)


def test_numpy_functions_dispatch_to_tensors() -> None:
    x = cr.tensor(np.array([[1.0, 2.0], [3.0, 4.0]]), requires_grad=True)
    out = np.sum(np.exp(x) * np.tanh(x), axis=0) + np.mean(np.maximum(x, 2.0))
    assert isinstance(out, cr.Tensor)
    out.sum().backward()
    assert x.grad is not None
    assert x.grad.shape == (2, 2)


def test_numpy_function_without_gradient_is_refused() -> None:
    with pytest.raises(TypeError, match=r"numpy.spacing has no gradient in chainrule"):
        np.spacing(cr.tensor([1.0]))


@pytest.mark.parametrize(
    "name",
    [
        "exp",
        "log",
        "sqrt",
        "abs",
        "tanh",
        "sigmoid",
        "relu",
        "sum",
        "mean",
        "max",
        "min",
        "var",
        "logsumexp",
        "softmax",
        "log_softmax",
    ],
)
def test_function_form_equals_method(name) -> None:
    x = cr.tensor(np.array([[0.5, 1.5], [2.0, 0.25]]))
    np.testing.assert_array_equal(getattr(cr, name)(x).numpy(), getattr(x, name)().numpy())


def test_functions_accept_arrays() -> None:
    out = cr.exp(np.array([0.0, 1.0]))
    assert isinstance(out, cr.Tensor)
    assert out.dtype == np.float64


def test_len_and_iteration() -> None:
    x = cr.tensor(np.arange(6.0).reshape(3, 2))
    assert len(x) == 3
    assert [row.shape for row in x] == [(2,)] * 3


def test_setitem_writes_values_of_a_constant() -> None:
    x = cr.tensor(np.zeros(3))
    x[1] = 5.0
    x[np.array([True, False, True])] = cr.tensor(np.array([1.0, 2.0]))
    np.testing.assert_array_equal(x.numpy(), [1.0, 5.0, 2.0])


def test_astype_converts_and_the_gradient_converts_back() -> None:
    x = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x.astype(np.float32)
    assert y.dtype == np.float32
    (y * y).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])
    assert x.astype(np.float64) is x


def test_array_protocol_copy_argument() -> None:
    x = cr.tensor(np.array([1.0, 2.0]))
    assert np.array(x, copy=True) is not x.data
    assert np.array(x, copy=False) is x.data
    with pytest.raises(ValueError, match="copy"):
        np.array(x, dtype=np.float32, copy=False)


def test_numpy_scalars_take_the_tensors_dtype_as_python_numbers_do() -> None:
    """np.mean and friends return np.float64 scalars; they must not upcast a float32 model."""
    weights = cr.tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    for value in (np.float64(0.5), np.mean(np.arange(4.0)), np.int64(3), 0.5):
        product = weights * value
        assert product.dtype == np.float32
        assert (value * weights).dtype == np.float32
    assert (weights * np.ones(3)).dtype == np.float64
