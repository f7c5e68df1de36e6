"""Review of issue 14's reductions and dtypes, used as a user porting NumPy or PyTorch code
would: each test pins a defect found (a wrong value, dtype or gradient given silently, or an
error from deep inside NumPy) against PyTorch's result."""

from __future__ import annotations

import math
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import chainrule as cr

# ------------------------------------------------------------------ float-valued ops of ints
# The ops whose result is a float for any input: on integer or bool tensors PyTorch computes
# them in float32, its default dtype. NumPy gives float16 for bool and int8 (three decimal
# digits) and float64 for int64; sigmoid and reciprocal gave integers (0 for 1/3).
FLOAT_OPS: dict[str, tuple[Callable[[Any], Any], Callable[..., Any]]] = {
    "exp": (cr.exp, lambda torch, x: torch.exp(x)),
    "log1p": (cr.log1p, lambda torch, x: torch.log1p(x)),
    "sin": (cr.sin, lambda torch, x: torch.sin(x)),
    "sigmoid": (cr.sigmoid, lambda torch, x: torch.sigmoid(x)),
    "reciprocal": (cr.reciprocal, lambda torch, x: torch.reciprocal(x)),
    "rsqrt": (cr.rsqrt, lambda torch, x: torch.rsqrt(x)),
    "tanh": (cr.tanh, lambda torch, x: torch.tanh(x)),
    "arctan2": (lambda x: cr.arctan2(x, x + 1), lambda torch, x: torch.atan2(x, x + 1)),
    "logcumsumexp": (
        lambda x: cr.logcumsumexp(x, axis=0),
        lambda torch, x: torch.logcumsumexp(x.to(torch.float32), 0),
    ),
}


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.int8, np.uint8, np.bool_])
@pytest.mark.parametrize("name", sorted(FLOAT_OPS))
def test_float_valued_ops_of_integer_and_bool_tensors_are_float32_as_torch(
    torch: ModuleType, name: str, dtype: type
) -> None:
    ours, theirs = FLOAT_OPS[name]
    values = np.array([1, 3, 0, 2]).astype(dtype)
    result = ours(cr.tensor(values, dtype=dtype))
    reference = theirs(torch, torch.from_numpy(values)).numpy()
    assert result.dtype == reference.dtype == np.float32
    np.testing.assert_allclose(result.numpy(), reference, rtol=1e-6)


def test_sigmoid_and_reciprocal_of_integers_are_not_truncated_to_zero() -> None:
    ints = cr.tensor([3, -2], dtype=np.int64)
    np.testing.assert_allclose(ints.sigmoid().numpy(), [0.95257413, 0.11920292], rtol=1e-6)
    np.testing.assert_allclose(cr.reciprocal(ints).numpy(), [1 / 3, -0.5], rtol=1e-6)


@pytest.mark.parametrize(
    "op",
    [
        lambda x: x.mean(),
        lambda x: x.std(ddof=1),
        lambda x: x.var(),
        lambda x: cr.softmax(x),
        lambda x: cr.logsumexp(x),
    ],
    ids=["mean", "std", "var", "softmax", "logsumexp"],
)
def test_float_valued_reductions_of_integers_are_float32(
    torch: ModuleType, op: Callable[[Any], Any]
) -> None:
    # PyTorch refuses these on an integer tensor; the int / int rule (float32) is kept.
    values = np.array([4, -2, 7, 1])
    result = op(cr.tensor(values, dtype=np.int64))
    assert result.dtype == np.float32
    np.testing.assert_allclose(
        result.numpy(), op(cr.tensor(values.astype(np.float64))).numpy(), rtol=1e-6
    )


@pytest.mark.parametrize("ord", [None, 1, 2, np.inf, -np.inf, 0, 3])
def test_every_vector_norm_of_integers_is_a_float32_as_numpy_and_torch(
    torch: ModuleType, ord: Any
) -> None:
    values = np.array([3, -4, 0, 1])
    result = cr.norm(cr.tensor(values, dtype=np.int64), ord=ord)
    reference = torch.linalg.vector_norm(
        torch.tensor(values, dtype=torch.float32), 2 if ord is None else ord
    )
    assert result.dtype == np.float32
    np.testing.assert_allclose(result.numpy(), reference.numpy(), rtol=1e-6)


@pytest.mark.parametrize("ord", [None, 1, -1, np.inf, -np.inf])
def test_every_matrix_norm_of_integers_is_a_float32(ord: Any) -> None:
    values = np.array([[1, -2], [3, 4]], dtype=np.int8)
    result = cr.norm(cr.tensor(values, dtype=np.int8), ord=ord)
    assert result.dtype == np.float32
    np.testing.assert_allclose(result.numpy(), np.linalg.norm(values, ord=ord), rtol=1e-6)


def test_clip_of_an_integer_tensor_with_a_float_bound_is_float32_as_torch(
    torch: ModuleType,
) -> None:
    values = np.array([7, -3, 5])
    result = cr.tensor(values, dtype=np.int64).clip(0.5, 3.5)
    reference = torch.tensor(values).clamp(0.5, 3.5).numpy()
    assert result.dtype == reference.dtype == np.float32
    np.testing.assert_array_equal(result.numpy(), reference)


def test_clip_of_an_integer_tensor_with_integer_bounds_stays_integer(torch: ModuleType) -> None:
    result = cr.tensor([7, -3, 5], dtype=np.int64).clip(0, 4)
    assert result.dtype == np.int64
    np.testing.assert_array_equal(result.numpy(), [4, 0, 4])


def test_round_of_integers_keeps_their_dtype_as_torch(torch: ModuleType) -> None:
    values = np.array([7, -3, 5], dtype=np.int32)
    result = cr.round(cr.tensor(values, dtype=np.int32))
    reference = torch.round(torch.from_numpy(values)).numpy()
    assert result.dtype == reference.dtype == np.int32
    np.testing.assert_array_equal(result.numpy(), reference)


def test_a_float_valued_op_of_an_integer_and_a_float16_tensor_stays_float16(
    torch: ModuleType,
) -> None:
    start = cr.tensor(np.array([0.5, 1.5], dtype=np.float16), requires_grad=True)
    result = cr.lerp(start, cr.tensor([2, 4], dtype=np.int64), 0.25)
    reference = torch.lerp(
        torch.tensor([0.5, 1.5], dtype=torch.float16),
        torch.tensor([2.0, 4.0], dtype=torch.float16),
        0.25,
    )
    assert result.dtype == np.float16
    np.testing.assert_array_equal(result.numpy(), reference.numpy())
    result.sum().backward()
    assert start.grad is not None
    assert start.grad.dtype == np.float16


# ------------------------------------------------------------------ ints beside floats
MIXED_LINALG: dict[str, Callable[[Any, Any], Any]] = {
    "einsum": lambda i, f: cr.einsum("ij,jk->ik", i, f),
    "dot": cr.dot,
    "inner": cr.inner,
    "tensordot": lambda i, f: cr.tensordot(i, f, axes=1),
    "linear": lambda i, f: cr.functional.linear(i, f),
    "mse_loss": lambda i, f: cr.functional.mse_loss(f, i),
}


@pytest.mark.parametrize("float_dtype", [np.float32, np.float16])
@pytest.mark.parametrize("name", sorted(MIXED_LINALG))
def test_an_integer_operand_of_a_contraction_takes_the_float_operands_dtype(
    name: str, float_dtype: type
) -> None:
    # PyTorch refuses int64 @ float32; NumPy gives float64. As for `@`, the integer operand
    # is taken as the float's dtype, so the result and the float's gradient keep it.
    ints = cr.tensor([[1, 2], [3, -4]], dtype=np.int64)
    floats = cr.tensor(np.array([[0.5, 1.5], [-1.0, 2.0]], dtype=float_dtype), requires_grad=True)
    result = MIXED_LINALG[name](ints, floats)
    expected = MIXED_LINALG[name](cr.tensor(np.array([[1.0, 2.0], [3.0, -4.0]])), floats.detach())
    assert result.dtype == float_dtype
    np.testing.assert_allclose(result.numpy(), expected.numpy(), rtol=1e-3)
    result.sum().backward()
    assert floats.grad is not None
    assert floats.grad.dtype == float_dtype


def test_nn_linear_on_an_integer_batch_gives_its_weights_dtype() -> None:
    layer = cr.nn.Linear(3, 2)
    batch = cr.tensor([[1, 0, 2], [3, 1, -1]], dtype=np.int64)
    out = layer(batch)
    assert out.dtype == layer.weight.dtype == np.float32
    np.testing.assert_allclose(
        out.numpy(), layer(cr.tensor(batch.numpy().astype(np.float32))).numpy(), rtol=1e-6
    )


# ------------------------------------------------------------------ p-norms at the origin
@pytest.mark.parametrize("ord", [1.5, 3, 4.0])
def test_the_gradient_of_a_p_norm_at_the_origin_is_zero_as_torch(
    torch: ModuleType, ord: float
) -> None:
    # (sum |x|**p)**(1/p) spelled as powers gave 0 * inf = NaN there.
    gradient = cr.grad(lambda v: cr.norm(v, ord=ord))(cr.tensor(np.zeros(3)))
    point = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    torch.linalg.vector_norm(point, ord).backward()
    np.testing.assert_array_equal(gradient.numpy(), point.grad.numpy())


# Ported from PyTorch's test_autograd.py (test_norm_subgradient): the gradient of a norm
# of zeros is 0 for every degree, in our own words and shapes.
@pytest.mark.parametrize(
    ("shape", "ord"),
    [((10,), 2), ((10, 10), None), ((10,), 3), ((10,), 1), ((10,), 1.5), ((10,), np.inf)],
)
def test_every_norm_of_zeros_has_a_zero_gradient(shape: tuple[int, ...], ord: Any) -> None:
    gradient = cr.grad(lambda v: cr.norm(v, ord=ord))(cr.tensor(np.zeros(shape)))
    assert gradient.shape == shape
    assert float(np.abs(gradient.numpy()).sum()) == 0.0


@pytest.mark.parametrize(
    "point",
    [np.zeros((2, 3)), np.array([[0.0, 1.5, -2.0], [0.0, 0.0, 0.0]]), np.arange(6.0).reshape(2, 3)],
    ids=["origin", "one-row-zero", "spread"],
)
def test_the_hessian_of_a_p_norm_matches_torch_at_and_away_from_zero(
    torch: ModuleType, point: np.ndarray
) -> None:
    weights = np.array([1.0, -2.0])
    ours = cr.hessian(lambda v: (cr.norm(v, ord=3, axis=1) * weights).sum())(cr.tensor(point))
    theirs = torch.autograd.functional.hessian(
        lambda v: (torch.linalg.vector_norm(v, 3, dim=1) * torch.from_numpy(weights)).sum(),
        torch.from_numpy(point),
    )
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12, atol=1e-15)


# ------------------------------------------------------------------ empty tensors
def test_argmax_of_an_empty_tensor_along_a_nonempty_axis_is_empty_as_numpy_and_torch(
    torch: ModuleType,
) -> None:
    values = np.zeros((0, 3))
    for op in ("argmax", "argmin"):
        result = getattr(cr, op)(cr.tensor(values), axis=1)
        reference = getattr(torch, op)(torch.from_numpy(values), 1).numpy()
        assert result.shape == reference.shape == (0,)
        assert result.dtype == np.int64


def test_argmax_along_an_empty_axis_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"^argmin: the tensor is empty \(shape \(0, 3\)\) along"):
        cr.argmin(cr.tensor(np.zeros((0, 3))), axis=0)


@pytest.mark.parametrize("shape", [(0, 3), (3, 0)])
def test_the_gradient_of_logcumsumexp_of_an_empty_tensor_is_empty(shape: tuple[int, ...]) -> None:
    # The vjp's np.max over an empty axis raised from inside NumPy.
    gradient = cr.grad(lambda t: cr.logcumsumexp(t, axis=0).sum())(cr.tensor(np.zeros(shape)))
    assert gradient.shape == shape


# ------------------------------------------------------------------ explain
@pytest.mark.parametrize(
    "reduce",
    [
        lambda x: x.prod(axis=1),
        lambda x: x.norm(axis=1),
        lambda x: x.norm(ord=3, axis=1),
        lambda x: x.std(axis=1),
        lambda x: x.max(axis=1),
    ],
    ids=["prod", "norm", "pnorm", "std", "max"],
)
def test_explain_reads_a_reduction_along_one_axis_without_keepdims(
    reduce: Callable[[cr.Tensor], cr.Tensor],
) -> None:
    # The element-wise factor's shape was the broadcast of (2,) and (2, 3): a ValueError.
    x = cr.tensor(np.random.default_rng(0).normal(size=(2, 3)), requires_grad=True, name="x")
    explanation = cr.explain(reduce(x).sum(), x)
    assert explanation.passed
    factors = [link for path in explanation.paths for link in path if link.input == "x"]
    assert factors
    assert all(link.shape in ((2, 3), ()) for link in factors)


def test_explain_of_a_loss_with_std_and_norm_passes_its_finite_difference_checks() -> None:
    # The -1 of x - mean(x) inside std has an exact local gradient of 0; the central
    # difference of that sum only measures its rounding (3.6e-12 here), which failed.
    rng = np.random.default_rng(0)
    rng.normal(size=(2, 3))
    x = cr.tensor(rng.normal(size=(2, 3)), requires_grad=True, name="x")
    explanation = cr.explain(x.cumsum(axis=1).norm() + x.std(ddof=1), x)
    assert explanation.passed


def test_dropout_of_an_integer_tensor_scales_it_as_float32() -> None:
    # The float64 scale was multiplied into an int64 mask in place: a NumPy casting error.
    layer = cr.nn.Dropout(0.5, rng=np.random.default_rng(0))
    ints = cr.tensor(np.arange(1, 201).reshape(10, 20), dtype=np.int64)
    out = layer(ints)
    assert out.dtype == np.float32
    kept = out.numpy() != 0
    np.testing.assert_array_equal(out.numpy()[kept], 2 * ints.numpy()[kept])


# ------------------------------------------------------------------ integer range and powers
def test_an_integer_array_beside_a_narrower_integer_tensor_promotes_as_numpy_and_torch(
    torch: ModuleType,
) -> None:
    # The array was cast to the tensor's int8 first, so 100 + 300 wrapped around to -112.
    result = cr.tensor([100], dtype=np.int8) + np.array([300])
    reference = torch.tensor([100], dtype=torch.int8) + torch.tensor([300])
    assert result.dtype == reference.numpy().dtype == np.int64
    np.testing.assert_array_equal(result.numpy(), reference.numpy())


@pytest.mark.parametrize(
    "op",
    [
        lambda t: t + 300,
        lambda t: 300 - t,
        lambda t: t * np.int64(-129),
        lambda t: cr.maximum(t, 1000),
    ],
    ids=["add", "rsub", "numpy-scalar", "maximum"],
)
def test_a_number_outside_an_integer_tensors_range_is_refused_by_name(
    op: Callable[[cr.Tensor], cr.Tensor],
) -> None:
    with pytest.raises(ValueError, match=r"outside int8's range \[-128, 127\]"):
        op(cr.tensor([100], dtype=np.int8))


@pytest.mark.parametrize(
    "op",
    [
        lambda b, e: b**e,
        lambda b, e: 2**e,
        lambda b, e: b ** e.numpy(),
    ],
    ids=["tensor-tensor", "number-tensor", "tensor-array"],
)
def test_integers_to_negative_integer_tensor_powers_are_refused_by_name(
    op: Callable[[cr.Tensor, cr.Tensor], cr.Tensor],
) -> None:
    # NumPy's own ValueError named neither the op nor the fix. PyTorch's
    # test_binary_ufuncs.py (test_int_tensor_pow_neg_ints) refuses a negative integer
    # exponent of an integer tensor likewise; here the exponent is a tensor too.
    base = cr.tensor([2, 3], dtype=np.int64)
    exponent = cr.tensor([2, -1], dtype=np.int64)
    with pytest.raises(ValueError, match=r"^pow: int64 integers to the negative integer power -1"):
        op(base, exponent)


@pytest.mark.parametrize(
    "op",
    [lambda t: t.add_(0.5), lambda t: t.sub_(0.5), lambda t: t.mul_(1.5)],
    ids=["add_", "sub_", "mul_"],
)
def test_in_place_methods_refuse_a_float_into_an_integer_tensor_by_name(
    op: Callable[[cr.Tensor], cr.Tensor],
) -> None:
    # As += does (and PyTorch); NumPy's casting error came out of add_, sub_ and mul_.
    ints = cr.tensor([1, 2], dtype=np.int64)
    with pytest.raises(TypeError, match=r"_: the result of a tensor of dtype int64 . a value"):
        op(ints)
    np.testing.assert_array_equal(ints.numpy(), [1, 2])


@pytest.mark.parametrize(
    "op",
    [
        lambda t: t + np.array([0.5, 0.5]).tolist(),
        lambda t: [0.5, 1.5] - t,
        lambda t: t * [1.5, 1.5],
        lambda t: cr.maximum(t, [0.5, 3.5]),
        lambda t: cr.where(np.array([True, False]), t, [0.5, 0.5]),
    ],
    ids=["add", "rsub", "mul", "maximum", "where"],
)
def test_a_list_of_floats_beside_an_integer_tensor_is_float32_not_truncated(
    op: Callable[[Any], Any],
) -> None:
    # The list was cast to the tensor's int64, so 0.5 became 0: [1, 2] + [0.5, 0.5] = [1, 2].
    # PyTorch makes the list a float32 tensor, and int64 with float32 is float32.
    result = op(cr.tensor([1, 2], dtype=np.int64))
    assert result.dtype == np.float32
    np.testing.assert_array_equal(
        result.numpy(), op(cr.tensor(np.array([1.0, 2.0], dtype=np.float32))).numpy()
    )


def test_forward_mode_logcumsumexp_matches_the_exact_sum_where_running_sums_tie() -> None:
    # The point where torch.func.jvp is 1.8e-12 off (test_forward_mode's tolerance for it).
    point = np.array([-3.0, 0.0, 0.0, 0.0, 0.0])
    tangent = np.random.default_rng(3).normal(size=5)
    _, ours = cr.jvp(lambda a: cr.logcumsumexp(a, axis=0), (point,), (tangent,))
    exact = [
        math.fsum(math.exp(point[j]) * tangent[j] for j in range(k + 1))
        / math.fsum(math.exp(point[j]) for j in range(k + 1))
        for k in range(5)
    ]
    np.testing.assert_allclose(np.asarray(ours), exact, rtol=1e-15, atol=1e-15)


# The activations are float-valued too: on integer tensors erf gave 0 and softplus the input.
ACTIVATIONS_OF_INTEGERS = [
    "erf",
    "softplus",
    "logsigmoid",
    "elu",
    "celu",
    "selu",
    "leaky_relu",
    "hardtanh",
    "hardsigmoid",
    "hardswish",
    "softsign",
    "silu",
    "gelu",
    "mish",
]


@pytest.mark.parametrize("dtype", [np.int64, np.int8, np.bool_])
@pytest.mark.parametrize("name", ACTIVATIONS_OF_INTEGERS)
def test_activations_of_integer_tensors_are_float32_not_truncated(name: str, dtype: type) -> None:
    values = np.array([-3, -1, 0, 1, 2, 5]).astype(dtype)
    function = getattr(cr, name)
    got = function(cr.tensor(values, dtype=dtype))
    expected = function(cr.tensor(values.astype(np.float32)))
    assert got.dtype == np.float32
    assert np.array_equal(got.numpy(), expected.numpy())
