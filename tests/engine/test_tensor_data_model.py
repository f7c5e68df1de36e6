"""What a tensor holds and how it may change: supported dtypes, `.data =` assignment (new
dtype and shape adopted, gradient and optimizer state kept consistent), and in-place changes
through views of a leaf that requires grad."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim


@pytest.mark.parametrize("dtype", [complex, object, str, np.complex64, np.longdouble])
def test_tensor_of_an_unsupported_dtype_is_refused(dtype) -> None:
    with pytest.raises(TypeError, match=r"float16, float32 or float64"):
        cr.tensor([1, 2], dtype=dtype)


@pytest.mark.parametrize(
    "data", [np.array([1 + 2j]), np.array(["a"]), np.array([1.0], dtype=np.longdouble)]
)
def test_tensor_from_data_of_an_unsupported_dtype_is_refused(data) -> None:
    with pytest.raises(TypeError, match=r"float16, float32 or float64"):
        cr.tensor(data)


@pytest.mark.parametrize(
    "data", [np.array([3, 16777217]), [16777217], 2**24 + 1, np.array([2**64 - 1], np.uint64)]
)
def test_tensor_of_integers_float32_would_round_is_refused_by_name(data) -> None:
    # The default float32 of integer data held 16777217 as 16777216 silently; torch.tensor
    # keeps integers int64. dtype= still chooses, and exact integers still become float32.
    with pytest.raises(ValueError, match=r"^tensor: the u?int64 values are not exact in float32"):
        cr.tensor(data)
    kept = cr.tensor(data, dtype=np.asarray(data).dtype)
    np.testing.assert_array_equal(kept.numpy(), np.asarray(data))
    assert cr.tensor(np.array([16777216, -3])).dtype == np.float32


def test_tensor_of_array_api_integers_float32_would_round_is_refused_by_name() -> None:
    strict = pytest.importorskip("array_api_strict")
    with pytest.raises(ValueError, match=r"^tensor: the int64 values are not exact in float32"):
        cr.tensor(strict.asarray([16777217], dtype=strict.int64))
    exact = cr.tensor(strict.asarray([16777216], dtype=strict.int64))
    np.testing.assert_array_equal(np.asarray(exact.numpy()), np.array([16777216.0], np.float32))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_tensor_of_a_float_dtype_can_require_grad(dtype) -> None:
    x = cr.tensor([1, 2], dtype=dtype, requires_grad=True)
    assert x.dtype == dtype


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.bool_])
def test_tensor_of_an_integer_or_bool_dtype_is_kept_as_asked(dtype) -> None:
    x = cr.tensor([1, 0], dtype=dtype)
    assert x.dtype == dtype
    with pytest.raises(TypeError, match="only floating-point tensors can require gradients"):
        x.requires_grad_()


# ------------------------------------------------------------------ .data assignment
def test_assigning_data_of_another_float_dtype_adopts_it() -> None:
    param = nn.Parameter(np.ones(3, dtype=np.float32))
    values = np.array([0.1, 0.2, 0.3])
    param.data = values
    assert param.dtype == np.float64
    np.testing.assert_array_equal(param.numpy(), values)


def test_assigning_data_of_another_shape_adopts_it() -> None:
    param = nn.Parameter(np.ones(3))
    param.data = np.zeros((2, 2))
    assert param.shape == (2, 2)


def test_assigning_python_data_takes_the_tensors_dtype() -> None:
    param = nn.Parameter(np.ones(2))
    param.data = [0.1, 0.2]
    assert param.dtype == np.float64
    np.testing.assert_array_equal(param.numpy(), [0.1, 0.2])


def test_assigning_integer_data_to_a_float_tensor_keeps_its_float_dtype() -> None:
    param = nn.Parameter(np.ones(3, dtype=np.float32))
    param.data = np.arange(3)
    assert param.dtype == np.float32
    np.testing.assert_array_equal(param.numpy(), [0.0, 1.0, 2.0])


def test_assigning_integer_data_not_exact_in_the_float_dtype_is_refused() -> None:
    param = nn.Parameter(np.ones(1, dtype=np.float32))
    with pytest.raises(
        ValueError,
        match=r"data: the int64 values are not exact in float32 "
        r"\(16777217 would become 16777216\)",
    ):
        param.data = np.array([16777217])
    np.testing.assert_array_equal(param.numpy(), [1.0])


def test_assigning_a_python_int_not_exact_in_the_float_dtype_is_refused() -> None:
    param = nn.Parameter(np.ones((), dtype=np.float64))
    with pytest.raises(ValueError, match=r"data: the int64 values are not exact in float64"):
        param.data = 2**53 + 1


def test_assigning_exact_integer_data_to_a_float_tensor_keeps_its_float_dtype() -> None:
    param = nn.Parameter(np.ones(2, dtype=np.float32))
    param.data = np.array([16777216, -3])
    assert param.dtype == np.float32
    np.testing.assert_array_equal(param.numpy(), np.array([16777216.0, -3.0], dtype=np.float32))


def test_assigning_complex_data_is_refused() -> None:
    param = nn.Parameter(np.ones(2))
    with pytest.raises(TypeError, match=r"float16, float32 or float64"):
        param.data = np.array([1j, 2j])


def test_assigning_data_of_another_dtype_converts_the_gradient_to_it() -> None:
    param = nn.Parameter(np.ones(3, dtype=np.float32))
    (param * param).sum().backward()
    param.data = np.ones(3)
    assert param.grad.dtype == np.float64
    np.testing.assert_array_equal(param.grad.numpy(), [2.0, 2.0, 2.0])


def test_assigning_data_of_another_shape_while_a_gradient_is_held_is_refused() -> None:
    param = nn.Parameter(np.ones(3))
    (param * param).sum().backward()
    with pytest.raises(ValueError, match=r"shape \(3,\).*\(4,\).*\.grad = None"):
        param.data = np.ones(4)
    assert param.shape == (3,)


def test_assigning_data_is_seen_by_a_graph_that_saved_the_old_values() -> None:
    param = nn.Parameter(np.ones(3))
    loss = (param * param).sum()
    param.data = np.zeros(3)
    with pytest.raises(RuntimeError, match="modified in place"):
        loss.backward()


def test_plain_sgd_steps_in_the_new_dtype_after_data_changes_it() -> None:
    param = nn.Parameter(np.ones(3, dtype=np.float32))
    optimizer = optim.SGD([param], lr=0.1)
    param.grad = cr.tensor(np.ones(3, dtype=np.float32))
    optimizer.step()
    param.data = np.full(3, 1.0)
    param.grad = cr.tensor(np.full(3, 1 / 3))
    optimizer.step()
    assert param.dtype == np.float64
    np.testing.assert_array_equal(param.numpy(), np.full(3, 1.0 - 0.1 * (1 / 3)))


@pytest.mark.parametrize(
    ("make", "entry"),
    [
        (lambda p: optim.SGD(p, lr=0.1, momentum=0.9), "momentum_buffer"),
        (lambda p: optim.Adam(p, lr=0.1), "exp_avg"),
    ],
)
def test_optimizer_state_follows_a_new_dtype_of_its_parameter(make, entry) -> None:
    param = nn.Parameter(np.ones(3, dtype=np.float32))
    optimizer = make([param])
    param.grad = cr.tensor(np.ones(3, dtype=np.float32))
    optimizer.step()
    param.data = param.numpy().astype(np.float64)
    optimizer.step()
    assert param.dtype == np.float64
    assert optimizer.state[param][entry].dtype == np.float64


def test_optimizer_step_after_data_changes_the_shape_is_refused_by_name() -> None:
    param = nn.Parameter(np.ones(3))
    optimizer = optim.SGD([param], lr=0.1, momentum=0.9)
    param.grad = cr.tensor(np.ones(3))
    optimizer.step()
    param.grad = None
    param.data = np.ones(4)
    param.grad = cr.tensor(np.ones(4))
    with pytest.raises(ValueError, match=r"SGD: .*momentum_buffer.*shape \(3,\).*\(4,\)"):
        optimizer.step()


# ------------------------------------------------------------------ views of a leaf
def test_in_place_change_through_a_view_taken_before_requires_grad_is_refused() -> None:
    base = cr.tensor(np.ones(3))
    view = base[:]
    base.requires_grad = True
    with pytest.raises(RuntimeError, match=r"add_: .*view of a leaf that requires grad"):
        view.add_(5)
    np.testing.assert_array_equal(base.numpy(), np.ones(3))


def test_setitem_through_a_view_of_a_view_of_a_leaf_that_requires_grad_is_refused() -> None:
    base = cr.tensor(np.ones((2, 3)))
    view = base[0].reshape(3, 1)
    base.requires_grad_()
    with pytest.raises(RuntimeError, match=r"setitem: .*view of a leaf that requires grad"):
        view[0] = 7.0


def test_in_place_change_through_a_view_of_a_leaf_is_allowed_under_no_grad() -> None:
    base = cr.tensor(np.ones(3))
    view = base[:]
    base.requires_grad_()
    with cr.no_grad():
        view.add_(1.0)
    np.testing.assert_array_equal(base.numpy(), np.full(3, 2.0))


def test_in_place_change_through_a_view_taken_under_no_grad_is_refused_outside_it() -> None:
    base = cr.tensor(np.ones(3), requires_grad=True)
    with cr.no_grad():
        view = base.reshape(3, 1)
    with pytest.raises(RuntimeError, match=r"mul_: .*view of a leaf that requires grad"):
        view.mul_(2.0)
