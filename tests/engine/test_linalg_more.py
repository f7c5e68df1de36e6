"""Linear algebra (issue 14): dot with np.dot's rules on every rank pair, einsum against
torch.einsum (values, gradients, second order), the diagonal's read-only view, the errors,
the NumPy dispatch and Tensor methods, and cases ported from HIPS autograd's test suite.

The op table (engine_cases.CASES) covers each op against PyTorch in float32 and float64,
against finite differences and to second order; this file covers what the table cannot.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from engine_cases import numerical_grad, relative_error, torch_dot

import chainrule as cr
from chainrule.primitives.linalg_more import contraction_path

RNG_SEED = 20261130
SHAPE_OF_RANK_A = {0: (), 1: (3,), 2: (2, 3), 3: (2, 1, 3)}
SHAPE_OF_RANK_B = {0: (), 1: (3,), 2: (3, 4), 3: (2, 3, 1)}


def _draw(*shapes: tuple[int, ...], seed: int = RNG_SEED) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.uniform(-2.0, 2.0, size=shape) for shape in shapes]


def _leaves(arrays: list[np.ndarray]) -> list[cr.Tensor]:
    return [cr.tensor(array, requires_grad=True) for array in arrays]


def _assert_gradients_match_central_differences(
    function: Callable[..., cr.Tensor], arrays: list[np.ndarray]
) -> None:
    """Each input's gradient of <function(*inputs), w> against float64 central differences."""
    tensors = _leaves(arrays)
    out = function(*tensors)
    weights = np.random.default_rng(1).normal(size=out.shape)
    out.backward(weights)
    for position, tensor in enumerate(tensors):

        def weighted(point: np.ndarray, position: int = position) -> float:
            values = [point if i == position else a for i, a in enumerate(arrays)]
            with cr.no_grad():
                return float(np.sum(function(*(cr.tensor(v) for v in values)).numpy() * weights))

        expected = numerical_grad(weighted, arrays[position])
        assert tensor.grad is not None
        assert tensor.grad.shape == arrays[position].shape
        assert relative_error(tensor.grad.numpy(), expected, floor=1.0) <= 1e-7


# ------------------------------------------------------------------ dot
@pytest.mark.parametrize("rank_b", [0, 1, 2, 3])
@pytest.mark.parametrize("rank_a", [0, 1, 2, 3])
def test_np_dot_of_tensors_equals_np_dot_of_arrays_on_every_rank_pair(
    torch: ModuleType, rank_a: int, rank_b: int
) -> None:
    a, b = _draw(SHAPE_OF_RANK_A[rank_a], SHAPE_OF_RANK_B[rank_b])
    ours = _leaves([a, b])
    out = np.dot(*ours)
    expected = np.dot(a, b)
    assert isinstance(out, cr.Tensor)
    assert out.shape == np.shape(expected)
    assert relative_error(out.numpy(), expected) <= 1e-13

    theirs = [torch.tensor(x, requires_grad=True) for x in (a, b)]
    reference = torch_dot(torch, *theirs)
    cotangent = np.random.default_rng(0).normal(size=np.shape(expected))
    out.backward(cotangent)
    reference.backward(torch.from_numpy(cotangent))
    for tensor, torch_tensor in zip(ours, theirs, strict=True):
        assert tensor.grad is not None
        assert relative_error(tensor.grad.numpy(), torch_tensor.grad.numpy()) <= 1e-13


def test_dot_of_stacks_sums_over_a_last_and_b_second_to_last_axes_not_matmul_batches() -> None:
    a, b = _draw((2, 3, 4), (5, 4, 6))
    out = cr.dot(a, b)
    assert out.shape == (2, 3, 5, 6)
    np.testing.assert_allclose(out.numpy()[1, 2, 4, 5], np.sum(a[1, 2, :] * b[4, :, 5]))


# ------------------------------------------------------------------ einsum vs torch
EINSUM_SPECS: list[tuple[str, tuple[tuple[int, ...], ...]]] = [
    ("ij,jk->ik", ((2, 3), (3, 4))),  # matrix product
    ("bij,bjk->bik", ((3, 2, 4), (3, 4, 1))),  # batched product
    ("ii", ((4, 4),)),  # trace, implicit output
    ("ii->i", ((4, 4),)),  # diagonal
    ("i,j->ij", ((3,), (2,))),  # outer product
    ("ij,jk", ((2, 3), (3, 4))),  # implicit output: 'ik'
    ("ba,cb", ((2, 3), (4, 2))),  # implicit output sorted: 'ac'
    ("...ij,...jk->...ik", ((2, 1, 2, 3), (4, 3, 2))),  # ellipsis, broadcast batches
    ("i...,i...->...", ((3, 2), (3, 2))),  # ellipsis at the end
    ("ij,jk,kl->il", ((2, 3), (3, 4), (4, 2))),  # three operands
    ("iij,jk->ik", ((3, 3, 2), (2, 4))),  # repeated index within one operand
    ("iii->i", ((3, 3, 3),)),  # a label three times
    ("ij->j", ((1, 3),)),  # a size-1 axis summed
    ("ij,j->i", ((2, 1), (3,))),  # a size-1 axis broadcast against size 3
    ("ijk->kji", ((2, 3, 4),)),  # a permutation
]


@pytest.mark.parametrize(
    ("subscripts", "shapes"), EINSUM_SPECS, ids=[spec[0] for spec in EINSUM_SPECS]
)
def test_einsum_values_and_gradients_match_torch_einsum(
    torch: ModuleType, subscripts: str, shapes: tuple[tuple[int, ...], ...]
) -> None:
    arrays = _draw(*shapes)
    ours = _leaves(arrays)
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = cr.einsum(subscripts, *ours)
    reference = torch.einsum(subscripts, *theirs)
    expected = reference.detach().numpy()
    assert out.shape == expected.shape
    assert out.dtype == np.float64
    assert relative_error(out.numpy(), expected) <= 1e-13

    cotangent = np.random.default_rng(0).normal(size=expected.shape)
    out.backward(cotangent)
    reference.backward(torch.from_numpy(cotangent))
    for tensor, torch_tensor in zip(ours, theirs, strict=True):
        assert tensor.grad is not None
        assert tensor.grad.shape == tuple(torch_tensor.shape)
        assert relative_error(tensor.grad.numpy(), torch_tensor.grad.numpy()) <= 1e-13


@pytest.mark.parametrize(
    ("subscripts", "shapes"),
    [
        ("ij,jk->ik", ((2, 3), (3, 4))),
        ("ii->i", ((3, 3),)),
        ("i,i->", ((4,), (4,))),
        ("ij,jk,kl->il", ((2, 3), (3, 2), (2, 2))),
        ("iij,j->i", ((2, 2, 3), (3,))),
    ],
    ids=["product", "diagonal", "inner", "three", "repeated"],
)
def test_einsum_second_order_matches_torch(
    torch: ModuleType, subscripts: str, shapes: tuple[tuple[int, ...], ...]
) -> None:
    """The Hessian-vector product of <einsum(x, y, ...)**2, w>: the second derivative of an
    einsum goes through the einsums of its gradients."""
    arrays = _draw(*shapes)
    rng = np.random.default_rng(3)
    directions = [rng.normal(size=a.shape) for a in arrays]
    ours = _leaves(arrays)
    out = cr.einsum(subscripts, *ours)
    weights = rng.normal(size=out.shape)
    (out**2 * weights).sum().backward(create_graph=True)
    directional = cr.tensor(0.0, dtype=np.float64)
    for tensor, direction in zip(ours, directions, strict=True):
        assert tensor.grad is not None
        directional = directional + (tensor.grad * direction).sum()
        tensor.grad = None
    directional.backward()

    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    loss = (torch.einsum(subscripts, *theirs) ** 2 * torch.from_numpy(weights)).sum()
    first = torch.autograd.grad(loss, theirs, create_graph=True)
    torch_directional = sum(
        (g * torch.from_numpy(d)).sum() for g, d in zip(first, directions, strict=True)
    )
    expected = torch.autograd.grad(torch_directional, theirs)
    for tensor, reference in zip(ours, expected, strict=True):
        assert tensor.grad is not None
        assert relative_error(tensor.grad.numpy(), reference.numpy()) <= 1e-12


# ------------------------------------------------------------------ einsum's forms
def test_einsum_interleaved_form_equals_the_subscripts_form() -> None:
    a, b = _draw((2, 2, 3), (3, 4))
    out = cr.einsum(a, [Ellipsis, 0, 1], b, [1, 2], [Ellipsis, 0, 2])
    np.testing.assert_allclose(out.numpy(), np.einsum("...ij,jk->...ik", a, b), rtol=1e-13)


def test_einsum_ignores_spaces_in_subscripts_as_numpy_does() -> None:
    a, b = _draw((2, 3), (3, 4))
    out = cr.einsum(" ij , jk -> ik ", a, b)
    np.testing.assert_allclose(out.numpy(), a @ b, rtol=1e-13)


@pytest.mark.parametrize("optimize", [False, True, "greedy", "optimal"])
def test_einsum_gives_the_same_values_whatever_the_contraction_order(optimize: Any) -> None:
    arrays = _draw((2, 3), (3, 4), (4, 5))
    out = cr.einsum("ij,jk,kl->il", *arrays, optimize=optimize)
    np.testing.assert_allclose(out.numpy(), arrays[0] @ arrays[1] @ arrays[2], rtol=1e-13)


def test_einsum_follows_an_explicit_path_from_einsum_path() -> None:
    arrays = _draw((2, 3), (3, 4), (4, 5))
    path, _ = np.einsum_path("ij,jk,kl->il", *arrays, optimize="optimal")
    out = cr.einsum("ij,jk,kl->il", *arrays, optimize=path)
    np.testing.assert_allclose(out.numpy(), arrays[0] @ arrays[1] @ arrays[2], rtol=1e-13)


def test_einsum_of_float32_operands_stays_float32() -> None:
    a, b = (array.astype(np.float32) for array in _draw((2, 3), (3, 4)))
    x = cr.tensor(a, requires_grad=True)
    out = cr.einsum("ij,jk->ik", x, b)
    out.sum().backward()
    assert out.dtype == np.float32
    assert x.grad is not None
    assert x.grad.dtype == np.float32


def test_einsum_relabelling_owns_its_memory_so_writes_never_reach_the_operand() -> None:
    (a,) = _draw((3, 3))
    x = cr.tensor(a.copy())
    transposed = cr.einsum("ij->ji", x)
    transposed.add_(1.0)
    np.testing.assert_array_equal(x.numpy(), a)


# ------------------------------------------------------------------ diagonal's view
def test_diagonal_is_a_read_only_view_of_its_input_as_numpys() -> None:
    x = cr.tensor(np.arange(9.0).reshape(3, 3))
    view = x.diagonal()
    with cr.no_grad():
        x.add_(1.0)
    np.testing.assert_array_equal(view.numpy(), [1.0, 5.0, 9.0])
    assert not view.numpy().flags.writeable


def test_in_place_change_of_a_diagonal_is_refused_naming_the_fix() -> None:
    x = cr.tensor(np.eye(3))
    with pytest.raises(ValueError, match=r"^add_: .* read-only view.* change a copy"):
        x.diagonal().add_(1.0)
    np.testing.assert_array_equal(x.numpy(), np.eye(3))


def test_in_place_change_of_a_broadcast_view_is_refused_too() -> None:
    x = cr.tensor(np.zeros(3))
    with pytest.raises(ValueError, match=r"^setitem: .* read-only view"):
        x.broadcast_to((2, 3))[0, 0] = 1.0


def test_backward_changes_the_input_only_on_its_diagonal() -> None:
    (a,) = _draw((3, 4))
    x = cr.tensor(a, requires_grad=True)
    x.diagonal(1).sum().backward()
    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.numpy(), np.eye(3, 4, k=1))


# ------------------------------------------------------------------ triangles
def test_tril_and_triu_zero_entries_outside_even_where_they_are_infinite() -> None:
    values = np.array([[1.0, np.inf], [-np.inf, 2.0]])
    np.testing.assert_array_equal(cr.tril(values).numpy(), np.tril(values))
    np.testing.assert_array_equal(cr.triu(values).numpy(), np.triu(values))


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: cr.dot(np.ones((2, 3)), np.ones(4)),
            r"^dot: shapes \(2, 3\) and \(4,\) are not aligned: the last axis of a \(3\) must "
            r"match the last axis of b \(4\); transpose one",
        ),
        (
            lambda: cr.dot(np.ones((2, 3)), np.ones((2, 4, 5))),
            r"^dot: shapes \(2, 3\) and \(2, 4, 5\) are not aligned.*second-to-last",
        ),
        (
            lambda: cr.inner(np.ones((2, 3)), np.ones(4)),
            r"^inner: shapes \(2, 3\) and \(4,\) do not match in their last axes",
        ),
        (
            lambda: cr.tensordot(np.ones((2, 3)), np.ones((4, 5)), 1),
            r"^tensordot: shapes \(2, 3\) and \(4, 5\): axis 1 of a has size 3 but axis 0 of b",
        ),
        (
            lambda: cr.tensordot(np.ones((2, 3)), np.ones((3,)), 2),
            r"^tensordot: shapes \(2, 3\) and \(3,\): axes=2",
        ),
        (
            lambda: cr.tensordot(np.ones((2, 3)), np.ones((3,)), ((5,), (0,))),
            r"^tensordot: .*axis 5 is out of range",
        ),
        (
            lambda: cr.einsum("ij,jk->ik", np.ones((2, 3)), np.ones((4, 5))),
            r"^einsum: .*label 'j' has size 3 in operand 0 \(shape \(2, 3\)\) but 4 in operand 1",
        ),
        (
            lambda: cr.einsum("ij,jk", np.ones((2, 3))),
            r"^einsum: subscripts 'ij,jk' name 2 operand\(s\) but 1 were given",
        ),
        (
            lambda: cr.einsum("ijk", np.ones((2, 3))),
            r"^einsum: operand 0 has shape \(2, 3\) \(2 axes\) but its subscripts 'ijk' name 3",
        ),
        (
            lambda: cr.einsum("ii", np.ones((2, 3))),
            r"^einsum: .*repeats label 'i' over axes of sizes 2 and 3",
        ),
        (lambda: cr.einsum("ij->ik", np.ones((2, 3))), r"^einsum: .*'k' names no axis"),
        (lambda: cr.einsum("ij->ii", np.ones((2, 2))), r"^einsum: .*repeat 'i' in the output"),
        (lambda: cr.einsum("...i->i", np.ones((2, 3))), r"^einsum: .*no '\.\.\.'"),
        (lambda: cr.einsum("i2", np.ones((2, 3))), r"^einsum: .*letters and one '\.\.\.'"),
        (lambda: cr.einsum("ij", np.ones((2, 3)), optimize="fast"), r"^einsum: optimize='fast'"),
        (lambda: cr.trace(np.ones(3)), r"^trace: needs at least 2 dimensions"),
        (lambda: cr.diagonal(np.ones((2, 3)), 0, 1, -1), r"^diagonal: axis1 and axis2 name"),
        (lambda: cr.diagonal(np.ones((2, 3)), 0, 0, 2), r"^diagonal: axis 2 is out of range"),
        (lambda: cr.diag(np.ones((2, 2, 2))), r"^diag: the input has shape \(2, 2, 2\)"),
        (lambda: cr.tril(np.ones(3)), r"^tril: needs at least 2 dimensions"),
    ],
    ids=[
        "dot-2d",
        "dot-nd",
        "inner",
        "tensordot-sizes",
        "tensordot-count",
        "tensordot-range",
        "einsum-label-sizes",
        "einsum-operand-count",
        "einsum-rank",
        "einsum-diagonal-sizes",
        "einsum-unknown-output",
        "einsum-repeated-output",
        "einsum-missing-ellipsis",
        "einsum-characters",
        "einsum-optimize",
        "trace-1d",
        "diagonal-same-axes",
        "diagonal-axis-range",
        "diag-3d",
        "tril-1d",
    ],
)
def test_bad_shapes_raise_value_errors_naming_the_op_and_shapes(
    call: Callable[[], Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_numpy_arguments_chainrule_cannot_honour_are_refused_by_name() -> None:
    x = cr.tensor(np.ones((2, 2)), requires_grad=True)
    with pytest.raises(TypeError, match=r"^numpy\.einsum: out=<array of shape \(2,\)>"):
        np.einsum("ii->i", x, out=np.empty(2))
    with pytest.raises(TypeError, match=r"^numpy\.trace: dtype="):
        np.trace(x, dtype=np.float32)


# ------------------------------------------------------------------ exposure
NUMPY_CALLS: list[tuple[str, Callable[..., Any], int]] = [
    ("dot", lambda a, b: np.dot(a, b), 2),
    ("inner", lambda a, b: np.inner(a, b), 2),
    ("outer", lambda a, b: np.outer(a, b), 2),
    ("tensordot", lambda a, b: np.tensordot(a, b, axes=1), 2),
    ("einsum", lambda a, b: np.einsum("ij,jk", a, b), 2),
    ("kron", lambda a, b: np.kron(a, b), 2),
    ("trace", lambda a: np.trace(a, 1), 1),
    ("diagonal", lambda a: np.diagonal(a, -1), 1),
    ("diag", lambda a: np.diag(a, 1), 1),
    ("tril", lambda a: np.tril(a, -1), 1),
    ("triu", lambda a: np.triu(a, k=1), 1),
]


@pytest.mark.parametrize(("name", "call", "arity"), NUMPY_CALLS, ids=[c[0] for c in NUMPY_CALLS])
def test_numpy_functions_on_tensors_record_the_op_and_give_numpys_values(
    name: str, call: Callable[..., Any], arity: int
) -> None:
    arrays = _draw(*[(3, 3)] * arity)
    out = call(*_leaves(arrays))
    assert isinstance(out, cr.Tensor)
    assert out.requires_grad
    expected = call(*arrays)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-13)


METHODS: list[tuple[str, tuple[Any, ...]]] = [
    ("dot", ((3, 3),)),
    ("inner", ((3, 3),)),
    ("outer", ((3, 3),)),
    ("kron", ((3, 3),)),
    ("trace", (1,)),
    ("diagonal", (-1,)),
    ("diag", (1,)),
    ("tril", (-1,)),
    ("triu", (1,)),
]


@pytest.mark.parametrize(("name", "arguments"), METHODS, ids=[m[0] for m in METHODS])
def test_tensor_methods_equal_the_functions_of_the_same_name(
    name: str, arguments: tuple[Any, ...]
) -> None:
    (a,) = _draw((3, 3))
    others = [_draw(arg, seed=1)[0] if isinstance(arg, tuple) else arg for arg in arguments]
    method = getattr(cr.tensor(a), name)(*others)
    function = getattr(cr, name)(a, *others)
    np.testing.assert_array_equal(method.numpy(), function.numpy())


def test_explain_reads_einsum_with_its_subscripts_and_diagonal_with_its_offset() -> None:
    x = cr.tensor(np.ones((3, 3)), requires_grad=True, name="x")
    explanation = cr.explain((cr.einsum("ij,jk->ik", x, x).diagonal(1) * 1.0).sum(), x)
    formulas = {step.op: step.formula for step in explanation.steps}
    assert formulas["einsum"] == "einsum('ij,jk->ik', x, x)"
    assert formulas["diagonal"].endswith(".diagonal(1, 0, 1)")
    assert "FAILED" not in str(explanation)


# ------------------------------------------------------------------ ported cases
# From HIPS autograd's tests/test_numpy.py (test_dot, test_dot_with_floats, test_outer,
# test_trace*, test_diag, test_tril, test_triu, test_tensordot_kwargs_by_position) and
# tests/test_systematic.py (test_inner, test_kron, test_tensordot_1..6, test_einsum_*,
# test_einsum2_*, test_diag_flat, test_tril_3d), restated here: the shapes and arguments are
# theirs, the check is ours (every input's gradient against central differences).
PORTED: list[tuple[str, Callable[..., Any], tuple[tuple[int, ...], ...]]] = [
    ("dot-matrix-vector", np.dot, ((10, 11), (11,))),
    ("dot-matrix-matrix", np.dot, ((10, 11), (11, 10))),
    ("dot-vector-matrix", np.dot, ((10,), (10, 11))),
    ("dot-vector-vector", np.dot, ((11,), (11,))),
    ("dot-matrix-float", np.dot, ((10, 11), ())),
    ("dot-float-vector", np.dot, ((), (10,))),
    ("dot-stack-stack", np.dot, ((2, 2, 3), (2, 3, 4))),
    ("outer", np.outer, ((11,), (11,))),
    ("inner-matrix-matrix", np.inner, ((2, 3), (4, 3))),
    ("inner-float-vector", np.inner, ((), (3,))),
    ("kron-5x5-3x3", np.kron, ((5, 5), (3, 3))),
    ("kron-4x4-2x2", np.kron, ((4, 4), (2, 2))),
    ("tensordot-1", lambda a, b: np.tensordot(a, b, axes=((1,), (0,))), ((2, 3, 2), (3, 4, 2))),
    ("tensordot-2", lambda a, b: np.tensordot(a, b, axes=((0,), (1,))), ((3, 1), (1, 3))),
    (
        "tensordot-3",
        lambda a, b: np.tensordot(a, b, axes=((1, 0), (2, 1))),
        ((2, 3, 4), (2, 2, 3, 4)),
    ),
    ("tensordot-4", lambda a, b: np.tensordot(a, b, axes=2), ((4, 2, 2), (2, 2, 4))),
    ("tensordot-5", lambda a, b: np.tensordot(a, b, axes=0), ((4,), ())),
    ("tensordot-6", lambda a, b: np.tensordot(a, b, axes=((-1,), (0,))), ((2, 6), (6, 3))),
    ("einsum-transpose", lambda a: np.einsum("ij->ji", a), ((3, 4),)),
    ("einsum-covsum", lambda a, b: np.einsum("ijk,lji->lki", a, b), ((3, 4, 4), (4, 4, 3))),
    (
        "einsum-three-args",
        lambda a, b, c: np.einsum("ijk,lji,lli->lki", a, b, c),
        ((3, 4, 4), (4, 4, 3), (4, 4, 3)),
    ),
    ("einsum-ellipses", lambda a, b: np.einsum("...,...->...", a, b), ((4, 4), (3, 4, 4))),
    (
        "einsum-ellipses-tail",
        lambda a, b: np.einsum("jk...,lj...->lk...", a, b),
        ((3, 2, 4), (2, 3, 4)),
    ),
    (
        "einsum-ellipses-center",
        lambda a, b: np.einsum("j...k,lj...->lk...", a, b),
        ((2, 2, 2), (2, 2, 2)),
    ),
    (
        "einsum2-matmult-broadcast",
        lambda a, b: np.einsum(a, [Ellipsis, 0, 1], b, [Ellipsis, 1, 2], [Ellipsis, 0, 2]),
        ((2, 2, 3), (2, 3, 4)),
    ),
    (
        "einsum2-three-args",
        lambda a, b, c: np.einsum(a, [0, 1, 2], b, [3, 1, 0], c, [3, 3, 0], [3, 2, 0]),
        ((3, 4, 4), (4, 4, 3), (4, 4, 3)),
    ),
    ("trace-offset-1", lambda a: np.trace(a, offset=1), ((4, 5),)),
    ("trace-offset-minus-1", lambda a: np.trace(a, offset=-1), ((5, 4),)),
    ("trace-extra-dims", lambda a: np.trace(a, offset=1), ((3, 4, 5),)),
    ("diag-of-matrix", lambda a: np.diag(a, k=-1), ((5, 5),)),
    ("diag-flat", lambda a: np.diag(a, k=1), ((5,),)),
    ("tril", lambda a: np.tril(a, k=2), ((5, 5),)),
    ("triu", lambda a: np.triu(a, k=2), ((5, 5),)),
    ("tril-3d", lambda a: np.tril(a, k=-1), ((5, 5, 4),)),
    ("triu-3d", lambda a: np.triu(a, k=1), ((5, 5, 4),)),
]


@pytest.mark.parametrize(
    ("function", "shapes"), [p[1:] for p in PORTED], ids=[p[0] for p in PORTED]
)
def test_ported_autograd_case_gradients_match_central_differences(
    function: Callable[..., Any], shapes: tuple[tuple[int, ...], ...]
) -> None:
    arrays = _draw(*shapes)
    with cr.no_grad():
        out = function(*(cr.tensor(a) for a in arrays))
    np.testing.assert_allclose(out.numpy(), function(*arrays), rtol=1e-12, atol=1e-14)
    _assert_gradients_match_central_differences(function, arrays)


def test_tensordot_of_a_scalar_times_ones_with_itself_has_gradient_8_x() -> None:
    # Ported from autograd's test_tensordot_kwargs_by_position: axes given by position.
    def f(x: cr.Tensor) -> cr.Tensor:
        return np.tensordot(x * np.ones((2, 2)), x * np.ones((2, 2)), 2)

    assert cr.grad(f)(cr.tensor(1.5, dtype=np.float64)).item() == pytest.approx(8 * 1.5)


def test_a_compiled_step_replays_the_linear_algebra_ops_bit_for_bit() -> None:
    rng = np.random.default_rng(RNG_SEED)
    start = rng.normal(size=(3, 3))
    x = rng.normal(size=(3, 3))

    def run(compiled: bool) -> tuple[list[float], np.ndarray]:
        w = cr.tensor(start.copy(), requires_grad=True)
        optimizer = cr.optim.SGD([w], lr=0.1)

        def step(x: np.ndarray) -> cr.Tensor:
            optimizer.zero_grad()
            product = cr.einsum("ij,jk->ik", x, w).tril(-1) + cr.dot(x, w).triu()
            loss = (product.diagonal(-1) ** 2).sum() + cr.trace(w) + cr.kron(w, x).sum()
            loss = loss + cr.diag(cr.diag(w), 1).sum() + cr.tensordot(x, w, 1).sum()
            loss.backward()
            optimizer.step()
            return loss

        run_step = cr.compile(step) if compiled else step
        losses = [run_step(x).item() for _ in range(3)]
        return losses, w.numpy()

    compiled_losses, compiled_w = run(compiled=True)
    eager_losses, eager_w = run(compiled=False)
    assert compiled_losses == eager_losses
    np.testing.assert_array_equal(compiled_w, eager_w)


def test_einsum_above_the_single_loop_limit_contracts_pairwise_with_the_same_gradients(
    torch: ModuleType,
) -> None:
    shapes = ((20, 30), (30, 40), (40, 10))  # 240,000 multiply-adds in one loop
    assert contraction_path("ij,jk,kl->il", shapes, "greedy") is not False
    arrays = _draw(*shapes)
    ours = _leaves(arrays)
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = cr.einsum("ij,jk,kl->il", *ours)
    reference = torch.einsum("ij,jk,kl->il", *theirs)
    assert relative_error(out.numpy(), reference.detach().numpy()) <= 1e-13
    cotangent = np.random.default_rng(0).normal(size=out.shape)
    out.backward(cotangent)
    reference.backward(torch.from_numpy(cotangent))
    for tensor, torch_tensor in zip(ours, theirs, strict=True):
        assert tensor.grad is not None
        assert relative_error(tensor.grad.numpy(), torch_tensor.grad.numpy()) <= 1e-13
