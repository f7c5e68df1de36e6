"""Review of issue 14 (transforms, linear algebra, element-wise math): each test pins a defect
found by using the new ops as a user porting NumPy or PyTorch code would, so that it stays
fixed. One behaviour per test; PyTorch or NumPy is the reference where they agree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr

MATRIX = np.arange(12.0).reshape(3, 4)


# ------------------------------------------------------------------ whole-number arguments
@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda m: cr.diagonal(m, 1.5), "offset=1.5"),
        (lambda m: cr.diagonal(m, 0, 0.0, 1), "axis1=0.0"),
        (lambda m: cr.trace(m, 0.5), "offset=0.5"),
        (lambda m: cr.diag(m, 0.7), "k=0.7"),
        (lambda m: cr.diag(m[0], 1.0), "k=1.0"),
        (lambda m: cr.tril(m, -1.5), "k=-1.5"),
        (lambda m: cr.triu(m, 0.5), "k=0.5"),
        (lambda m: m.triu(np.float64(0.5)), "k=np.float64(0.5)"),
    ],
)
def test_a_fractional_offset_or_k_is_refused_instead_of_truncated(
    call: Callable[[cr.Tensor], cr.Tensor], argument: str
) -> None:
    # int(0.5) is 0, but np.triu(m, 0.5) keeps j - i >= 0.5, i.e. k = 1: truncating gave a
    # silently different triangle; NumPy's diagonal and PyTorch raise a TypeError instead.
    with pytest.raises(TypeError, match=argument.replace("(", r"\(").replace(")", r"\)")):
        call(cr.tensor(MATRIX))


def test_integer_like_offsets_are_accepted_as_numpy_accepts_them() -> None:
    tensor = cr.tensor(MATRIX)
    np.testing.assert_array_equal(
        cr.diagonal(tensor, np.int64(1)).numpy(), np.diagonal(MATRIX, np.int64(1))
    )
    np.testing.assert_array_equal(cr.tril(tensor, np.int32(-1)).numpy(), np.tril(MATRIX, -1))


# ------------------------------------------------------------------ NaN and inf inputs
EDGES = np.array([np.nan, np.inf, -np.inf, 0.0, 1.0, -2.0])
TWO_OPERAND_OPS = [
    ("arctan2", "atan2"),
    ("logaddexp", "logaddexp"),
    ("hypot", "hypot"),
    ("fmod", "fmod"),
    ("remainder", "remainder"),
]


def _grid(count: int) -> list[np.ndarray]:
    """Every combination of EDGES over `count` operands, one flat array per operand."""
    mesh = np.meshgrid(*([EDGES] * count), indexing="ij")
    return [axis.ravel() for axis in mesh]


def _assert_matches_torch_without_warning(
    ours: Callable[..., cr.Tensor], theirs: Callable[..., Any], arrays: list[np.ndarray], torch: Any
) -> None:
    # pytest turns warnings into errors, so a RuntimeWarning from NumPy fails here.
    tensors = [cr.tensor(array, requires_grad=True) for array in arrays]
    out = ours(*tensors)
    out.backward(np.ones(out.shape))
    references = [torch.tensor(array, requires_grad=True) for array in arrays]
    expected = theirs(*references)
    expected.backward(torch.ones_like(expected))
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-12)
    for tensor, reference in zip(tensors, references, strict=True):
        assert tensor.grad is not None
        np.testing.assert_allclose(tensor.grad.numpy(), reference.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize(("name", "torch_name"), TWO_OPERAND_OPS)
def test_two_operand_ops_pass_nan_and_inf_on_as_torch_without_a_warning(
    name: str, torch_name: str, torch: Any
) -> None:
    # Was: logaddexp warned on any NaN input (NumPy's logaddexp flags it), arctan2's gradient
    # on an infinite input (inf / inf).
    _assert_matches_torch_without_warning(
        getattr(cr, name), getattr(torch, torch_name), _grid(2), torch
    )


def test_lerp_passes_nan_and_inf_on_as_torch_without_a_warning(torch: Any) -> None:
    # Was: inf - inf warned in the forward (end - start) and in the weight's gradient.
    _assert_matches_torch_without_warning(cr.lerp, torch.lerp, _grid(3), torch)


# ------------------------------------------------------------------ einsum's explicit paths
THREE_OPERANDS = [np.arange(6.0).reshape(2, 3), np.ones((3, 4)), np.arange(20.0).reshape(4, 5)]


def test_einsum_follows_an_explicit_path_written_with_lists_as_numpy_does() -> None:
    # Was: TypeError "unhashable type: 'list'" from the contraction-path cache.
    path = ["einsum_path", [1, 2], [0, 1]]
    out = cr.einsum("ij,jk,kl->il", *THREE_OPERANDS, optimize=path)
    expected = np.einsum("ij,jk,kl->il", *THREE_OPERANDS, optimize=path)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-15)


@pytest.mark.parametrize(
    "path",
    [
        ["einsum_path", (0, 5)],  # NumPy: IndexError from deep inside
        ["einsum_path", (0, 1)],  # NumPy: RuntimeError, one operand left over
        ["einsum_path", (0, 0), (0, 1)],
        ["einsum_path", (0, 1), (0, 1), (0, 1)],
    ],
)
def test_einsum_refuses_a_path_that_does_not_contract_its_operands_naming_it(
    path: list[Any],
) -> None:
    with pytest.raises(ValueError, match=r"einsum: optimize=.* is not a contraction path for 3"):
        cr.einsum("ij,jk,kl->il", *THREE_OPERANDS, optimize=path)


# ------------------------------------------------------------------ hvp on pytrees
def test_hvp_of_a_dict_argument_matches_torch_and_keeps_the_structure(torch: Any) -> None:
    # Was: TypeError "cannot make a tensor from data of dtype object" from as_tensor, though
    # the README lets every transform take pytrees.
    weights = np.array([0.5, -1.0, 2.0])
    scale = np.array([[0.3], [-0.7]])
    direction = {"w": np.array([1.0, 0.5, -2.0]), "s": np.array([[0.2], [1.5]])}

    def ours(p: dict[str, Any]) -> cr.Tensor:
        return cr.logaddexp(cr.einsum("i,jk->ij", p["w"], p["s"]), p["w"][:, None] ** 2).sum()

    def theirs(w: Any, s: Any) -> Any:
        return torch.logaddexp(torch.einsum("i,jk->ij", w, s), w[:, None] ** 2).sum()

    result = cr.hvp(ours, {"w": weights, "s": scale}, direction)
    _, expected = torch.autograd.functional.hvp(
        theirs,
        (torch.tensor(weights), torch.tensor(scale)),
        (torch.tensor(direction["w"]), torch.tensor(direction["s"])),
    )
    assert set(result) == {"w", "s"}
    for key, reference in zip(("w", "s"), expected, strict=True):
        assert result[key].shape == reference.shape
        np.testing.assert_allclose(result[key].numpy(), reference.numpy(), rtol=1e-12)


def test_hvp_refuses_a_direction_of_another_structure_naming_both() -> None:
    with pytest.raises(ValueError, match=r"hvp: v has structure \{'b': \*\} but x has"):
        cr.hvp(lambda p: (p["a"] ** 3).sum(), {"a": np.ones(2)}, {"b": np.ones(2)})


def test_hvp_refuses_a_direction_leaf_of_another_shape_naming_its_path() -> None:
    with pytest.raises(ValueError, match=r"hvp: v\['a'\] has shape \(3,\) but x\['a'\] has"):
        cr.hvp(lambda p: (p["a"] ** 3).sum(), {"a": np.ones(2)}, {"a": np.ones(3)})


# ------------------------------------------------------------------ argnums
def _product(x: Any, y: Any) -> cr.Tensor:
    return (cr.sin(x) * y).sum()


@pytest.mark.parametrize(
    "transform", [cr.grad, cr.jacrev, cr.jacfwd], ids=["grad", "jacrev", "jacfwd"]
)
def test_a_numpy_integer_argnums_gives_one_gradient_as_an_int_does(
    transform: Callable[..., Any],
) -> None:
    # As JAX (operator.index); was: TypeError "'numpy.int64' object is not iterable".
    x, y = np.array([0.5, -1.0]), np.array([2.0, 3.0])
    ours = transform(_product, argnums=np.int64(1))(x, y)
    expected = transform(_product, argnums=1)(x, y)
    assert isinstance(ours, cr.Tensor)
    np.testing.assert_array_equal(ours.numpy(), expected.numpy())


def test_argnums_that_are_not_integers_are_refused_naming_them() -> None:
    with pytest.raises(TypeError, match=r"grad: argnums=1.0 must be an int or a tuple of ints"):
        cr.grad(_product, argnums=1.0)(np.ones(2), np.ones(2))


# ------------------------------------------------------------------ arguments changed later
def test_vjp_fn_reads_the_arguments_as_they_were_when_vjp_was_called() -> None:
    # JAX's arrays cannot change; ours can. Was: the leaf shared the caller's array, so an
    # in-place update before vjp_fn ran gave cos(2) silently.
    x = np.array([0.5, 1.0])
    _, vjp_fn = cr.vjp(cr.sin, x)
    x[:] = 2.0
    (gradient,) = vjp_fn(np.ones(2))
    np.testing.assert_allclose(gradient.numpy(), np.cos([0.5, 1.0]), rtol=1e-15)


def test_linearize_pushes_tangents_at_the_arguments_as_they_were() -> None:
    # Was: x * x's recorded vjp read the caller's array, so f_jvp(1) gave 2 * 2.0 after x
    # changed in place, instead of 2 * x.
    x = np.array([0.5, 1.0])
    _, f_jvp = cr.linearize(lambda v: v * v, x)
    x[:] = 2.0
    np.testing.assert_allclose(f_jvp(np.ones(2)).numpy(), [1.0, 2.0], rtol=1e-15)


def test_vjp_of_a_constant_tensor_is_not_changed_by_an_in_place_update_of_it() -> None:
    tensor = cr.tensor(np.array([0.5, 1.0]))
    _, vjp_fn = cr.vjp(cr.sin, tensor)
    tensor += 1.0
    (gradient,) = vjp_fn(np.ones(2))
    np.testing.assert_allclose(gradient.numpy(), np.cos([0.5, 1.0]), rtol=1e-15)
