"""Forward mode: jvp and linearize (the vjp of the vjp) against torch.func.jvp and jacrev @ v;
jacfwd against jacrev; hessian, forward over reverse, against torch.autograd.functional."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from engine_cases import CASES, OpCase, op_inputs, relative_error
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule import functional as F

pytestmark = pytest.mark.torch

RNG = np.random.default_rng(14)
X = RNG.normal(size=(4, 3))
V = RNG.normal(size=(4, 3))
W = RNG.normal(size=(3, 2))
B = RNG.normal(size=(2,))
LABELS = np.array([0, 1, 1, 0])


@pytest.fixture(scope="module")
def torch_func(torch: ModuleType) -> ModuleType:
    """torch.func, warmed up: its first forward-mode call loads decompositions through
    torch.jit.script, which warns of its own deprecation (pytest turns warnings into errors)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.func.jvp(torch.sin, (torch.ones(1),), (torch.ones(1),))
    return torch.func


def _functions(torch: ModuleType) -> dict[str, tuple[Callable[..., Any], Callable[..., Any]]]:
    """name -> (ours, torch's) of one (4, 3) argument."""
    w, b, labels = torch.from_numpy(W), torch.from_numpy(B), torch.from_numpy(LABELS)
    column = torch.from_numpy(B[:1, None])
    return {
        "broadcasting": (
            lambda x: cr.tanh(x * B[:1, None] + x.sum(axis=0)),
            lambda x: torch.tanh(x * column + x.sum(dim=0)),
        ),
        "reused intermediate": (
            lambda x: (h := cr.exp(-x * x)) * h + h.sum(axis=1, keepdims=True),
            lambda x: (h := torch.exp(-x * x)) * h + h.sum(dim=1, keepdim=True),
        ),
        "matmul": (lambda x: cr.sigmoid(x @ W) @ W.T, lambda x: torch.sigmoid(x @ w) @ w.T),
        "softmax cross-entropy": (
            lambda x: F.cross_entropy(cr.softmax(x, axis=-1) @ W + B, LABELS),
            lambda x: torch.nn.functional.cross_entropy(torch.softmax(x, dim=-1) @ w + b, labels),
        ),
    }


NAMES = ["broadcasting", "reused intermediate", "matmul", "softmax cross-entropy"]


@pytest.mark.parametrize("name", NAMES)
def test_jvp_matches_torch_func_jvp(torch: ModuleType, torch_func: ModuleType, name: str) -> None:
    ours, theirs = _functions(torch)[name]
    value, tangent = cr.jvp(ours, (X,), (V,))
    expected_value, expected = torch_func.jvp(
        theirs, (torch.from_numpy(X),), (torch.from_numpy(V),)
    )
    assert relative_error(np.asarray(value), expected_value.numpy()) <= 1e-14
    assert relative_error(np.asarray(tangent), expected.numpy()) <= 1e-12


@pytest.mark.parametrize("name", NAMES)
def test_jvp_equals_the_reverse_jacobian_times_the_tangent(torch: ModuleType, name: str) -> None:
    ours, _ = _functions(torch)[name]
    _, tangent = cr.jvp(ours, (X,), (V,))
    jacobian = np.asarray(cr.jacrev(ours)(X))
    out_shape = jacobian.shape[: jacobian.ndim - X.ndim]
    expected = jacobian.reshape(*out_shape, X.size) @ V.reshape(-1)
    assert relative_error(np.asarray(tangent), expected) <= 1e-12


def test_jvp_of_two_arguments_sums_both_directions(
    torch: ModuleType, torch_func: ModuleType
) -> None:
    x, w = X, W
    dx, dw = V, RNG.normal(size=W.shape)
    _, ours = cr.jvp(lambda a, c: cr.tanh(a @ c), (x, w), (dx, dw))
    _, expected = torch_func.jvp(
        lambda a, c: torch.tanh(a @ c),
        (torch.from_numpy(x), torch.from_numpy(w)),
        (torch.from_numpy(dx), torch.from_numpy(dw)),
    )
    assert relative_error(np.asarray(ours), expected.numpy()) <= 1e-12


def test_jvp_keeps_float32(torch: ModuleType, torch_func: ModuleType) -> None:
    x, v = X.astype(np.float32), V.astype(np.float32)
    value, tangent = cr.jvp(lambda a: cr.exp(a) * a, (x,), (v,))
    _, expected = torch_func.jvp(
        lambda a: torch.exp(a) * a, (torch.from_numpy(x),), (torch.from_numpy(v),)
    )
    assert value.dtype == tangent.dtype == np.float32
    assert relative_error(np.asarray(tangent), expected.numpy()) <= 1e-6


def test_jvp_with_pytree_primals_returns_the_output_structure() -> None:
    # f({'w', 'b'}) = {'out': x @ w + b, 'norm': sum(w^2)}: the tangent out is
    # {'out': x @ dw + db, 'norm': 2 <w, dw>}.
    params = {"w": W, "b": B}
    direction = {"w": RNG.normal(size=W.shape), "b": RNG.normal(size=B.shape)}

    def f(p):
        return {"out": X @ p["w"] + p["b"], "norm": (p["w"] ** 2).sum()}

    _, tangent = cr.jvp(f, (params,), (direction,))
    assert sorted(tangent) == ["norm", "out"]
    expected_out = X @ direction["w"] + direction["b"]
    assert relative_error(np.asarray(tangent["out"]), expected_out) <= 1e-14
    expected_norm = 2 * np.sum(W * direction["w"])
    assert relative_error(np.asarray(tangent["norm"]), expected_norm) <= 1e-14


def test_jvp_of_a_constant_output_is_zero() -> None:
    _, tangent = cr.jvp(lambda a: cr.tensor(np.ones(2)) * 3.0, (X,), (V,))
    assert np.asarray(tangent).shape == (2,)
    assert np.all(np.asarray(tangent) == 0)


def test_jvp_of_the_identity_is_the_tangent() -> None:
    _, tangent = cr.jvp(lambda a: a, (X,), (V,))
    assert relative_error(np.asarray(tangent), V) == 0


def test_jvp_results_are_not_recorded_at_top_level() -> None:
    value, tangent = cr.jvp(lambda a: cr.tanh(a), (X,), (V,))
    assert not value.requires_grad
    assert not tangent.requires_grad


def test_jvp_nested_inside_grad_matches_torch(torch: ModuleType, torch_func: ModuleType) -> None:
    # d/dx sum(J(x) v) for f = tanh(x @ W): forward inside reverse, against torch.func.
    def ours(x):
        return cr.jvp(lambda a: cr.tanh(a @ W), (x,), (V,))[1].sum()

    def theirs(x):
        return torch_func.jvp(
            lambda a: torch.tanh(a @ torch.from_numpy(W)), (x,), (torch.from_numpy(V),)
        )[1].sum()

    expected = torch_func.grad(theirs)(torch.from_numpy(X))
    assert relative_error(np.asarray(cr.grad(ours)(X)), expected.numpy()) <= 1e-12


def test_jvp_is_differentiable_in_the_tangent() -> None:
    # J v is linear in v: d/dv sum(J v) = J^T 1.
    def f(a):
        return cr.tanh(a @ W)

    ours = cr.grad(lambda v: cr.jvp(f, (X,), (v,))[1].sum())(V)
    _, vjp_fn = cr.vjp(f, X)
    (expected,) = vjp_fn(np.ones((4, 2)))
    assert relative_error(np.asarray(ours), np.asarray(expected)) <= 1e-14


def test_jvp_with_has_aux_returns_the_aux_undifferentiated() -> None:
    _, tangent, aux = cr.jvp(lambda a: (a * a, {"mean": a.mean()}), (X,), (V,), has_aux=True)
    assert relative_error(np.asarray(tangent), 2 * X * V) <= 1e-15
    assert relative_error(np.asarray(aux["mean"]), X.mean()) <= 1e-15
    assert not aux["mean"].requires_grad


# ----------------------------------------------------------------- linearize
def test_linearize_evaluates_f_once_and_pushes_any_number_of_tangents(torch: ModuleType) -> None:
    calls = []

    def f(a):
        calls.append(1)
        return cr.sigmoid(a @ W)

    value, f_jvp = cr.linearize(f, X)
    tangents = [V, RNG.normal(size=X.shape), np.zeros(X.shape)]
    pushed = [np.asarray(f_jvp(t)) for t in tangents]
    assert len(calls) == 1
    for tangent, ours in zip(tangents, pushed, strict=True):
        _, expected = cr.jvp(f, (X,), (tangent,))
        assert relative_error(ours, np.asarray(expected)) <= 1e-15
    assert relative_error(np.asarray(value), 1 / (1 + np.exp(-X @ W))) <= 1e-15


def test_linearize_is_linear_in_the_tangent() -> None:
    _, f_jvp = cr.linearize(lambda a: cr.exp(a) * a.sum(), X)
    other = RNG.normal(size=X.shape)
    combined = np.asarray(f_jvp(2.0 * V - 3.0 * other))
    expected = 2.0 * np.asarray(f_jvp(V)) - 3.0 * np.asarray(f_jvp(other))
    assert relative_error(combined, expected) <= 1e-13


# ----------------------------------------------------------------- jacfwd, jacrev
@pytest.mark.parametrize("shape", [(), (3,), (2, 3), (2, 1, 3)], ids=lambda s: f"{len(s)}-d")
def test_jacfwd_equals_jacrev(shape: tuple[int, ...]) -> None:
    x = RNG.normal(size=shape)

    def f(a):
        return cr.tanh(a) * a.sum() + a**3

    forward = np.asarray(cr.jacfwd(f)(x))
    reverse = np.asarray(cr.jacrev(f)(x))
    assert forward.shape == reverse.shape == shape + shape
    assert relative_error(forward, reverse) <= 1e-14


def test_jacfwd_matches_torch_for_a_change_of_shape(torch: ModuleType) -> None:
    ours = cr.jacfwd(lambda a: cr.softmax(a @ W, axis=-1))(X)
    expected = torch.autograd.functional.jacobian(
        lambda a: torch.softmax(a @ torch.from_numpy(W), dim=-1), torch.from_numpy(X)
    )
    assert np.asarray(ours).shape == (4, 2, 4, 3)
    assert relative_error(np.asarray(ours), expected.numpy()) <= 1e-12


def test_jacfwd_with_tuple_argnums_gives_a_tuple_of_jacobians(torch: ModuleType) -> None:
    jacobian_x, jacobian_w = cr.jacfwd(lambda a, c: cr.tanh(a @ c), argnums=(0, 1))(X, W)
    expected_x, expected_w = torch.autograd.functional.jacobian(
        lambda a, c: torch.tanh(a @ c), (torch.from_numpy(X), torch.from_numpy(W))
    )
    assert relative_error(np.asarray(jacobian_x), expected_x.numpy()) <= 1e-12
    assert relative_error(np.asarray(jacobian_w), expected_w.numpy()) <= 1e-12


def test_jacobians_of_pytrees_nest_the_output_structure_outside_the_input_structure() -> None:
    # Ported from JAX's tests/api_test.py (jacobian on pytrees): d{'x': x, 'xy': x y^T}/dx.
    x, y = np.array([1.0, 2.0]), np.array([3.0, 4.0, 5.0])
    expected_xy = np.einsum("ik,j->ijk", np.eye(2), y)
    for transform in (cr.jacfwd, cr.jacrev):
        ours = transform(lambda a: {"x": a, "xy": a[:, None] * y})(x)
        assert relative_error(np.asarray(ours["x"]), np.eye(2)) == 0
        assert relative_error(np.asarray(ours["xy"]), expected_xy) == 0


def test_jacobian_is_jacrev() -> None:
    assert cr.jacobian is cr.jacrev


# ----------------------------------------------------------------- hessian
def test_hessian_forward_over_reverse_matches_torch(torch: ModuleType) -> None:
    def ours(x):
        return F.cross_entropy(cr.tanh(x) @ W + B, LABELS) + (x**4).sum()

    def theirs(x):
        logits = torch.tanh(x) @ torch.from_numpy(W) + torch.from_numpy(B)
        return torch.nn.functional.cross_entropy(logits, torch.from_numpy(LABELS)) + (x**4).sum()

    expected = torch.autograd.functional.hessian(theirs, torch.from_numpy(X))
    assert relative_error(np.asarray(cr.hessian(ours)(X)), expected.numpy()) <= 1e-12


def test_hessian_with_tuple_argnums_gives_the_nested_blocks(torch: ModuleType) -> None:
    def ours(a, c):
        return (cr.tanh(a @ c) ** 2).sum() + (c**3).sum()

    blocks = cr.hessian(ours, argnums=(0, 1))(X, W)
    expected = torch.autograd.functional.hessian(
        lambda a, c: (torch.tanh(a @ c) ** 2).sum() + (c**3).sum(),
        (torch.from_numpy(X), torch.from_numpy(W)),
    )
    shapes = [[np.asarray(block).shape for block in row] for row in blocks]
    assert shapes == [[(4, 3, 4, 3), (4, 3, 3, 2)], [(3, 2, 4, 3), (3, 2, 3, 2)]]
    for row, expected_row in zip(blocks, expected, strict=True):
        for block, expected_block in zip(row, expected_row, strict=True):
            assert relative_error(np.asarray(block), expected_block.numpy()) <= 1e-12


def test_hessian_of_a_quadratic_form_is_the_symmetrised_matrix() -> None:
    # Ported from HIPS autograd's tests/test_wrappers.py (test_hessian): x^T A x has Hessian
    # A + A^T.
    matrix = RNG.normal(size=(5, 5))
    ours = cr.hessian(lambda x: x @ matrix @ x)(RNG.normal(size=5))
    assert relative_error(np.asarray(ours), matrix + matrix.T) <= 1e-15


def test_hessian_contracted_with_a_tensor_is_the_hessian_vector_product() -> None:
    # Ported from HIPS autograd's tests/test_wrappers.py (test_hessian_tensor_product): for a
    # 3-d input, tensordot(H, V, 3) equals hvp(f, x, V).
    x, direction = RNG.normal(size=(3, 2, 2)), RNG.normal(size=(3, 2, 2))

    def f(a):
        return cr.tanh(a).sum()

    contracted = np.tensordot(np.asarray(cr.hessian(f)(x)), direction, axes=3)
    assert relative_error(contracted, np.asarray(cr.hvp(f, x, direction))) <= 1e-14


def test_hessian_of_a_vector_function_on_a_tuple() -> None:
    # Ported from JAX's tests/api_test.py (test_hessian_on_pytrees): the Hessian of
    # [x0^2, x1^2] with respect to the tuple (x0, x1) is a tuple of tuples of 2-vectors.
    ours = cr.hessian(lambda pair: cr.stack(pair) ** 2)((np.array(1.0), np.array(2.0)))
    expected = (([2.0, 0.0], [0.0, 0.0]), ([0.0, 0.0], [0.0, 2.0]))
    for row, expected_row in zip(ours, expected, strict=True):
        for block, expected_block in zip(row, expected_row, strict=True):
            assert relative_error(np.asarray(block), np.array(expected_block)) == 0


def test_hessian_with_has_aux_returns_the_aux() -> None:
    hessian, aux = cr.hessian(lambda x: ((x**3).sum(), x.max()), has_aux=True)(X[0])
    assert relative_error(np.asarray(hessian), np.diag(6 * X[0])) <= 1e-15
    assert relative_error(np.asarray(aux), X[0].max()) == 0


# ----------------------------------------------------------------- errors
def test_jvp_names_the_argument_and_both_shapes_of_a_mismatched_tangent() -> None:
    with pytest.raises(
        ValueError,
        match=r"jvp: the tangent for argument 1 has shape \(2,\) but the primal has shape "
        r"\(3, 2\)",
    ):
        cr.jvp(lambda a, c: a @ c, (X, W), (V, np.ones(2)))


def test_jvp_names_the_leaf_of_a_mismatched_pytree_tangent() -> None:
    with pytest.raises(
        ValueError,
        match=r"jvp: the tangent for argument 0\['w'\] has shape \(2, 3\) but the primal has "
        r"shape \(3, 2\)",
    ):
        cr.jvp(lambda p: p["w"].sum(), ({"w": W},), ({"w": np.ones((2, 3))},))


def test_jvp_refuses_a_tangent_of_another_structure() -> None:
    # Ported from JAX's tests/api_test.py (jvp mismatched arguments): structure must match.
    with pytest.raises(
        ValueError,
        match=r"jvp: the tangent for argument 0 has structure \[\*\] but the primal has "
        r"structure \(\*, \*\)",
    ):
        cr.jvp(lambda p: p[0] * p[1], ((X, X),), ([V],))


def test_jvp_refuses_bare_arrays_for_primals() -> None:
    with pytest.raises(TypeError, match=r"jvp: primals must be a tuple or list .* jvp\(f, \(x,\)"):
        cr.jvp(lambda a: a, X, V)


def test_linearize_refuses_a_wrong_number_of_tangents() -> None:
    _, f_jvp = cr.linearize(lambda a, c: a @ c, X, W)
    with pytest.raises(ValueError, match=r"linearize: 2 primals but 1 tangents"):
        f_jvp(V)


# ----------------------------------------------------------------- every op in the table
FLOAT64_CASES = [case for case in CASES if "casts" not in case.tags]


@pytest.mark.parametrize("case", FLOAT64_CASES, ids=[case.name for case in FLOAT64_CASES])
@settings(max_examples=3, deadline=None)
@given(data=st.data())
def test_every_op_has_forward_mode_matching_torch_func_jvp(
    torch: ModuleType, torch_func: ModuleType, case: OpCase, data: st.DataObject
) -> None:
    # Forward mode comes from each op's vjp, so an op added to the table is covered here.
    arrays, params = data.draw(op_inputs(case))
    rng = np.random.default_rng(3)
    tangents = tuple(rng.normal(size=array.shape) for array in arrays)
    _, ours = cr.jvp(lambda *xs: case.chainrule(*xs, **params), tuple(arrays), tangents)
    _, expected = torch_func.jvp(
        lambda *xs: case.torch(torch, *xs, **params),
        tuple(torch.from_numpy(array) for array in arrays),
        tuple(torch.from_numpy(tangent) for tangent in tangents),
    )
    tolerance = TORCH_JVP_TOLERANCE.get(case.name, 1e-12)
    assert relative_error(np.asarray(ours), expected.numpy(force=True)) <= tolerance, case.name


# PyTorch's own forward mode loses digits here: its logcumsumexp jvp has been seen 1.1e-10 off
# the exact softmax-weighted sum on drawn inputs, ours stays at 5e-16 (checked against the exact
# sum below).
TORCH_JVP_TOLERANCE = {"logcumsumexp": 1e-9}


def test_logcumsumexp_jvp_is_the_softmax_weighted_running_sum_to_rounding() -> None:
    # d logcumsumexp(x)_j = sum_{i <= j} softmax(x[:j + 1])_i t_i, summed here in long double.
    rng = np.random.default_rng(0)
    for _ in range(50):
        n = int(rng.integers(1, 8))
        x, t = rng.uniform(-2, 2, size=n), rng.normal(size=n)
        wide_x, wide_t = x.astype(np.longdouble), t.astype(np.longdouble)
        exact = []
        for j in range(n):
            weights = np.exp(wide_x[: j + 1] - wide_x[: j + 1].max())
            exact.append((weights * wide_t[: j + 1]).sum() / weights.sum())
        _, ours = cr.jvp(lambda a: cr.logcumsumexp(a, axis=0), (x,), (t,))
        assert relative_error(np.asarray(ours), np.array(exact, dtype=np.float64)) <= 4e-15
