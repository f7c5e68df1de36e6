"""Shape and joining ops at the settings the op table's random cases rarely draw, against
PyTorch autograd in float64: negative axes, -1 in reshape, uneven splits and chunks, pads
wider than one entry, rolls over several axes, tril/triu/diagonal offsets, cumprod through
zeros (first and second order), sort/topk with tied values, and views of views written in
place after an op saved them (the version counter)."""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from functools import reduce
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import chainrule as cr

pytestmark = pytest.mark.torch

RNG = np.random.default_rng(20261202)
# 1 and 3 tie within a row, 0 and -1 tie in the second
TIES = np.array([[1.0, 3.0, 1.0, 2.0, 3.0, 1.0], [0.0, 0.0, 0.0, -1.0, -1.0, 2.0]])


def _with_zeros(shape: tuple[int, ...], where: Sequence[tuple[int, ...]]) -> np.ndarray:
    values = RNG.normal(size=shape)
    for position in where:
        values[position] = 0.0
    return values


# one zero, two zeros and a leading zero in a row; a column with zeros for axis 0
ZEROS = _with_zeros((3, 5), [(0, 1), (1, 1), (1, 3), (2, 0)])
LEADING_ZEROS = np.array([0.0, 0.0, 2.0, 3.0])

Ours = Callable[..., Any]
Theirs = Callable[..., Any]  # (torch, *tensors)
CASES: list[tuple[str, list[np.ndarray], Ours, Theirs]] = []


def case(name: str, inputs: Sequence[Any], ours: Ours, theirs: Theirs) -> None:
    arrays = [x if isinstance(x, np.ndarray) else RNG.normal(size=x) for x in inputs]
    CASES.append((name, arrays, ours, theirs))


def _torch_pad(torch: ModuleType, x: Any, widths: tuple[int, ...], mode: str) -> Any:
    """torch's reflect/replicate pad the last dims of a batched tensor: add and drop a batch."""
    return torch.nn.functional.pad(x[None], widths, mode=mode)[0]


S = (2, 3, 4)
# ---------------------------------------------------------------- reshaping and axes
case("reshape -1 first", [S], lambda x: x.reshape(-1, 2), lambda t, x: x.reshape(-1, 2))
case("reshape -1 middle", [S], lambda x: x.reshape(3, -1, 4), lambda t, x: x.reshape(3, -1, 4))
case("view -1", [S], lambda x: x.view(4, -1), lambda t, x: x.view(4, -1))
case("transpose negative", [S], lambda x: x.transpose(-1, 0, -2), lambda t, x: x.permute(-1, 0, -2))
case("swapaxes negative", [S], lambda x: x.swapaxes(-1, 0), lambda t, x: x.transpose(-1, 0))
case(
    "moveaxis several negative",
    [(2, 3, 4, 5)],
    lambda x: x.moveaxis((-1, -3), (0, 2)),
    lambda t, x: x.movedim((-1, -3), (0, 2)),
)
case("squeeze -1", [(2, 1, 3, 1)], lambda x: x.squeeze(-1), lambda t, x: x.squeeze(-1))
case(
    "squeeze tuple",
    [(1, 2, 1, 3, 1)],
    lambda x: x.squeeze((0, -1)),
    lambda t, x: x.squeeze((0, -1)),
)
case("unsqueeze -1", [S], lambda x: x.unsqueeze(-1), lambda t, x: x.unsqueeze(-1))
case("unsqueeze -2", [S], lambda x: x.unsqueeze(-2), lambda t, x: x.unsqueeze(-2))
case("unsqueeze -(ndim+1)", [S], lambda x: x.unsqueeze(-4), lambda t, x: x.unsqueeze(-4))
case("flatten inner", [(2, 3, 4, 5)], lambda x: x.flatten(1, -2), lambda t, x: x.flatten(1, -2))
case("narrow -1", [(3, 4)], lambda x: x.narrow(-1, 1, 2), lambda t, x: x.narrow(-1, 1, 2))
# ---------------------------------------------------------------- joining and splitting
case(
    "concatenate axis -1",
    [(2, 3), (2, 5)],
    lambda a, b: cr.concatenate([a, b], axis=-1),
    lambda t, a, b: t.cat([a, b], -1),
)
case(
    "concatenate one input thrice",
    [(2, 3)],
    lambda a: cr.concatenate([a, a * 2, a]),
    lambda t, a: t.cat([a, a * 2, a]),
)
case(
    "stack axis -2",
    [(2, 3), (2, 3)],
    lambda a, b: cr.stack([a, b, a], axis=-2),
    lambda t, a, b: t.stack([a, b, a], -2),
)
case(
    "stack axis ndim",
    [(2, 3), (2, 3)],
    lambda a, b: cr.stack([a, b], 2),
    lambda t, a, b: t.stack([a, b], 2),
)
case(
    "array_split uneven",
    [(7, 3)],
    lambda x: x.array_split(3),
    lambda t, x: list(t.tensor_split(x, 3)),
)
case(
    "array_split more parts than entries",
    [(3, 2)],
    lambda x: x.array_split(5),
    lambda t, x: list(t.tensor_split(x, 5)),
)
case(
    "split at indices, axis -1",
    [(3, 7)],
    lambda x: x.split([1, 4], axis=-1),
    lambda t, x: list(t.tensor_split(x, [1, 4], dim=-1)),
)
case(
    "split with an empty part",
    [(5, 2)],
    lambda x: x.split([2, 2, 4]),
    lambda t, x: list(t.tensor_split(x, [2, 2, 4])),
)
case("chunk uneven", [(7, 3)], lambda x: x.chunk(3), lambda t, x: list(t.chunk(x, 3)))
case("chunk 6 into 4 (3 parts)", [(6, 3)], lambda x: x.chunk(4), lambda t, x: list(t.chunk(x, 4)))
case(
    "chunk dim -1", [(3, 5)], lambda x: x.chunk(2, dim=-1), lambda t, x: list(t.chunk(x, 2, dim=-1))
)
case(
    "chunk, first part unused",
    [(6, 3)],
    lambda x: x.chunk(3)[1:],
    lambda t, x: list(t.chunk(x, 3))[1:],
)
case("unbind -1", [(3, 4)], lambda x: list(x.unbind(-1)), lambda t, x: list(x.unbind(-1)))
# ---------------------------------------------------------------- pad, flip, roll, repeat
case(
    "pad constant uneven",
    [(2, 3)],
    lambda x: x.pad(((1, 2), (0, 3)), constant_values=1.5),
    lambda t, x: t.nn.functional.pad(x, (0, 3, 1, 2), value=1.5),
)
case(
    "pad reflect uneven",
    [(4, 5)],
    lambda x: x.pad(((2, 1), (3, 1)), mode="reflect"),
    lambda t, x: _torch_pad(t, x, (3, 1, 2, 1), "reflect"),
)
case(
    "pad reflect widest (size - 1)",
    [(3, 4)],
    lambda x: x.pad(((2, 2), (3, 3)), mode="reflect"),
    lambda t, x: _torch_pad(t, x, (3, 3, 2, 2), "reflect"),
)
case(
    "pad edge wider than the tensor",
    [(2, 2)],
    lambda x: x.pad(((3, 4), (5, 1)), mode="edge"),
    lambda t, x: _torch_pad(t, x, (5, 1, 3, 4), "replicate"),
)
case(
    "pad reflect 3-D",
    [(3, 4, 5)],
    lambda x: x.pad(((1, 2), (3, 0), (2, 4)), mode="reflect"),
    lambda t, x: _torch_pad(t, x[None], (2, 4, 3, 0, 1, 2), "reflect")[0],
)
case("flip all", [S], lambda x: x.flip(), lambda t, x: x.flip((0, 1, 2)))
case("flip negative", [S], lambda x: x.flip((-1, 0)), lambda t, x: x.flip((-1, 0)))
case("roll -1", [S], lambda x: x.roll(-1, axis=1), lambda t, x: x.roll(-1, 1))
case(
    "roll two axes",
    [S],
    lambda x: x.roll((2, -5), axis=(0, -1)),
    lambda t, x: x.roll((2, -5), (0, -1)),
)
case("roll flattened", [S], lambda x: x.roll(-7), lambda t, x: x.roll(-7))
case("roll past the size", [S], lambda x: x.roll(13, axis=2), lambda t, x: x.roll(13, 2))
case(
    "roll one shift, two axes",
    [S],
    lambda x: x.roll(1, axis=(0, 2)),
    lambda t, x: x.roll((1, 1), (0, 2)),
)
case(
    "repeat counts with a zero",
    [(3, 2)],
    lambda x: x.repeat([1, 0, 2], axis=0),
    lambda t, x: x.repeat_interleave(t.tensor([1, 0, 2]), 0),
)
case("repeat flattened", [(2, 3)], lambda x: x.repeat(2), lambda t, x: x.repeat_interleave(2))
case("tile more reps", [(2, 3)], lambda x: x.tile((2, 1, 3)), lambda t, x: x.tile((2, 1, 3)))
case("tile fewer reps", [S], lambda x: x.tile((2, 1)), lambda t, x: x.tile((2, 1)))
case(
    "broadcast_to new axes",
    [(3, 1)],
    lambda x: x.broadcast_to((2, 3, 4)),
    lambda t, x: x.expand(2, 3, 4),
)
case("broadcast_to from 0-d", [()], lambda x: x.broadcast_to((2, 3)), lambda t, x: x.expand(2, 3))
case("expand_as", [(3, 1), S], lambda x, y: x.expand_as(y), lambda t, x, y: x.expand_as(y))
# ---------------------------------------------------------------- triangles and diagonals
for k in (-2, -1, 1, 5):
    case(f"tril {k}", [(4, 5)], lambda x, k=k: cr.tril(x, k), lambda t, x, k=k: t.tril(x, k))
    case(
        f"triu {k} batched",
        [(2, 4, 5)],
        lambda x, k=k: cr.triu(x, k),
        lambda t, x, k=k: t.triu(x, k),
    )
for offset in (-3, -1, 1, 4, 6):
    case(
        f"diagonal {offset}",
        [(4, 5)],
        lambda x, o=offset: cr.diagonal(x, o),
        lambda t, x, o=offset: t.diagonal(x, o),
    )
    case(
        f"trace {offset}",
        [(4, 5)],
        lambda x, o=offset: cr.trace(x, o),
        lambda t, x, o=offset: t.diagonal(x, o).sum(),
    )
case(
    "diagonal axes (-1, 0)",
    [(3, 4, 5)],
    lambda x: cr.diagonal(x, 1, -1, 0),
    lambda t, x: t.diagonal(x, 1, -1, 0),
)
case(
    "diagonal axes (2, 1)",
    [(3, 4, 5)],
    lambda x: x.diagonal(-1, 2, 1),
    lambda t, x: t.diagonal(x, -1, 2, 1),
)
case(
    "trace of a stack",
    [(3, 4, 5)],
    lambda x: cr.trace(x, 0, 1, 2),
    lambda t, x: t.diagonal(x, 0, 1, 2).sum(-1),
)
# ---------------------------------------------------------------- scans
case("cumsum -1", [S], lambda x: x.cumsum(-1), lambda t, x: x.cumsum(-1))
case("cumsum flattened", [S], lambda x: x.cumsum(), lambda t, x: x.flatten().cumsum(0))
case("cumprod zeros along rows", [ZEROS], lambda x: x.cumprod(1), lambda t, x: x.cumprod(1))
case("cumprod zeros along columns", [ZEROS], lambda x: x.cumprod(0), lambda t, x: x.cumprod(0))
case("cumprod zeros flattened", [ZEROS], lambda x: x.cumprod(), lambda t, x: x.flatten().cumprod(0))
case("cumprod leading zeros", [LEADING_ZEROS], lambda x: x.cumprod(0), lambda t, x: x.cumprod(0))
case("cumprod all zeros", [np.zeros((2, 3))], lambda x: x.cumprod(-1), lambda t, x: x.cumprod(-1))
# ---------------------------------------------------------------- sorting with ties (stable)
case("sort ties", [TIES], lambda x: x.sort(-1), lambda t, x: t.sort(x, dim=-1, stable=True).values)
case(
    "sort ties descending",
    [TIES],
    lambda x: x.sort(-1, descending=True),
    lambda t, x: t.sort(x, dim=-1, descending=True, stable=True).values,
)
case(
    "sort ties axis 0",
    [TIES],
    lambda x: x.sort(0),
    lambda t, x: t.sort(x, dim=0, stable=True).values,
)
case(
    "sort ties flattened",
    [TIES],
    lambda x: x.sort(None),
    lambda t, x: t.sort(x.flatten(), stable=True).values,
)


@pytest.mark.parametrize(("name", "arrays", "ours", "theirs"), CASES, ids=[c[0] for c in CASES])
def test_values_and_gradients_match_torch(
    torch: ModuleType, name: str, arrays: list[np.ndarray], ours: Ours, theirs: Theirs
) -> None:
    mine = [cr.tensor(a, requires_grad=True) for a in arrays]
    reference = [torch.tensor(a, requires_grad=True) for a in arrays]
    outs, expected = ours(*mine), theirs(torch, *reference)
    outs = outs if isinstance(outs, list) else [outs]
    expected = expected if isinstance(expected, list) else [expected]
    assert len(outs) == len(expected)
    losses, torch_losses = [], []
    for out, want in zip(outs, expected, strict=True):
        assert out.shape == tuple(want.shape)
        assert out.dtype == np.float64
        np.testing.assert_allclose(out.numpy(), want.detach().numpy(), rtol=1e-13, atol=0)
        cotangent = RNG.normal(size=out.shape)
        losses.append((out * cotangent).sum())
        torch_losses.append((want * torch.from_numpy(cotangent)).sum())
    reduce(operator.add, losses).backward()
    reduce(operator.add, torch_losses).backward()
    for leaf, torch_leaf in zip(mine, reference, strict=True):
        if torch_leaf.grad is None:  # only read for its shape (expand_as's other)
            assert leaf.grad is None or not np.any(leaf.grad.numpy())
            continue
        assert leaf.grad is not None
        np.testing.assert_allclose(
            leaf.grad.numpy(), torch_leaf.grad.numpy(), rtol=1e-12, atol=1e-15, err_msg=name
        )


@pytest.mark.parametrize(
    ("k", "axis", "largest"), [(3, -1, True), (2, -1, False), (1, 0, True), (6, -1, False)]
)
def test_topk_of_tied_values_matches_torch_and_routes_each_gradient_to_its_index(
    torch: ModuleType, k: int, axis: int, largest: bool
) -> None:
    # Among tied values torch leaves the order of the indices open, so compare the values
    # and the set of indices chosen, and check that each library's gradient lands where its
    # own indices say.
    x = cr.tensor(TIES, requires_grad=True)
    reference = torch.tensor(TIES, requires_grad=True)
    values, indices = x.topk(k, axis=axis, largest=largest)
    torch_values, torch_indices = torch.topk(reference, k, dim=axis, largest=largest)
    np.testing.assert_array_equal(values.numpy(), torch_values.detach().numpy())
    assert indices.dtype == np.int64
    np.testing.assert_array_equal(
        np.sort(indices.numpy(), axis=axis), np.sort(torch_indices.numpy(), axis=axis)
    )
    cotangent = RNG.normal(size=values.shape)
    (values * cotangent).sum().backward()
    assert x.grad is not None
    expected = np.zeros_like(TIES)
    np.put_along_axis(expected, indices.numpy(), cotangent, axis=axis)
    np.testing.assert_array_equal(x.grad.numpy(), expected)


@pytest.mark.parametrize(("array", "axis"), [(ZEROS, 1), (ZEROS, 0), (LEADING_ZEROS, 0)])
def test_cumprod_through_zeros_has_torchs_hessian_vector_product(
    torch: ModuleType, array: np.ndarray, axis: int
) -> None:
    cotangent, direction = RNG.normal(size=array.shape), RNG.normal(size=array.shape)
    x = cr.tensor(array, requires_grad=True)
    (x.cumprod(axis) * cotangent).sum().backward(create_graph=True)
    assert x.grad is not None
    gradient, x.grad = x.grad, None
    (gradient * direction).sum().backward()
    reference = torch.tensor(array, requires_grad=True)
    (torch_gradient,) = torch.autograd.grad(
        (reference.cumprod(axis) * torch.from_numpy(cotangent)).sum(),
        [reference],
        create_graph=True,
    )
    (torch_gradient * torch.from_numpy(direction)).sum().backward()
    np.testing.assert_allclose(gradient.numpy(), torch_gradient.detach().numpy(), rtol=1e-12)
    assert x.grad is not None
    np.testing.assert_allclose(x.grad.numpy(), reference.grad.numpy(), rtol=1e-12, atol=1e-15)


def _written_after_saving(library: Any, write: Callable[[Any], Any]) -> Any:
    """x * d with d (no gradient) then changed in place through `write`; x's gradient."""
    data = RNG.normal(size=(3, 4))
    x = library.tensor(data, requires_grad=True)
    d = library.tensor(data * 2)
    product = x * d
    write(d)
    product.sum().backward()
    return x.grad


# views of views of the saved operand: each write must bump the version the op saved
WRITES: list[tuple[str, Callable[[Any], Any]]] = [
    ("slice of a slice", lambda d: d[1:][:, 1:].mul_(2)),
    ("row of a transpose of a transpose", lambda d: d.T.T[1].mul_(2)),
    ("part of a flat reshape", lambda d: d.reshape(-1)[3:5].mul_(0)),
    ("setitem on a slice", lambda d: d[0:2].__setitem__((0, 0), 9.0)),
    ("squeeze of an unsqueeze", lambda d: d.unsqueeze(0).squeeze(0)[2].add_(1)),
    ("column of a narrow", lambda d: d.narrow(1, 1, 2)[:, 0].mul_(3)),
]


@pytest.mark.parametrize("write", [w for _, w in WRITES], ids=[n for n, _ in WRITES])
def test_a_write_through_a_view_of_a_view_of_a_saved_operand_is_refused_as_torch_does(
    torch: ModuleType, write: Callable[[Any], Any]
) -> None:
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        _written_after_saving(torch, write)
    with pytest.raises(RuntimeError, match=r"input 1 .* of mul was modified in place"):
        _written_after_saving(cr, write)
