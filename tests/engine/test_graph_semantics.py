"""How the recorded graph behaves: reuse, diamonds, accumulation, no_grad, detach, freed
graphs, deep chains, in-place detection and gradient arrays that are never shared."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
import pytest

import chainrule as cr


def _leaf(values, dtype=np.float64):
    return cr.tensor(np.array(values, dtype=dtype), requires_grad=True)


def test_reused_leaf_gets_the_sum_of_its_gradients() -> None:
    x = _leaf([1.0, -2.0, 3.0])
    (x * x).sum().backward()
    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, -4.0, 6.0])


def test_reused_non_leaf_gets_the_sum_of_its_gradients() -> None:
    x = _leaf([1.0, 2.0])
    y = x * 3
    (y * y + y).sum().backward()
    assert x.grad is not None
    np.testing.assert_allclose(x.grad.numpy(), 3 * (2 * 3 * np.array([1.0, 2.0]) + 1), rtol=1e-15)


def test_diamond_sums_both_paths() -> None:
    x = _leaf([0.5, 1.5])
    top = x.exp()
    left, right = top * 2, top.log()
    (left + right).sum().backward()
    assert x.grad is not None
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.exp([0.5, 1.5]) + 1, rtol=1e-14)


def test_second_backward_with_retained_graph_accumulates() -> None:
    x = _leaf([1.0, 2.0])
    loss = (x * x).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 8.0])


def test_setting_grad_to_none_clears_it() -> None:
    x = _leaf([1.0])
    (x * 2).sum().backward()
    x.grad = None
    (x * 5).sum().backward()
    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.numpy(), [5.0])


def test_backward_through_a_freed_graph_raises() -> None:
    x = _leaf([1.0, 2.0])
    loss = (x.exp() * 2).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match=r"already freed.*retain_graph=True"):
        loss.backward()


def test_non_scalar_backward_without_grad_raises() -> None:
    x = _leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"shape \(2,\), not a scalar.*grad="):
        (x * 2).backward()


def test_no_grad_context_records_nothing() -> None:
    x = _leaf([1.0])
    with cr.no_grad():
        y = x * 2
    assert not y.requires_grad
    assert y.is_leaf
    assert cr.is_grad_enabled()


def test_no_grad_decorator_records_nothing_and_restores_the_mode() -> None:
    @cr.no_grad()
    def double(t: cr.Tensor) -> cr.Tensor:
        return t * 2

    y = double(_leaf([1.0]))
    assert not y.requires_grad
    assert cr.is_grad_enabled()


def test_detach_cuts_the_gradient() -> None:
    x = _leaf([2.0])
    (x * x.detach()).sum().backward()
    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.numpy(), [2.0])


def test_chain_of_100000_ops_backpropagates_without_recursion_error() -> None:
    x = _leaf(1.0)
    y = x
    for _ in range(100_000):
        y = y + 1e-5
    y.backward()
    assert x.grad is not None
    assert x.grad.item() == 1.0


def test_intermediate_grads_are_not_stored() -> None:
    x = _leaf([1.0])
    y = x * 2
    (y * 3).sum().backward()
    assert y.grad is None


def test_two_leaves_get_distinct_grad_arrays() -> None:
    a, b = _leaf([1.0, 2.0]), _leaf([3.0, 4.0])
    (a + b).sum().backward()
    assert a.grad is not None
    assert b.grad is not None
    assert not np.shares_memory(a.grad.numpy(), b.grad.numpy())
    a.grad.numpy()[0] = 100.0
    assert b.grad.numpy()[0] == 1.0


def test_user_backward_grad_is_not_aliased_into_grad() -> None:
    a = _leaf([1.0, 2.0])
    seed = np.array([1.0, 1.0])
    (a + 0).backward(seed)
    assert a.grad is not None
    assert not np.shares_memory(a.grad.numpy(), seed)
    (a + 0).backward(seed)
    np.testing.assert_array_equal(seed, [1.0, 1.0])


def test_backward_on_a_leaf_does_not_alias_the_seed() -> None:
    a = _leaf([1.0, 2.0])
    seed = np.array([3.0, 4.0])
    a.backward(seed)
    assert a.grad is not None
    assert not np.shares_memory(a.grad.numpy(), seed)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda t: setattr(t, "data", np.zeros(t.shape)),
        lambda t: setattr(t, "data", t.data + 1),
    ],
    ids=["assign", "assign_sum"],
)
def test_replacing_data_of_a_saved_leaf_raises_in_backward(mutate) -> None:
    x = _leaf([1.0, 2.0])
    loss = (x * x).sum()
    mutate(x)
    with pytest.raises(RuntimeError, match=r"input 0 .* of mul was modified in place"):
        loss.backward()


def test_in_place_add_to_data_of_a_saved_tensor_raises_in_backward() -> None:
    x = _leaf([1.0, 2.0])
    hidden = x * 1.5
    loss = hidden.sin().sum()  # sin's rule reads its input (exp's reads only its output)
    hidden.data += 1
    with pytest.raises(RuntimeError, match=r"of sin was modified in place"):
        loss.backward()


def test_in_place_method_on_a_saved_constant_raises_in_backward() -> None:
    x = _leaf([1.0, 2.0])
    weight = cr.tensor(np.array([3.0, 4.0]))
    loss = (x * weight).sum()
    weight.mul_(2)
    with pytest.raises(RuntimeError, match=r"input 1 .* of mul was modified in place"):
        loss.backward()


@pytest.mark.parametrize("method", ["mul_", "add_", "sub_", "zero_", "fill_", "copy_"])
def test_in_place_method_on_a_tensor_requiring_grad_raises_naming_it(method) -> None:
    x = _leaf([1.0, 2.0])
    hidden = x * 2
    args = {"zero_": (), "fill_": (1.0,)}.get(method, (np.array([1.0, 1.0]),))
    with pytest.raises(RuntimeError, match=rf"^{method}: in-place"):
        getattr(hidden, method)(*args)


def test_setitem_on_a_tensor_requiring_grad_raises() -> None:
    x = _leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"^setitem: in-place"):
        x[0] = 5.0


def test_setitem_with_a_value_requiring_grad_raises() -> None:
    x = _leaf([1.0, 2.0])
    buffer = cr.tensor(np.zeros(3))
    with pytest.raises(RuntimeError, match=r"setitem: .*requires grad.*stack"):
        buffer[0] = x[1]


def test_setitem_on_a_saved_constant_is_caught_in_backward() -> None:
    x = _leaf([1.0, 2.0])
    weight = cr.tensor(np.array([3.0, 4.0]))
    loss = (x * weight).sum()
    weight[0] = 10.0
    with pytest.raises(RuntimeError, match=r"modified in place"):
        loss.backward()


def test_in_place_update_under_no_grad_is_allowed_after_backward() -> None:
    x = _leaf([1.0, 2.0])
    (x * x).sum().backward()
    with cr.no_grad():
        x.sub_(0.1 * x.grad)
    np.testing.assert_allclose(x.numpy(), [0.8, 1.6], rtol=1e-15)


def test_create_graph_makes_leaf_grad_part_of_the_graph() -> None:
    x = _leaf([1.0, 2.0])
    (x**3).sum().backward(create_graph=True)
    assert x.grad is not None
    assert x.grad.requires_grad
    grad = x.grad
    x.grad = None
    grad.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 12.0], rtol=1e-15)


def test_float32_leaf_combined_with_float64_array_gets_a_float32_grad() -> None:
    x = _leaf([1.0, 2.0], dtype=np.float32)
    out = x * np.array([0.5, 0.25])
    assert out.dtype == np.float64
    out.sum().backward()
    assert x.grad is not None
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(), np.array([0.5, 0.25], dtype=np.float32))


def test_python_scalars_keep_float32() -> None:
    x = _leaf([1.0, 2.0], dtype=np.float32)
    assert (x * 0.1 + 1 - 2 / x).dtype == np.float32


def test_zero_dimensional_tensor_backward() -> None:
    x = _leaf(2.0)
    y = (x * x).exp()
    assert y.shape == ()
    y.backward()
    assert x.grad is not None
    assert x.grad.shape == ()
    np.testing.assert_allclose(x.grad.item(), 4 * np.exp(4.0), rtol=1e-15)


def test_mean_over_empty_axis_tuple_is_the_identity() -> None:
    x = _leaf([[1.0, 2.0], [3.0, 4.0]])
    out = x.mean(axis=())
    assert out.shape == (2, 2)
    np.testing.assert_array_equal(out.numpy(), x.numpy())
    (out * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 2), 3.0))


def test_max_ties_share_the_gradient_equally() -> None:
    x = _leaf([1.0, 3.0, 3.0, 2.0])
    x.max().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.5, 0.5, 0.0])


def test_min_ties_share_the_gradient_equally_per_row() -> None:
    x = _leaf([[1.0, 1.0, 1.0], [0.0, 2.0, 5.0]])
    x.min(axis=1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[1 / 3] * 3, [1.0, 0.0, 0.0]], rtol=1e-15)


def test_maximum_tie_splits_the_gradient() -> None:
    x, y = _leaf([1.0, 2.0]), _leaf([1.0, 0.0])
    cr.maximum(x, y).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.5, 1.0])
    np.testing.assert_array_equal(y.grad.numpy(), [0.5, 0.0])


def test_negative_step_slice_gradient() -> None:
    x = _leaf([1.0, 2.0, 3.0, 4.0])
    (x[::-2] * np.array([10.0, 100.0])).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 100.0, 0.0, 10.0])


def test_pow_tensor_exponent_at_zero_base_has_zero_exponent_gradient() -> None:
    base, exponent = _leaf([0.0, 2.0]), _leaf([2.0, 3.0])
    (base**exponent).sum().backward()
    np.testing.assert_allclose(exponent.grad.numpy(), [0.0, 8 * np.log(2.0)], rtol=1e-15)


def _saved_by_a_pending_backward() -> tuple[cr.Tensor, cr.Tensor]:
    """x (no grad) saved by mul for w's gradient, and the pending loss."""
    x = cr.tensor(np.arange(6.0).reshape(2, 3))
    weight = cr.tensor(np.ones((2, 3)), requires_grad=True)
    return x, (x * weight).sum()


@pytest.mark.parametrize(
    "change_through_a_view",
    [
        lambda x: x.detach().mul_(2.0),
        lambda x: x[0:1].zero_(),
        lambda x: x.reshape(6).fill_(1.0),
        lambda x: x.T.add_(1.0),
    ],
    ids=["detach", "slice", "reshape", "transpose"],
)
def test_an_in_place_change_through_a_view_of_a_saved_tensor_is_detected(
    change_through_a_view: Any,
) -> None:
    x, loss = _saved_by_a_pending_backward()
    change_through_a_view(x)
    with pytest.raises(RuntimeError, match="modified in place"):
        loss.backward()


@pytest.mark.parametrize(
    ("shape", "index"),
    [((2, 2), (0, 0)), ((3,), 1), ((2, 2), (-1, np.int64(1)))],
    ids=["2d", "1d", "numpy_int"],
)
def test_an_in_place_change_of_one_indexed_element_writes_through_as_pytorch(
    shape: tuple[int, ...],
    index: Any,
    torch: ModuleType,
) -> None:
    x = cr.tensor(np.zeros(shape))
    x[index].add_(5.0)
    expected = torch.zeros(shape, dtype=torch.float64)
    expected[tuple(int(i) for i in np.atleast_1d(index))].add_(5.0)
    np.testing.assert_array_equal(x.numpy(), expected.numpy())


def test_an_in_place_change_of_one_indexed_element_is_detected_by_backward() -> None:
    x, loss = _saved_by_a_pending_backward()
    x[0, 1].mul_(2.0)
    with pytest.raises(RuntimeError, match="modified in place"):
        loss.backward()


def test_an_in_place_change_of_a_copy_is_not_mistaken_for_a_change_of_the_original() -> None:
    x, loss = _saved_by_a_pending_backward()
    x[np.array([0, 1])].zero_()
    loss.backward()
