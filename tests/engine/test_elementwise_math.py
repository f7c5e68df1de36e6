"""Element-wise math (issue 14) where the op table cannot reach: values and gradients at domain
edges against PyTorch (inf and NaN in the same places), the zero gradient of the rounding
family, logaddexp and hypot at magnitudes whose squares or exponentials overflow, the sign
conventions of fmod and remainder, lerp's exact end point, NumPy dispatch and explain.

Several inputs are ported from tinygrad's test/test_ops.py (test_sin, test_tan, test_asin,
test_trunc, test_round, test_mod, test_fmod, test_logaddexp, test_lerp, test_rsqrt), named
where they are used.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import chainrule as cr

pytestmark = pytest.mark.torch

inf, nan = np.inf, np.nan
RTOL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-6}


def _against_torch(
    torch: ModuleType,
    ours: Callable[..., Any],
    theirs: Callable[..., Any],
    values: Sequence[Any],
    dtype: type = np.float64,
) -> None:
    """ours(*tensors) and theirs(torch, *tensors): the same values and gradients (for an
    upstream gradient of ones), inf and NaN in the same places, to RTOL."""
    arrays = [np.asarray(value, dtype=dtype) for value in values]
    inputs = [cr.tensor(array, requires_grad=True) for array in arrays]
    torch_inputs = [torch.tensor(array, requires_grad=True) for array in arrays]
    out = ours(*inputs)
    reference = theirs(torch, *torch_inputs)
    out.backward(np.ones(out.shape, dtype=out.dtype))
    reference.backward(torch.ones_like(reference))
    rtol = RTOL[np.dtype(dtype)]
    assert out.dtype == np.dtype(dtype)
    np.testing.assert_allclose(out.numpy(), reference.detach().numpy(), rtol=rtol, equal_nan=True)
    for tensor, torch_tensor in zip(inputs, torch_inputs, strict=True):
        assert tensor.grad is not None
        assert tensor.grad.shape == tensor.shape
        np.testing.assert_allclose(
            tensor.grad.numpy(), torch_tensor.grad.numpy(), rtol=rtol, equal_nan=True
        )


def _unary(name: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
    return (lambda x: getattr(x, name)()), (lambda torch, x: getattr(torch, name)(x))


def _binary(name: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
    return (
        lambda x, y: getattr(cr, name)(x, y),
        lambda torch, x, y: getattr(torch, name)(x, y),
    )


# ------------------------------------------------------------------ domain edges
# Values at and beyond each op's domain edges: PyTorch returns inf or NaN there, without a
# warning, and so must we (pytest turns NumPy's RuntimeWarnings into errors).
UNARY_EDGES: dict[str, list[float]] = {
    # tinygrad test_sin/test_cos/test_tan: NaN, +-inf, 0 and magnitudes up to 1e6.
    "cos": [nan, inf, -inf, 0.0, 1e1, 1e3, 1e6, -1e6],
    "tan": [nan, inf, -inf, 0.0, 1e1, 1e3, 1e6, -1e6],
    # tinygrad test_asin/test_acos: inputs around +-300, far outside [-1, 1].
    "arcsin": [-300.0, -2.0, -1.0, -0.5, 0.0, 1.0, 2.0, 300.0],
    "arccos": [-300.0, -2.0, -1.0, -0.5, 0.0, 1.0, 2.0, 300.0],
    "arctan": [-300.0, -inf, 0.0, inf, 300.0],
    "sinh": [-300.0, 300.0, -inf, inf],
    "cosh": [-300.0, 300.0, -inf, inf],
    "arcsinh": [-300.0, 300.0, -inf, inf, 0.0],
    "arccosh": [0.5, 1.0, 2.0, 300.0, inf],
    "arctanh": [-300.0, -2.0, -1.0, 0.0, 1.0, 2.0, 300.0],
    # tinygrad test_exp2/test_log2/test_log10: inf, -inf and NaN.
    "exp2": [-inf, inf, nan, 0.0],
    "expm1": [-inf, inf, nan, 0.0],
    "log2": [-inf, -1.0, 0.0, inf, nan],
    "log10": [-inf, -1.0, 0.0, inf, nan],
    "log1p": [-inf, -2.0, -1.0, 0.0, inf, nan],
    "square": [-inf, inf, nan],
    "reciprocal": [-0.0, 0.0, -inf, inf, nan],
    # tinygrad test_rsqrt: rsqrt(0) is inf.
    "rsqrt": [-1.0, 0.0, 4.0, inf, nan],
}


@pytest.mark.parametrize("name", sorted(UNARY_EDGES))
def test_unary_op_at_its_domain_edges_matches_torch(torch: ModuleType, name: str) -> None:
    _against_torch(torch, *_unary(name), [UNARY_EDGES[name]])


def test_arccosh_gradient_is_nan_wherever_its_value_is(torch: ModuleType) -> None:
    # PyTorch's 1 / sqrt(x**2 - 1) is finite for x <= -1, where arccosh itself is NaN; ours
    # is NaN there too (README: deliberate difference).
    x = cr.tensor(np.array([-2.0, -1.0, 0.5]), requires_grad=True)
    x.arccosh().sum().backward()
    assert x.grad is not None
    assert np.isnan(x.arccosh().numpy()).all()
    assert np.isnan(x.grad.numpy()).all()
    torch_x = torch.tensor([-2.0, -1.0, 0.5], dtype=torch.float64, requires_grad=True)
    torch.arccosh(torch_x).sum().backward()
    np.testing.assert_allclose(torch_x.grad.numpy()[:2], [1 / np.sqrt(3), inf])


def test_arctan2_at_the_origin_has_torchs_zero_gradient(torch: ModuleType) -> None:
    _against_torch(torch, *_binary("arctan2"), [[0.0, 0.0, 1.0, -1.0], [0.0, -1.0, 0.0, 0.0]])


def test_hypot_at_the_origin_has_torchs_nan_gradient(torch: ModuleType) -> None:
    _against_torch(torch, *_binary("hypot"), [[0.0, 3.0], [0.0, 4.0]])


@pytest.mark.parametrize("name", ["fmod", "remainder"])
def test_fmod_and_remainder_by_zero_are_nan_as_in_torch(torch: ModuleType, name: str) -> None:
    _against_torch(torch, *_binary(name), [[3.0, 0.0, -3.0, inf], [0.0, 0.0, 0.0, 1.0]])


def test_logaddexp_of_infinities_matches_torch(torch: ModuleType) -> None:
    _against_torch(torch, *_binary("logaddexp"), [[-inf, inf, 0.0, -inf], [-inf, inf, -inf, 1.0]])


# ------------------------------------------------------------------ large magnitudes
@pytest.mark.parametrize(
    ("dtype", "big"), [(np.float64, 1e300), (np.float32, 1e38)], ids=["float64", "float32"]
)
def test_logaddexp_of_huge_values_does_not_overflow(
    torch: ModuleType, dtype: type, big: float
) -> None:
    x = [big, -big, big, big / 2]
    y = [big, big, -big, -big / 2]
    _against_torch(torch, *_binary("logaddexp"), [x, y], dtype)
    first = cr.tensor(np.asarray(x, dtype), requires_grad=True)
    cr.logaddexp(first, np.asarray(y, dtype)).backward(np.ones(4, dtype))
    assert first.grad is not None
    np.testing.assert_allclose(first.grad.numpy(), [0.5, 0.0, 1.0, 1.0], rtol=RTOL[np.dtype(dtype)])


def test_logaddexp_of_far_apart_values_matches_torch(torch: ModuleType) -> None:
    # tinygrad test_logaddexp: one side far below or far above the other.
    for x in ([-1.0, -1.0, -1.0], [-100.0, -200.0, -300.0], [1.0, 2000.0, 30000.0]):
        _against_torch(torch, *_binary("logaddexp"), [x, [-1.0, 2.0, 3.0]])


@pytest.mark.parametrize(
    ("dtype", "big"), [(np.float64, 1e300), (np.float32, 1e37)], ids=["float64", "float32"]
)
def test_hypot_of_huge_values_does_not_overflow(torch: ModuleType, dtype: type, big: float) -> None:
    x, y = [3 * big, big, 1.0], [4 * big, big, 1 / big]
    _against_torch(torch, *_binary("hypot"), [x, y], dtype)
    out = cr.hypot(np.asarray(x, dtype), np.asarray(y, dtype))
    np.testing.assert_allclose(out.numpy()[0], 5 * big, rtol=RTOL[np.dtype(dtype)])


def test_arctan2_and_arcsinh_gradients_keep_their_digits_where_squares_overflow() -> None:
    # x**2 + y**2 overflows past 1e154, where PyTorch's gradients become 0 (README).
    y = cr.tensor(np.array([1e200, 3e300]), requires_grad=True)
    cr.arctan2(y, np.array([1e200, 4e300])).sum().backward()
    assert y.grad is not None
    np.testing.assert_allclose(y.grad.numpy(), [5e-201, 4 / 25 * 1e-300], rtol=1e-12)
    z = cr.tensor(np.array([1e200, -1e300]), requires_grad=True)
    z.arcsinh().sum().backward()
    assert z.grad is not None
    np.testing.assert_allclose(z.grad.numpy(), [1e-200, 1e-300], rtol=1e-12)


def test_expm1_gradient_keeps_its_digits_far_below_zero() -> None:
    # PyTorch's expm1(x) + 1 cancels there (README); exp(x) does not.
    x = cr.tensor(np.array([-30.0, -700.0]), requires_grad=True)
    x.expm1().sum().backward()
    assert x.grad is not None
    np.testing.assert_allclose(x.grad.numpy(), np.exp([-30.0, -700.0]), rtol=1e-15)


# ------------------------------------------------------------------ the rounding family
# tinygrad test_trunc/test_floor/test_ceil/test_round: just below, on and above halves and
# integers, both signs; round's ties go to the even integer (0.5 -> 0, 2.5 -> 2, -2.5 -> -2).
ROUNDING_VALUES = [1.499, 1.5, 1.501, 1.0, 2.1, 0.0, -5.0, -2.499, -2.5, -2.501, 0.5, 2.5, -0.5]


@pytest.mark.parametrize("name", ["floor", "ceil", "round", "trunc", "sign"])
def test_piecewise_constant_op_matches_torch_with_a_zero_gradient(
    torch: ModuleType, name: str
) -> None:
    _against_torch(torch, *_unary(name), [ROUNDING_VALUES])
    x = cr.tensor(np.array(ROUNDING_VALUES), requires_grad=True)
    getattr(x, name)().backward(np.full(x.shape, inf))  # zero, not 0 * inf = NaN
    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros(x.shape))


def test_round_sends_halves_to_the_even_integer() -> None:
    x = cr.tensor(np.array([0.5, 1.5, 2.5, -0.5, -1.5, 1e12 + 0.5]))
    np.testing.assert_array_equal(x.round().numpy(), [0.0, 2.0, 2.0, -0.0, -2.0, 1e12])
    assert np.signbit(x.round().numpy()[3])


def test_sign_of_nan_is_nan_unlike_torch(torch: ModuleType) -> None:
    # README: NumPy's NaN, not PyTorch's 0, so a NaN is not silently turned into a number.
    assert np.isnan(cr.sign(np.array([nan])).numpy()).all()
    assert torch.sign(torch.tensor([nan])).item() == 0.0


def test_straight_through_rounding_has_the_gradient_of_its_linear_part() -> None:
    # tinygrad test_round_quantization_gradient: x + 0.125 (round(x) - x) has derivative 0.875.
    x = cr.tensor(np.array([-1.2, -0.7, -0.2, 0.2, 0.7, 1.2]), requires_grad=True)
    (x + 0.125 * (x.round() - x)).sum().backward()
    assert x.grad is not None
    np.testing.assert_allclose(x.grad.numpy(), np.full(6, 0.875), rtol=1e-15)


@pytest.mark.parametrize("name", ["floor", "ceil", "round", "trunc", "sign"])
def test_piecewise_constant_op_has_a_zero_second_derivative(name: str) -> None:
    hessian = cr.hessian(lambda x: (getattr(x, name)() * x * x).sum())(np.array([0.3, -1.7]))
    # d2/dx2 of c x**2 with c = name(x) constant: 2 c on the diagonal.
    constant = getattr(np, "rint" if name == "round" else name)(np.array([0.3, -1.7]))
    np.testing.assert_allclose(hessian.numpy(), np.diag(2 * constant), rtol=1e-15)


# ------------------------------------------------------------------ fmod and remainder
# tinygrad test_mod/test_fmod: integer-valued operands of every sign combination, a tensor
# divided by a number (2, 3.5) and a number divided by a tensor (100 % x, 100.5 % x).
DIVIDENDS = [-4.0, 7.0, 5.0, 4.0, -7.0, 8.0, -9.0]
DIVISORS = [2.0, -3.0, 8.0, -2.0, 3.0, 5.0, -5.0]


@pytest.mark.parametrize("name", ["fmod", "remainder"])
def test_fmod_and_remainder_of_every_sign_combination_match_torch(
    torch: ModuleType, name: str
) -> None:
    _against_torch(torch, *_binary(name), [DIVIDENDS, DIVISORS])


@pytest.mark.parametrize("divisor", [2.0, 3.5])
def test_remainder_by_a_number_takes_the_divisors_sign(torch: ModuleType, divisor: float) -> None:
    _against_torch(torch, lambda x: x % divisor, lambda torch, x: x % divisor, [DIVIDENDS])
    _against_torch(torch, lambda x: x % -divisor, lambda torch, x: x % -divisor, [DIVIDENDS])
    _against_torch(
        torch,
        lambda x: cr.fmod(x, divisor),
        lambda torch, x: torch.fmod(x, divisor),
        [DIVIDENDS],
    )


@pytest.mark.parametrize("dividend", [100.0, 100.5, -100.5])
def test_number_modulo_a_tensor_is_the_reflected_remainder(
    torch: ModuleType, dividend: float
) -> None:
    # PyTorch has no gradient for number % tensor: its tensor % tensor is the reference.
    _against_torch(
        torch,
        lambda x: dividend % x,
        lambda torch, x: torch.remainder(torch.full_like(x, dividend), x),
        [DIVIDENDS],
    )


def test_percent_is_numpys_remainder() -> None:
    x, y = np.array(DIVIDENDS), np.array(DIVISORS)
    np.testing.assert_array_equal((cr.tensor(x) % cr.tensor(y)).numpy(), np.remainder(x, y))
    np.testing.assert_array_equal(cr.fmod(x, y).numpy(), np.fmod(x, y))
    assert (cr.fmod(x, y).numpy() * x >= 0).all()  # the sign of the dividend
    assert (cr.remainder(x, y).numpy() * y >= 0).all()  # the sign of the divisor


# ------------------------------------------------------------------ lerp
def test_lerp_with_a_number_weight_matches_torch(torch: ModuleType) -> None:
    # tinygrad test_lerp: [1, 2, 3] to [4, 5, 6] at weight 0.5.
    _against_torch(
        torch,
        lambda start, end: cr.lerp(start, end, 0.5),
        lambda torch, start, end: torch.lerp(start, end, 0.5),
        [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]],
    )


def test_lerp_with_weight_one_returns_end_exactly() -> None:
    start, end = np.array([1e8, 0.1]), np.array([1e-8, 0.3])
    np.testing.assert_array_equal(cr.lerp(start, end, 1.0).numpy(), end)
    np.testing.assert_array_equal(cr.lerp(start, end, 0.0).numpy(), start)


def test_lerp_method_takes_a_weight_tensor_that_broadcasts(torch: ModuleType) -> None:
    weight = [[0.0], [0.25], [1.5]]
    _against_torch(
        torch,
        lambda start, end, w: start.lerp(end, w),
        lambda torch, start, end, w: start.lerp(end, w),
        [[1.0, -2.0], [4.0, 5.0], weight],
    )


def test_lerp_of_shapes_that_do_not_broadcast_names_lerp_and_the_shapes() -> None:
    with pytest.raises(ValueError, match=r"^lerp: shapes \(3,\) and \(4,\) and \(\) cannot"):
        cr.lerp(cr.tensor(np.ones(3)), np.ones(4), 0.5)


@pytest.mark.parametrize("name", ["arctan2", "logaddexp", "hypot", "fmod", "remainder"])
def test_binary_op_of_shapes_that_do_not_broadcast_names_the_op(name: str) -> None:
    with pytest.raises(ValueError, match=rf"^{name}: shapes \(3,\) and \(4,\) cannot broadcast"):
        getattr(cr, name)(cr.tensor(np.ones(3)), np.ones(4))


# ------------------------------------------------------------------ NumPy dispatch
NUMPY_CALLS: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
    "cos": (np.cos, lambda torch, x: torch.cos(x)),
    "log1p": (np.log1p, lambda torch, x: torch.log1p(x)),
    "square": (np.square, lambda torch, x: torch.square(x)),
    "reciprocal": (np.reciprocal, lambda torch, x: torch.reciprocal(x)),
    "rint": (np.rint, lambda torch, x: torch.round(x)),
    "round": (np.round, lambda torch, x: torch.round(x)),
    "sign": (np.sign, lambda torch, x: torch.sign(x)),
    "arctan2": (lambda x: np.arctan2(x, 2 * x + 1), lambda torch, x: torch.arctan2(x, 2 * x + 1)),
    "hypot": (lambda x: np.hypot(x, 2.0), lambda torch, x: torch.hypot(x, torch.full_like(x, 2.0))),
    "logaddexp": (lambda x: np.logaddexp(x, x * x), lambda torch, x: torch.logaddexp(x, x * x)),
    "mod": (lambda x: np.mod(x, 0.7), lambda torch, x: torch.remainder(x, 0.7)),
    "fmod": (lambda x: np.fmod(-x, 0.7), lambda torch, x: torch.fmod(-x, 0.7)),
}


@pytest.mark.parametrize("name", sorted(NUMPY_CALLS))
def test_numpy_function_on_a_tensor_returns_a_tensor_that_backpropagates(
    torch: ModuleType, name: str
) -> None:
    ours, theirs = NUMPY_CALLS[name]
    x = cr.tensor(np.array([0.3, 1.2, 2.9]), requires_grad=True)
    out = ours(x)
    assert isinstance(out, cr.Tensor)
    _against_torch(torch, ours, theirs, [[0.3, 1.2, 2.9]])


def test_numpy_round_with_decimals_rounds_as_numpy() -> None:
    rounded = np.round(cr.tensor(np.array([0.255, 0.245])), 2)
    assert isinstance(rounded, cr.Tensor)
    np.testing.assert_array_equal(rounded.numpy(), np.round(np.array([0.255, 0.245]), 2))


# ------------------------------------------------------------------ explain
def test_explain_reads_arcsin_and_hypot_with_their_derivatives() -> None:
    x = cr.tensor(np.array([0.25, -0.5]), requires_grad=True, name="x")
    y = cr.tensor(np.array([1.5, 2.0]), requires_grad=True, name="y")
    explanation = cr.explain((cr.arcsin(x) + cr.hypot(x, y)).sum(), x)
    assert [(s.name, s.formula) for s in explanation.steps[:2]] == [
        ("u1", "arcsin(x)"),
        ("u2", "hypot(x, y)"),
    ]
    rules = {(link.output, link.input): link.rule for link in explanation.links}
    assert rules[("u1", "x")] == "1 / sqrt(1 - x**2)"
    assert rules[("u2", "x")] == "x / hypot(x, y)"
    latex = explanation.to_latex()
    assert r"\frac{\partial\, \arcsin(x)}{\partial x} &= \frac{1}{\sqrt{1 - x^{2}}}" in latex
    assert explanation.passed


# One point inside each op's domain: explain checks every reading's vjp against finite
# differences there.
EXPLAINED: dict[str, tuple[Callable[..., Any], list[float]]] = {
    **{
        name: ((lambda x, name=name: getattr(x, name)()), [0.3, 0.6])
        for name in [
            "cos",
            "tan",
            "arcsin",
            "arccos",
            "arctan",
            "sinh",
            "cosh",
            "arcsinh",
            "arctanh",
            "exp2",
            "expm1",
            "square",
            "sign",
            "floor",
            "ceil",
            "round",
            "trunc",
        ]
    },
    **{
        name: ((lambda x, name=name: getattr(x, name)()), [1.3, 2.6])
        for name in ["arccosh", "log2", "log10", "log1p", "reciprocal", "rsqrt"]
    },
    **{
        name: ((lambda x, name=name: getattr(cr, name)(x, x * 0.4 + 0.45)), [1.3, 2.6])
        for name in ["arctan2", "logaddexp", "hypot", "fmod", "remainder"]
    },
    "lerp": ((lambda x: cr.lerp(x, x * x, x * 0.5)), [0.3, 1.6]),
}


@pytest.mark.parametrize("name", sorted(EXPLAINED))
def test_explain_checks_each_ops_local_derivative(name: str) -> None:
    function, values = EXPLAINED[name]
    x = cr.tensor(np.array(values), requires_grad=True, name="x")
    explanation = cr.explain(function(x).sum(), x)
    assert name in [step.op for step in explanation.steps]
    assert explanation.passed, str(explanation)


# ------------------------------------------------------------------ compile
def test_compiled_step_with_element_wise_math_replays_eager_bit_for_bit() -> None:
    weight = cr.tensor(np.array([0.3, -1.2, 0.8]), requires_grad=True)

    def loss(x: np.ndarray) -> cr.Tensor:
        inputs = cr.tensor(x)
        terms = (
            cr.logaddexp(inputs * weight, cr.hypot(inputs, weight))
            + cr.arctan2(inputs, weight * weight + 1)
            + (inputs * weight).floor() * weight
            + cr.lerp(inputs, weight, weight.sigmoid())
            + inputs % (weight * weight + 0.5)
            + (inputs * weight).cos().square().rsqrt()
        )
        return terms.sum()

    def step(x: np.ndarray) -> cr.Tensor:
        value = loss(x)
        value.backward()
        return value

    compiled = cr.compile(step)
    for x in np.random.default_rng(3).normal(size=(3, 3)):
        weight.grad = None
        replayed, replayed_grad = compiled(x).item(), weight.grad
        weight.grad = None
        eager, eager_grad = step(x).item(), weight.grad
        assert replayed == eager
        assert replayed_grad is not None
        assert eager_grad is not None
        np.testing.assert_array_equal(replayed_grad.numpy(), eager_grad.numpy())
