"""The reductions, scans and sorting of issue 14 where the op table cannot reach: products
and running products through zeros (first and second order against PyTorch), ties in sort
and topk and where their gradients land, the 2-norm at the origin, the integer and boolean
results of argmax, argsort, any and all, stability of logcumsumexp, NumPy's names, and the
errors. The op table (engine_cases, block "reductions (issue 14)") covers the rest."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from engine_cases import relative_error

import chainrule as cr
from chainrule.compiler import CompileError, compile

pytestmark = pytest.mark.torch


def _first_and_second_order(
    torch: ModuleType,
    ours: Callable[[Any], Any],
    theirs: Callable[[Any], Any],
    values: np.ndarray,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(ours, PyTorch's) for the value, the gradient <w, d out/dx> and the Hessian-vector
    product d/dx <grad, v>, for fixed random w and v, in float64."""
    rng = np.random.default_rng(3)
    x = cr.tensor(values, requires_grad=True)
    out = ours(x)
    weights = rng.normal(size=out.shape)
    direction = rng.normal(size=values.shape)
    out.backward(weights, create_graph=True)
    first = x.grad
    assert first is not None
    x.grad = None
    if first.requires_grad:  # else the gradient does not depend on x (a linear op)
        (first * direction).sum().backward()
    second = np.zeros_like(values) if x.grad is None else x.grad.numpy()

    t = torch.tensor(values, requires_grad=True)
    reference = theirs(t)
    (t_first,) = torch.autograd.grad(reference, t, torch.from_numpy(weights), create_graph=True)
    t_second = torch.zeros_like(t)
    if t_first.requires_grad:
        directional = (t_first * torch.from_numpy(direction)).sum()
        (t_second,) = torch.autograd.grad(directional, t)
    return [
        (out.numpy(), reference.detach().numpy()),
        (first.detach().numpy(), t_first.detach().numpy()),
        (second, t_second.numpy()),
    ]


def _assert_matches(pairs: list[tuple[np.ndarray, np.ndarray]]) -> None:
    for ours, expected in pairs:
        assert ours.shape == expected.shape
        assert relative_error(ours, expected) <= 1e-12 or np.max(np.abs(ours - expected)) <= 1e-14


# ------------------------------------------------------------------ prod and cumprod with zeros
# From PyTorch's test_autograd (test_prod_zeros / the OpInfo samples of prod): inputs with no
# zero, one zero and two zeros in a reduced slice, checked to second order.
PROD_INPUTS = {
    "no-zero": np.array([[1.5, -2.0, 0.5], [3.0, 0.25, -1.0]]),
    "one-zero": np.array([[1.5, 0.0, 0.5], [3.0, 0.25, -1.0]]),
    "two-zeros": np.array([[0.0, -2.0, 0.0], [3.0, 0.0, -1.0]]),
    "all-zeros": np.zeros((2, 3)),
}


@pytest.mark.parametrize("name", sorted(PROD_INPUTS))
@pytest.mark.parametrize("axis", [None, 1, 0])
def test_prod_gradient_with_zeros_matches_torch_to_second_order(
    torch: ModuleType, name: str, axis: int | None
) -> None:
    def theirs(t: Any) -> Any:
        return t.prod() if axis is None else t.prod(dim=axis)

    _assert_matches(
        _first_and_second_order(torch, lambda x: x.prod(axis=axis), theirs, PROD_INPUTS[name])
    )


def test_prod_gradient_at_one_zero_is_the_product_of_the_others() -> None:
    x = cr.tensor(np.array([2.0, 0.0, 3.0, 4.0]), requires_grad=True)
    x.prod().backward()
    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 24.0, 0.0, 0.0])


def test_prod_gradient_with_two_zeros_is_zero_without_nan() -> None:
    x = cr.tensor(np.array([0.0, 5.0, 0.0]), requires_grad=True)
    x.prod().backward()
    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 0.0])


@pytest.mark.parametrize("name", sorted(PROD_INPUTS))
@pytest.mark.parametrize("axis", [1, 0])
def test_cumprod_gradient_with_zeros_matches_torch_to_second_order(
    torch: ModuleType, name: str, axis: int
) -> None:
    _assert_matches(
        _first_and_second_order(
            torch, lambda x: x.cumprod(axis=axis), lambda t: t.cumprod(dim=axis), PROD_INPUTS[name]
        )
    )


def test_cumprod_gradient_before_a_zero_counts_the_products_it_reaches() -> None:
    # out = [2, 2*0, 2*0*3]: d(sum out)/dx = [1 + 0 + 0, 2 + 2*3, 0]
    x = cr.tensor(np.array([2.0, 0.0, 3.0]), requires_grad=True)
    x.cumprod().sum().backward()
    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 8.0, 0.0])


# ------------------------------------------------------------------ scans
# From tinygrad's test_ops (test_cumsum and its axis variants): long and multi-axis scans.
@pytest.mark.parametrize(
    ("shape", "axis"), [((20,), 0), ((65,), 0), ((20, 30), 0), ((20, 30), 1), ((2, 3, 4), -1)]
)
def test_cumsum_matches_torch_on_long_and_batched_axes(
    torch: ModuleType, shape: tuple[int, ...], axis: int
) -> None:
    values = np.random.default_rng(4).normal(size=shape)
    _assert_matches(
        _first_and_second_order(
            torch, lambda x: x.cumsum(axis=axis), lambda t: t.cumsum(dim=axis), values
        )[:2]
    )


def test_cumsum_without_axis_scans_the_flattened_values_as_numpy() -> None:
    values = np.arange(6.0).reshape(2, 3)
    result = cr.cumsum(values)
    assert result.shape == (6,)
    np.testing.assert_array_equal(result.numpy(), np.cumsum(values))


# Inputs of 1e4 carry a rounding of 1e-3 in float32 (2e-12 in float64), so the weights
# exp(x_i - out_k) of the gradient are known only to about that, in any library.
@pytest.mark.parametrize(("dtype", "tolerance"), [(np.float64, 1e-11), (np.float32, 1e-3)])
def test_logcumsumexp_of_far_apart_values_matches_torch_without_overflow(
    torch: ModuleType, dtype: type, tolerance: float
) -> None:
    values = np.array([[-1000.0, 0.0, 1000.0, 3.0], [1e4, -1e4, 1e4, 20.0]])
    x = cr.tensor(values.astype(dtype), requires_grad=True)
    out = x.logcumsumexp(axis=1)
    t = torch.tensor(values, requires_grad=True)
    reference = t.logcumsumexp(dim=1)
    weights = np.random.default_rng(5).normal(size=values.shape)
    out.backward(weights.astype(dtype))
    reference.backward(torch.from_numpy(weights))
    assert x.grad is not None
    assert out.dtype == x.grad.dtype == dtype
    assert np.all(np.isfinite(out.numpy()))
    assert relative_error(out.numpy(), reference.detach().numpy()) <= tolerance
    assert relative_error(x.grad.numpy(), t.grad.numpy(), floor=1.0) <= tolerance


def test_logcumsumexp_of_far_apart_values_matches_torch_to_second_order(
    torch: ModuleType,
) -> None:
    values = np.array([-800.0, 1.0, 900.0, 2.0, -3.0])
    _assert_matches(
        _first_and_second_order(
            torch, lambda x: x.logcumsumexp(axis=0), lambda t: t.logcumsumexp(dim=0), values
        )
    )


# ------------------------------------------------------------------ sort, argsort, topk
TIES = np.array([[3.0, 1.0, 2.0, 1.0, 3.0], [0.5, 0.5, 0.5, -1.0, 2.0]])


@pytest.mark.parametrize("descending", [False, True])
def test_sort_with_ties_matches_torchs_stable_sort_and_its_gradient(
    torch: ModuleType, descending: bool
) -> None:
    x = cr.tensor(TIES, requires_grad=True)
    out = x.sort(axis=1, descending=descending)
    t = torch.tensor(TIES, requires_grad=True)
    reference = torch.sort(t, dim=1, descending=descending, stable=True)
    weights = np.arange(10.0).reshape(2, 5)  # a distinct weight per sorted position
    out.backward(weights)
    reference.values.backward(torch.from_numpy(weights))
    np.testing.assert_array_equal(out.numpy(), reference.values.detach().numpy())
    indices = x.argsort(axis=1, descending=descending)
    np.testing.assert_array_equal(indices.numpy(), reference.indices.numpy())
    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())


def test_sort_sends_each_gradient_to_the_position_the_value_came_from() -> None:
    x = cr.tensor(np.array([30.0, 10.0, 20.0]), requires_grad=True)
    x.sort().backward(np.array([1.0, 2.0, 3.0]))
    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 1.0, 2.0])


def test_argsort_gives_int64_indices_and_no_gradient() -> None:
    x = cr.tensor(np.array([0.3, -1.0, 2.0]), requires_grad=True)
    indices = np.argsort(x)
    assert indices.dtype == np.int64
    assert not indices.requires_grad
    np.testing.assert_array_equal(indices.numpy(), [1, 0, 2])


@pytest.mark.parametrize("largest", [True, False])
@pytest.mark.parametrize("k", [1, 3, 5])
def test_topk_of_distinct_values_matches_torch(torch: ModuleType, largest: bool, k: int) -> None:
    values = np.random.default_rng(6).permutation(15).reshape(3, 5) / 4.0
    x = cr.tensor(values, requires_grad=True)
    out, indices = x.topk(k, axis=1, largest=largest)
    t = torch.tensor(values, requires_grad=True)
    reference = torch.topk(t, k, dim=1, largest=largest)
    weights = np.random.default_rng(7).normal(size=out.shape)
    out.backward(weights)
    reference.values.backward(torch.from_numpy(weights))
    np.testing.assert_array_equal(out.numpy(), reference.values.detach().numpy())
    np.testing.assert_array_equal(indices.numpy(), reference.indices.numpy())
    assert indices.dtype == np.int64
    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())


def test_topk_takes_the_earlier_of_tied_values_and_its_gradient_goes_there() -> None:
    # PyTorch leaves the choice among ties unspecified; chainrule takes the earlier index.
    x = cr.tensor(np.array([1.0, 3.0, 2.0, 3.0, 3.0]), requires_grad=True)
    values, indices = x.topk(2)
    np.testing.assert_array_equal(values.numpy(), [3.0, 3.0])
    np.testing.assert_array_equal(indices.numpy(), [1, 3])
    values.backward(np.array([10.0, 20.0]))
    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 10.0, 0.0, 20.0, 0.0])


def test_topk_unsorted_keeps_the_selected_entries_in_index_order() -> None:
    values, indices = cr.topk(np.array([0.5, 4.0, -1.0, 3.0]), 2, sorted=False)
    np.testing.assert_array_equal(indices.numpy(), [1, 3])
    np.testing.assert_array_equal(values.numpy(), np.float32([4.0, 3.0]))


@pytest.mark.parametrize("k", [-1, 6, 2.0, True])
def test_topk_refuses_a_k_outside_the_axis_by_name(k: Any) -> None:
    with pytest.raises(ValueError, match=r"^topk: k=.* must be an integer from 0 to 5"):
        cr.topk(np.ones(5), k)


# ------------------------------------------------------------------ norm and std
@pytest.mark.parametrize(
    ("ord", "axis"), [(None, None), (2, None), ("fro", None), (2, 1), (None, (0, 1))]
)
def test_two_norm_at_the_origin_has_torchs_zero_subgradient(
    torch: ModuleType, ord: Any, axis: Any
) -> None:
    values = np.zeros((2, 3))
    values_1d = ord == 2 and axis is None
    data = values[0] if values_1d else values
    x = cr.tensor(data, requires_grad=True)
    out = x.norm(ord=ord, axis=axis)
    t = torch.tensor(data, requires_grad=True)
    reference = torch.linalg.norm(t, ord=ord, dim=axis)
    out.sum().backward()
    reference.sum().backward()
    np.testing.assert_array_equal(out.numpy(), reference.detach().numpy())
    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros_like(data))


def test_norm_of_a_row_at_the_origin_beside_others_differentiates_each_row() -> None:
    x = cr.tensor(np.array([[0.0, 0.0], [3.0, 4.0]]), requires_grad=True)
    x.norm(axis=1).sum().backward()
    assert x.grad is not None
    np.testing.assert_allclose(x.grad.numpy(), [[0.0, 0.0], [0.6, 0.8]], rtol=1e-15)


def test_std_of_constant_values_has_zero_gradient_as_torch(torch: ModuleType) -> None:
    x = cr.tensor(np.full((2, 3), 1.5), requires_grad=True)
    x.std(axis=1, ddof=1).sum().backward()
    t = torch.full((2, 3), 1.5, dtype=torch.float64, requires_grad=True)
    t.std(dim=1).sum().backward()
    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())


@pytest.mark.parametrize("ord", [3, 0, 1, np.inf, 0.5, -1, -2.5, -np.inf])
def test_vector_norms_match_numpys_linalg_norm(ord: Any) -> None:
    values = np.array([[0.0, -2.0, 1.5], [4.0, 0.5, 0.0]])
    result = np.linalg.norm(cr.tensor(values), ord=ord, axis=1)
    with np.errstate(divide="ignore"):  # NumPy's own 0 ** p for p < 0
        expected = np.linalg.norm(values, ord=ord, axis=1)
    np.testing.assert_allclose(result.numpy(), expected)


@pytest.mark.torch
@pytest.mark.parametrize("ord", [0.5, 0.25, -1.0, -2.5])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_norms_of_p_below_one_match_torch_zero_entries_included(
    torch: ModuleType, ord: float, dtype: type
) -> None:
    # Row 0 has a zero entry: |0|**(p-1) is inf there, and torch's derivative is 0; for p < 0
    # that row's norm is 0, and so is its whole gradient.
    values = np.array([[0.0, -2.0, 1.5], [4.0, 0.5, -0.25]], dtype=dtype)
    x = cr.tensor(values, requires_grad=True)
    t = torch.tensor(values, requires_grad=True)
    ours, theirs = x.norm(ord=ord, axis=1), torch.linalg.vector_norm(t, ord=ord, dim=1)
    ours.backward(np.array([1.0, -3.0], dtype=dtype))
    theirs.backward(torch.tensor([1.0, -3.0], dtype=t.dtype))
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=rtol)
    assert x.grad is not None
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=rtol)
    assert x.grad.numpy()[0, 0] == 0.0


@pytest.mark.torch
@pytest.mark.parametrize("axis", [None, 1])
def test_the_zero_norm_counts_nan_and_has_gradient_zero_on_the_graph_as_torch(
    torch: ModuleType, axis: int | None
) -> None:
    # A count is flat in x: torch's vector_norm(ord=0) stays on the graph with gradient 0
    # (NaN and inf are not 0, so they count); a detached count made backward() refuse it.
    values = np.array([[0.0, np.nan, 1.5], [-np.inf, 0.0, 0.0]])
    if axis is None:
        values = values.ravel()
    x = cr.tensor(values, requires_grad=True)
    t = torch.tensor(values, requires_grad=True)
    ours = x.norm(ord=0, axis=axis)
    theirs = torch.linalg.vector_norm(t, ord=0, dim=axis)
    assert ours.requires_grad
    assert theirs.requires_grad
    assert ours.shape == tuple(theirs.shape)
    np.testing.assert_array_equal(ours.numpy(), theirs.detach().numpy())
    (gradient,) = torch.autograd.grad(theirs.sum(), t, materialize_grads=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours.sum().backward()
    assert x.grad is not None
    assert x.grad.shape == values.shape
    np.testing.assert_array_equal(x.grad.numpy(), gradient.numpy())


@pytest.mark.torch
@pytest.mark.parametrize("op", ["max", "min"])
@pytest.mark.parametrize("axis", [None, 0, 1])
def test_max_and_min_through_nan_give_torchs_nan_gradient_without_a_warning(
    torch: ModuleType, op: str, axis: int | None
) -> None:
    # A slice holding NaN has no winner: torch.amax's gradient there is 0 / 0 = NaN, which
    # NumPy computed with an "invalid value encountered in divide" RuntimeWarning.
    values = np.array([[1.0, np.nan, 3.0, 3.0], [2.0, 2.0, 0.0, -1.0], [np.nan, 4.0, 1.0, 5.0]])
    x = cr.tensor(values, requires_grad=True)
    t = torch.tensor(values, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours = getattr(x, op)(axis=axis)
        ours.sum().backward()
    reduce = torch.amax if op == "max" else torch.amin
    theirs = reduce(t) if axis is None else reduce(t, dim=axis)
    theirs.sum().backward()
    assert ours.shape == tuple(theirs.shape)
    np.testing.assert_array_equal(ours.numpy(), theirs.detach().numpy())
    assert x.grad is not None
    assert x.grad.shape == values.shape
    np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())


def test_max_through_nan_on_array_api_strict_gives_nan_without_a_warning() -> None:
    strict = pytest.importorskip("array_api_strict")
    x = cr.tensor(strict.asarray([[1.0, np.nan], [2.0, 3.0]]), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x.max(axis=1).sum().backward()
    assert x.grad is not None
    np.testing.assert_array_equal(np.asarray(x.grad.numpy()), [[np.nan, np.nan], [0.0, 1.0]])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda x: x.norm(ord=np.nan, axis=1), r"^norm: ord=nan is not a vector norm"),
        (lambda x: x.norm(ord="nuc", axis=(0, 1)), r"^norm: ord='nuc' is not a matrix norm"),
        (lambda x: x.norm(ord=1, axis=(0, 0)), r"^norm: axis=\(0, 0\) must be one axis"),
        (lambda x: x.reshape(1, 2, 3).norm(ord=1), r"^norm: ord=1 with axis=None needs a 1-D"),
        (lambda x: x.std(axis=1, ddof=3), r"^std: 3 values with ddof=3 leave no degrees"),
    ],
)
def test_norm_and_std_refuse_what_they_cannot_compute_by_name(
    call: Callable[[Any], Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        call(cr.tensor(np.ones((2, 3))))


# ------------------------------------------------------------------ argmax, any, all
# From tinygrad's test_ops (test_argmax): the first index wins a tie, along any axis.
@pytest.mark.parametrize(
    ("values", "axis", "expected"),
    [
        ([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]], 1, [1, 0]),
        ([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]], 0, [1, 0, 0]),
        ([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]], None, 1),
        ([2.0, -1.0, 7.0, 7.0], -1, 2),
    ],
)
def test_argmax_gives_the_first_index_of_the_largest_value_as_int64(
    values: Any, axis: int | None, expected: Any
) -> None:
    result = cr.argmax(np.array(values), axis=axis)
    assert result.dtype == np.int64
    np.testing.assert_array_equal(result.numpy(), expected)
    np.testing.assert_array_equal(np.argmax(cr.tensor(values), axis=axis).numpy(), expected)


def test_argmin_with_keepdims_keeps_the_reduced_axis() -> None:
    result = cr.tensor(np.array([[4.0, 1.0], [0.0, 9.0]])).argmin(axis=1, keepdims=True)
    assert result.shape == (2, 1)
    np.testing.assert_array_equal(result.numpy(), [[1], [0]])


def test_argmax_of_a_tensor_that_requires_grad_has_no_gradient() -> None:
    x = cr.tensor(np.array([1.0, 5.0, 2.0]), requires_grad=True)
    index = x.argmax()
    assert not index.requires_grad
    with pytest.raises(RuntimeError, match="does not require grad"):
        index.backward()
    with pytest.raises(TypeError, match=r"only floating-point tensors.*dtype int64"):
        index.requires_grad_()


def test_argmax_of_an_empty_tensor_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"^argmax: the tensor is empty \(shape \(0,\)\)"):
        cr.argmax(np.zeros(0))


@pytest.mark.parametrize(("op", "expected"), [("any", [True, False]), ("all", [True, False])])
def test_any_and_all_give_bool_tensors_along_an_axis(op: str, expected: list[bool]) -> None:
    values = np.array([[1.0, 2.0], [0.0, 0.0]]) if op == "any" else np.array([[1, 2], [0, 3]])
    result = getattr(np, op)(cr.tensor(values, dtype=values.dtype), axis=1)
    assert result.dtype == np.bool_
    np.testing.assert_array_equal(result.numpy(), expected)


# ------------------------------------------------------------------ NumPy's names, compile
@pytest.mark.parametrize(
    "call",
    [
        lambda x: np.prod(x, axis=1, keepdims=True),
        lambda x: np.std(x, axis=0, ddof=1),
        lambda x: np.std(x, correction=1),
        lambda x: np.linalg.norm(x, 1, 1),
        lambda x: np.linalg.norm(x, ord="fro"),
        lambda x: np.cumsum(x, axis=1),
        lambda x: np.cumprod(x),
        lambda x: np.sort(x, axis=0),
        lambda x: np.sort(x, axis=None),
    ],
)
def test_numpy_reductions_on_a_tensor_match_numpy_and_record_the_gradient(
    call: Callable[[Any], Any],
) -> None:
    values = np.random.default_rng(8).normal(size=(3, 4))
    x = cr.tensor(values, requires_grad=True)
    result = call(x)
    expected = call(values)
    assert result.shape == expected.shape
    np.testing.assert_allclose(result.detach().numpy(), expected, rtol=1e-13)
    result.sum().backward()
    assert x.grad is not None


def test_sort_refuses_to_be_compiled_since_its_order_would_be_frozen() -> None:
    weight = cr.tensor(np.ones(3), requires_grad=True)
    compiled = compile(lambda x: (cr.tensor(x) * weight).sort().sum())
    with pytest.raises(CompileError, match="sort picks entries by their values"):
        compiled(np.array([3.0, 1.0, 2.0]))


def test_prod_and_cumprod_read_in_explain() -> None:
    x = cr.tensor(np.array([1.5, 2.0]), requires_grad=True, name="x")
    explanation = cr.explain(x.cumprod().prod(), x)
    assert [step.op for step in explanation.steps] == ["cumprod", "prod"]


def test_norm_and_std_replay_their_gradient_at_zero_under_compile() -> None:
    weight = cr.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)

    def step(x: np.ndarray) -> cr.Tensor:
        scaled = cr.tensor(x) * weight
        loss = scaled.norm() + scaled.std()
        loss.backward()
        return loss

    compiled = compile(step)
    for x in (np.array([0.5, -1.0, 2.0]), np.zeros(3), np.ones(3)):
        weight.grad = None
        compiled(x)
        assert weight.grad is not None
        replayed = weight.grad.numpy().copy()
        weight.grad = None
        step(x)
        np.testing.assert_array_equal(replayed, weight.grad.numpy())


# ---------------------------------------------------------------- empty tensors (fuzzing)
EMPTY_REDUCTIONS: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "max over the rows' axis": (lambda x: x.max(axis=1), lambda x: x.amax(dim=1)),
    "min keepdims": (lambda x: x.min(axis=-1, keepdims=True), lambda x: x.amin(-1, True)),
    "softmax of each row": (lambda x: x.softmax(axis=-1), lambda x: x.softmax(-1)),
    "softmax along the empty axis": (lambda x: x.softmax(axis=0), lambda x: x.softmax(0)),
    "log_softmax of each row": (lambda x: x.log_softmax(axis=-1), lambda x: x.log_softmax(-1)),
    "log_softmax along the empty axis": (
        lambda x: x.log_softmax(axis=0),
        lambda x: x.log_softmax(0),
    ),
    "logsumexp of each row": (lambda x: x.logsumexp(axis=-1), lambda x: x.logsumexp(-1)),
    "logsumexp along the empty axis": (lambda x: x.logsumexp(axis=0), lambda x: x.logsumexp(0)),
    "logsumexp of everything": (
        lambda x: x.logsumexp(axis=None, keepdims=True),
        lambda x: x.logsumexp((0, 1), keepdim=True),
    ),
}


@pytest.mark.parametrize("name", EMPTY_REDUCTIONS)
def test_an_empty_batch_reduces_as_pytorch(torch: ModuleType, name: str) -> None:
    # found by fuzzing (tests/engine/fuzz_graphs.py): a boolean mask that keeps no row made
    # max, softmax, log_softmax and logsumexp raise "max: the tensor is empty"; logsumexp
    # of nothing is -inf, and the rest is empty, as in PyTorch (and NumPy for max)
    ours, theirs = EMPTY_REDUCTIONS[name]
    x = cr.tensor(np.zeros((0, 3)), requires_grad=True)
    tx = torch.zeros((0, 3), dtype=torch.float64, requires_grad=True)
    out, expected = ours(x), theirs(tx)
    assert out.shape == tuple(expected.shape)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out.numpy(), expected.detach().numpy())
    out.sum().backward()
    expected.sum().backward()
    assert x.grad is not None
    assert x.grad.shape == (0, 3)


@pytest.mark.parametrize("axis", [None, 0, (0, 1)])
def test_max_over_an_empty_axis_still_raises_naming_it(axis: Any) -> None:
    with pytest.raises(ValueError, match=r"^max: the tensor is empty \(shape \(0, 3\)\)"):
        cr.tensor(np.zeros((0, 3))).max(axis=axis)
