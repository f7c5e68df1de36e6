"""Shape and indexing ops (issue 14) beyond the shared op table: pad's modes and pad_width
forms against np.pad and torch.nn.functional.pad, split parts whose gradients assemble into
the whole, gathers whose repeated indices accumulate as in PyTorch, scatter_add, masked_fill,
one_hot, which results are views and which copies, NumPy dispatch, and the errors.

Cases marked "tinygrad" are ported, in our own words, from tinygrad's test/backend/test_ops.py
(test_flip, test_squeeze, test_unsqueeze, test_flatten, test_roll, test_pad_reflect_mode,
test_pad_replicate_mode, test_repeat, test_repeat_interleave, test_gather, test_one_hot,
test_masked_fill).
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from engine_cases import numerical_grad

import chainrule as cr

TORCH = pytest.mark.torch


def _arange(*shape: int) -> np.ndarray:
    """Distinct float64 values, so a misplaced entry always shows."""
    return np.arange(1.0, 1.0 + np.prod(shape)).reshape(shape) / 7


def _check_against_torch(
    torch: ModuleType,
    ours: Callable[..., cr.Tensor],
    theirs: Callable[..., Any],
    *arrays: np.ndarray,
) -> None:
    """Values and gradients (for a random cotangent) of ours and theirs on float64 inputs."""
    tensors = [cr.tensor(array, requires_grad=True) for array in arrays]
    torch_tensors = [torch.tensor(array, requires_grad=True) for array in arrays]
    out, reference = ours(*tensors), theirs(*torch_tensors)
    assert out.shape == tuple(reference.shape)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.numpy(), reference.detach().numpy(), rtol=1e-12, atol=0)
    cotangent = np.random.default_rng(3).normal(size=out.shape)
    out.backward(cotangent)
    reference.backward(torch.from_numpy(cotangent))
    for tensor, torch_tensor in zip(tensors, torch_tensors, strict=True):
        assert tensor.grad is not None
        np.testing.assert_allclose(
            tensor.grad.numpy(), torch_tensor.grad.numpy(), rtol=1e-12, atol=1e-14
        )


# ------------------------------------------------------------------ pad
PAD_WIDTHS = [2, (1, 2), ((1, 2),), ((0, 1), (2, 0)), np.array([[1, 1], [0, 3]])]


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
@pytest.mark.parametrize(
    "pad_width", PAD_WIDTHS, ids=["int", "pair", "one_pair", "per_axis", "array"]
)
def test_pad_values_match_numpy_for_every_pad_width_form(pad_width: Any, mode: str) -> None:
    x = _arange(3, 4)
    padded = cr.pad(x, pad_width, mode)
    np.testing.assert_array_equal(padded.numpy(), np.pad(x, pad_width, mode=mode))


def test_pad_constant_values_per_side_match_numpy() -> None:
    x = _arange(2, 3)
    values = ((5.0, 6.0), (7.0, 8.0))
    padded = cr.tensor(x).pad(((1, 2), (2, 1)), constant_values=values)
    np.testing.assert_array_equal(
        padded.numpy(), np.pad(x, ((1, 2), (2, 1)), constant_values=values)
    )


# tinygrad: test_pad_reflect_mode / test_pad_replicate_mode (F.pad lists the last axis first).
TORCH_PADS = [
    ((1, 1, 5, 5), (0, 2, 3, 2)),
    ((5, 5, 5), (0, 2)),
    ((1, 1, 5, 5, 5), (1, 2, 3, 4, 1, 2)),
    ((1, 1, 5, 5), (4, 4, 0, 4)),  # the widest reflect torch allows: one entry short of the axis
]


def _numpy_pad_width(ndim: int, torch_pad: tuple[int, ...]) -> list[tuple[int, int]]:
    pairs = [(torch_pad[i], torch_pad[i + 1]) for i in range(0, len(torch_pad), 2)]
    return [(0, 0)] * (ndim - len(pairs)) + pairs[::-1]


@TORCH
@pytest.mark.parametrize(("mode", "torch_mode"), [("reflect", "reflect"), ("edge", "replicate")])
@pytest.mark.parametrize(("shape", "torch_pad"), TORCH_PADS)
def test_pad_gradients_match_torch_functional_pad(
    torch: ModuleType,
    shape: tuple[int, ...],
    torch_pad: tuple[int, ...],
    mode: str,
    torch_mode: str,
) -> None:
    width = _numpy_pad_width(len(shape), torch_pad)
    _check_against_torch(
        torch,
        lambda x: x.pad(width, mode=mode),
        lambda x: torch.nn.functional.pad(x, torch_pad, mode=torch_mode),
        _arange(*shape),
    )


@TORCH
def test_edge_pad_far_wider_than_the_axis_matches_torch_replicate(torch: ModuleType) -> None:
    # tinygrad: replicate has no limit on the width.
    _check_against_torch(
        torch,
        lambda x: x.pad(_numpy_pad_width(4, (3, 11, 0, 30)), mode="edge"),
        lambda x: torch.nn.functional.pad(x, (3, 11, 0, 30), mode="replicate"),
        _arange(1, 1, 5, 5),
    )


@TORCH
def test_constant_pad_gradient_matches_torch(torch: ModuleType) -> None:
    _check_against_torch(
        torch,
        lambda x: x.pad(((0, 0), (2, 1), (1, 3)), constant_values=-1.5),
        lambda x: torch.nn.functional.pad(x, (1, 3, 2, 1), value=-1.5),
        _arange(2, 3, 4),
    )


def test_reflect_pad_wider_than_the_axis_reflects_again_as_numpy() -> None:
    # PyTorch refuses a reflect pad as wide as the axis; NumPy reflects back and forth.
    x = _arange(3)
    padded = cr.pad(cr.tensor(x, requires_grad=True), (5, 4), mode="reflect")
    np.testing.assert_array_equal(padded.numpy(), np.pad(x, (5, 4), mode="reflect"))
    weights = np.random.default_rng(0).normal(size=padded.shape)
    leaf = cr.tensor(x, requires_grad=True)
    (cr.pad(leaf, (5, 4), mode="reflect") * weights).sum().backward()
    expected = numerical_grad(lambda v: float(np.sum(np.pad(v, (5, 4), "reflect") * weights)), x)
    np.testing.assert_allclose(leaf.grad.numpy(), expected, rtol=1e-8)


def test_pad_refuses_negative_widths_by_name() -> None:
    with pytest.raises(ValueError, match=r"^pad: pad_width .* negative width.*x\[1:-1\]"):
        cr.pad(_arange(3, 4), ((0, 0), (-1, 2)))


def test_pad_refuses_modes_it_does_not_support() -> None:
    with pytest.raises(ValueError, match=r"^pad: mode 'wrap' is not supported; use one of"):
        cr.pad(_arange(3), 1, mode="wrap")


def test_pad_refuses_reflecting_an_empty_axis() -> None:
    with pytest.raises(ValueError, match=r"^pad: mode 'edge' cannot pad axis 1, which is empty"):
        cr.pad(np.zeros((2, 0)), 1, mode="edge")


def test_pad_refuses_a_pad_width_that_does_not_fit_the_axes() -> None:
    with pytest.raises(ValueError, match=r"^pad: pad_width .* does not fit a tensor with 2 dim"):
        cr.pad(_arange(3, 4), ((1, 1), (1, 1), (1, 1)))


def test_numpy_pad_refuses_keywords_it_does_not_honour() -> None:
    with pytest.raises(TypeError, match=r"numpy.pad: reflect_type='odd' is not supported"):
        np.pad(cr.tensor(_arange(3)), 1, mode="reflect", reflect_type="odd")


# ------------------------------------------------------------------ split
def test_split_part_gradients_assemble_into_the_whole() -> None:
    x = cr.tensor(_arange(7, 3), requires_grad=True)
    parts = cr.array_split(x, 3, axis=0)
    loss = sum((i + 1) * (part * part).sum() for i, part in enumerate(parts))
    assert isinstance(loss, cr.Tensor)
    loss.backward()
    sizes = [3, 2, 2]
    weights = np.repeat([1.0, 2.0, 3.0], sizes)[:, None]
    np.testing.assert_allclose(x.grad.numpy(), 2 * weights * x.numpy(), rtol=1e-15)


@pytest.mark.parametrize(
    ("shape", "cut", "axis"),
    # tinygrad: test_split's shapes, cut as NumPy counts (sections) and indices.
    [((10,), 5, 0), ((10,), [1, 4, 5], 0), ((3, 4), 1, 0), ((3, 4), 1, 1), ((4, 4), [2], -1)],
)
def test_split_parts_match_numpy(shape: tuple[int, ...], cut: Any, axis: int) -> None:
    x = _arange(*shape)
    parts = cr.split(cr.tensor(x), cut, axis=axis)
    expected = np.split(x, cut, axis=axis)
    assert [part.shape for part in parts] == [part.shape for part in expected]
    for part, reference in zip(parts, expected, strict=True):
        np.testing.assert_array_equal(part.numpy(), reference)


def test_array_split_gives_the_first_parts_one_entry_more_as_numpy() -> None:
    parts = np.array_split(cr.tensor(_arange(8)), 3)
    assert [part.shape for part in parts] == [(3,), (3,), (2,)]


def test_split_refuses_sections_that_do_not_divide_the_axis() -> None:
    with pytest.raises(ValueError, match=r"^split: axis 0 of size 7 .* use array_split"):
        cr.split(_arange(7), 2)


def test_split_parts_are_views_sharing_the_version_counter() -> None:
    x = cr.tensor(_arange(4))
    first, _ = x.split(2)
    first.add_(1.0)
    np.testing.assert_array_equal(x.numpy()[:2], _arange(4)[:2] + 1)
    assert x.version == 1


# ------------------------------------------------------------------ take and gather
@TORCH
def test_take_with_repeated_indices_accumulates_gradients_as_torch(torch: ModuleType) -> None:
    index = np.array([[0, 3], [0, -1], [0, 2]])
    _check_against_torch(
        torch,
        lambda x: x.take(index, axis=1),
        lambda x: x[:, torch.from_numpy(index)],
        _arange(2, 4),
    )


def test_take_without_an_axis_reads_the_flattened_values_as_numpy() -> None:
    x = _arange(3, 4)
    index = np.array([11, 0, 11, -12])
    np.testing.assert_array_equal(cr.take(x, index).numpy(), np.take(x, index))


def test_take_along_axis_broadcasts_the_other_axes_as_numpy() -> None:
    x = _arange(3, 4)
    index = np.array([[2, 0, 2, -1]])
    result = np.take_along_axis(cr.tensor(x), index, axis=0)
    np.testing.assert_array_equal(result.numpy(), np.take_along_axis(x, index, axis=0))


@TORCH
@pytest.mark.parametrize(
    ("shape", "dim"), [((4, 5, 6), d) for d in (0, 1, 2, -1, -2, -3)] + [((3, 4, 5), 0)]
)
def test_gather_matches_torch(torch: ModuleType, shape: tuple[int, ...], dim: int) -> None:
    # tinygrad: test_gather; an index of shape (3, 4, 5) holding 0..2 (so with repeats).
    index = np.random.default_rng(1).integers(0, 3, size=(3, 4, 5))
    _check_against_torch(
        torch,
        lambda x: x.gather(dim, index),
        lambda x: x.gather(dim, torch.from_numpy(index)),
        _arange(*shape),
    )


@TORCH
def test_gather_of_a_vector_with_repeated_indices_matches_torch(torch: ModuleType) -> None:
    index = np.array([2, 1, 0, 1, 2])  # tinygrad: test_gather
    _check_against_torch(
        torch,
        lambda x: cr.gather(x, 0, index),
        lambda x: x.gather(0, torch.from_numpy(index)),
        np.array([1.0, 2.0, 3.0]),
    )


def test_gather_refuses_an_index_with_another_number_of_dimensions() -> None:
    with pytest.raises(ValueError, match=r"^gather: indices of shape \(1,\) need as many dim"):
        cr.tensor(_arange(4, 5, 6)).gather(0, np.array([1]))


def test_gather_refuses_an_index_larger_than_the_tensor_off_dim() -> None:
    index = np.zeros((3, 4, 5), dtype=np.int64)
    with pytest.raises(ValueError, match=r"^gather: index of shape \(3, 4, 5\) is larger than"):
        cr.tensor(_arange(2, 1, 1)).gather(0, index)


INDEX_OPS: dict[str, Callable[[Any], Any]] = {
    "take": lambda index: cr.take(_arange(4), index),
    "take_along_axis": lambda index: cr.take_along_axis(_arange(4), index, 0),
    "gather": lambda index: cr.gather(_arange(4), 0, index),
    "scatter_add": lambda index: cr.scatter_add(_arange(4), 0, index, np.ones(2)),
    "one_hot": lambda index: cr.one_hot(index, 4),
}


@pytest.mark.parametrize("op", sorted(INDEX_OPS))
def test_index_ops_refuse_float_indices_by_name(op: str) -> None:
    with pytest.raises(TypeError, match=rf"^{op}: .* must be integers, got values of dtype float"):
        INDEX_OPS[op](np.array([0.0, 1.0]))


@pytest.mark.parametrize("op", sorted(INDEX_OPS))
def test_index_ops_refuse_boolean_masks_as_indices(op: str) -> None:
    with pytest.raises(TypeError, match=rf"^{op}: .* boolean \(a mask\)"):
        INDEX_OPS[op](np.array([True, False]))


@pytest.mark.parametrize("op", sorted(INDEX_OPS))
def test_index_ops_refuse_indices_that_require_grad(op: str) -> None:
    with pytest.raises(TypeError, match=rf"^{op}: .* requires grad; indices carry no gradient"):
        INDEX_OPS[op](cr.tensor([0.0, 1.0], requires_grad=True))


@pytest.mark.parametrize("op", sorted(INDEX_OPS))
@pytest.mark.parametrize(
    "index",
    [[1, 3], np.array([1, 3], dtype=np.int32), cr.tensor([1, 3], dtype=np.int64)],
    ids=["list", "int32_array", "int64_tensor"],
)
def test_index_ops_accept_lists_integer_arrays_and_integer_tensors(op: str, index: Any) -> None:
    expected = INDEX_OPS[op](np.array([1, 3]))
    np.testing.assert_array_equal(INDEX_OPS[op](index).numpy(), expected.numpy())


@pytest.mark.parametrize("op", ["take", "take_along_axis", "gather", "scatter_add"])
def test_index_ops_refuse_out_of_range_indices_naming_the_axis_and_its_size(op: str) -> None:
    with pytest.raises(IndexError, match=rf"^{op}: index 4 is out of range for axis 0 of size 4"):
        INDEX_OPS[op](np.array([0, 4]))


# ------------------------------------------------------------------ scatter_add
@TORCH
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_scatter_add_matches_torch(torch: ModuleType, dim: int) -> None:
    index = np.random.default_rng(2).integers(0, 3, size=(3, 3, 4))
    _check_against_torch(
        torch,
        lambda x, src: x.scatter_add(dim, index, src),
        lambda x, src: x.scatter_add(dim, torch.from_numpy(index), src),
        _arange(3, 4, 5),
        np.random.default_rng(4).normal(size=(3, 3, 4)),
    )


@TORCH
def test_scatter_add_uses_only_the_leading_block_of_a_larger_src(torch: ModuleType) -> None:
    index = np.array([[0, 0, 2], [1, 0, 0]])
    x, src = cr.tensor(_arange(3, 3)), cr.tensor(_arange(4, 5), requires_grad=True)
    out = x.scatter_add(0, index, src)
    reference = torch.from_numpy(_arange(3, 3)).scatter_add(
        0, torch.from_numpy(index), torch.from_numpy(_arange(4, 5))
    )
    np.testing.assert_allclose(out.numpy(), reference.numpy(), rtol=1e-15)
    # PyTorch's own backward fails on this shape; the gradient is grad_out gathered at index
    # on src's leading (2, 3) block and zero elsewhere.
    weights = _arange(3, 3) * 3
    (out * weights).sum().backward()
    expected = np.zeros((4, 5))
    expected[:2, :3] = np.take_along_axis(weights, index, axis=0)
    np.testing.assert_array_equal(src.grad.numpy(), expected)


def test_scatter_add_leaves_its_input_unchanged() -> None:
    x = cr.tensor(np.zeros(3))
    x.scatter_add(0, np.array([1, 1]), np.ones(2))
    np.testing.assert_array_equal(x.numpy(), np.zeros(3))


def test_scatter_add_refuses_a_src_of_another_dtype() -> None:
    src = cr.tensor(np.ones(2, dtype=np.float32))
    with pytest.raises(TypeError, match=r"^scatter_add: src has dtype float32 but the tensor"):
        cr.tensor(np.zeros(3)).scatter_add(0, np.array([0, 1]), src)


def test_scatter_add_refuses_an_index_larger_than_src() -> None:
    with pytest.raises(ValueError, match=r"^scatter_add: index of shape \(3,\) is larger than"):
        cr.tensor(np.zeros(3)).scatter_add(0, np.array([0, 1, 1]), np.ones(2))


# ------------------------------------------------------------------ masked_fill
@TORCH
def test_masked_fill_with_minus_infinity_matches_torch(torch: ModuleType) -> None:
    x = np.random.default_rng(5).uniform(-2, 2, size=(32, 10))  # tinygrad: test_masked_fill
    mask = x > 0.1
    _check_against_torch(
        torch,
        lambda t: t.masked_fill(mask, -np.inf).exp(),
        lambda t: t.masked_fill(torch.from_numpy(mask), -np.inf).exp(),
        x,
    )


@TORCH
def test_masked_fill_passes_a_zero_dim_value_its_gradient_as_torch(torch: ModuleType) -> None:
    mask = np.array([[True, False, True], [False, False, True]])
    _check_against_torch(
        torch,
        lambda x, value: x.masked_fill(mask[None], value),
        lambda x, value: x.masked_fill(torch.from_numpy(mask[None]), value),
        _arange(4, 2, 3),
        np.array(0.25),
    )


def test_masked_fill_refuses_a_mask_that_is_not_boolean() -> None:
    with pytest.raises(TypeError, match=r"^masked_fill: mask must be boolean, got dtype float"):
        cr.tensor(_arange(3)).masked_fill(np.array([1.0, 0.0, 1.0]), 0.0)


def test_masked_fill_refuses_a_mask_that_does_not_broadcast_to_the_tensor() -> None:
    mask = np.ones((2, 3), dtype=bool)
    with pytest.raises(ValueError, match=r"^masked_fill: mask of shape \(2, 3\) does not broad"):
        cr.tensor(_arange(3)).masked_fill(mask, 0.0)


# ------------------------------------------------------------------ one_hot
@TORCH
@pytest.mark.parametrize(
    ("indices", "num_classes"),
    # tinygrad: test_one_hot, and torch's num_classes=-1 (the largest index + 1).
    [([1, 2, 4], 6), ([[[1, 2, 3], [0, 3, 5]], [[1, 2, 3], [0, 3, 5]]], 8), ([3, 0, 3], -1)],
)
def test_one_hot_matches_torch(torch: ModuleType, indices: Any, num_classes: int) -> None:
    ours = cr.one_hot(np.array(indices), num_classes)
    theirs = torch.nn.functional.one_hot(torch.tensor(indices), num_classes)
    assert ours.shape == tuple(theirs.shape)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_one_hot_is_a_float32_constant() -> None:
    encoded = cr.one_hot(np.array([0, 2]), 3)
    assert encoded.dtype == np.float32
    assert not encoded.requires_grad


def test_one_hot_refuses_an_index_beyond_num_classes() -> None:
    with pytest.raises(ValueError, match=r"^one_hot: class index 4 does not fit num_classes=3"):
        cr.one_hot([0, 4], 3)


# ------------------------------------------------------------------ views and copies
def test_flip_is_a_view_so_an_in_place_change_reaches_a_saved_input() -> None:
    weights = cr.tensor(np.ones(3), requires_grad=True)
    x = cr.tensor(_arange(3))
    loss = (weights * x).sum()
    x.flip(0).add_(1.0)
    assert x.version == 1
    with pytest.raises(RuntimeError, match=r"modified in place after the op used it"):
        loss.backward()


COPYING_OPS: dict[str, Callable[[cr.Tensor], cr.Tensor]] = {
    "roll": lambda x: x.roll(0, axis=0),
    "tile": lambda x: x.tile(1),
    "repeat": lambda x: x.repeat(1, axis=0),
    "pad": lambda x: x.pad(0),
    "take": lambda x: x.take(np.array(1)),
    "take_along_axis": lambda x: x.take_along_axis(np.array([0, 1, 2]), 0),
    "masked_fill": lambda x: x.masked_fill(np.zeros(3, dtype=bool), 0.0),
}


@pytest.mark.parametrize("op", sorted(COPYING_OPS))
def test_ops_that_copy_in_numpy_never_alias_their_input(op: str) -> None:
    x = cr.tensor(_arange(3))
    COPYING_OPS[op](x).add_(1.0)
    np.testing.assert_array_equal(x.numpy(), _arange(3))
    assert x.version == 0


# ------------------------------------------------------------------ names, aliases, semantics
@TORCH
@pytest.mark.parametrize("extra", [(), (4,), (2, 1), (3, 2, 2)])
@pytest.mark.parametrize("shape", [(4, 6, 3), ()])
def test_tile_is_torchs_repeat(torch: ModuleType, shape: tuple[int, ...], extra: tuple) -> None:
    reps = (2, 4, 3, *extra)  # tinygrad: test_repeat
    _check_against_torch(
        torch,
        lambda x: x.tile(reps),
        lambda x: x.repeat(*reps),
        _arange(*shape) if shape else np.array(0.5),
    )


def test_tile_with_a_zero_rep_is_empty() -> None:
    assert cr.tensor(_arange(4, 6, 3)).tile((2, 0, 4)).shape == (8, 0, 12)


@TORCH
@pytest.mark.parametrize(("repeats", "dim"), [(6, None), (2, 1), (2, 0), (2, -1), (2, -2)])
def test_repeat_follows_numpy_and_repeat_interleave_is_torchs_name(
    torch: ModuleType, repeats: int, dim: int | None
) -> None:
    x = _arange(3, 3)  # tinygrad: test_repeat_interleave
    np.testing.assert_array_equal(cr.repeat(x, repeats, dim).numpy(), np.repeat(x, repeats, dim))
    _check_against_torch(
        torch,
        lambda t: t.repeat_interleave(repeats, dim),
        lambda t: t.repeat_interleave(repeats, dim),
        x,
    )


@TORCH
@pytest.mark.parametrize(
    "axes", [(0,), (0, 1), (0, 1, 3), (3,), (-1,), ()], ids=lambda axes: str(axes)
)
def test_flip_matches_torch(torch: ModuleType, axes: tuple[int, ...]) -> None:
    # tinygrad: test_flip (flipping no axis is the identity).
    _check_against_torch(
        torch, lambda x: x.flip(axes).flip(0), lambda x: x.flip(axes).flip(0), _arange(4, 3, 6, 6)
    )


@pytest.mark.parametrize("axes", [(0, 0), (1, 1), (1, -1)])
def test_flip_refuses_an_axis_named_twice(axes: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match=r"^flip: axis .* repeats an axis"):
        cr.flip(_arange(3, 4), axes)


@TORCH
@pytest.mark.parametrize(
    ("shape", "shift", "axis"),
    # tinygrad: test_roll, in NumPy's argument names (shift, axis).
    [
        ((2, 4), 1, None),
        ((2, 4), (1,), None),
        ((0,), 1, 0),
        ((2, 0, 3), 1, 1),
        ((2, 4), -5, 0),
        ((2, 4, 6), (2, -3), (0, 2)),
        ((2, 4, 6), (1, 2, -1), (0, 1, 2)),
        ((2, 4, 6), (0, 2), (0, 1)),
    ],
)
def test_roll_matches_torch(
    torch: ModuleType, shape: tuple[int, ...], shift: Any, axis: Any
) -> None:
    _check_against_torch(
        torch, lambda x: x.roll(shift, axis), lambda x: x.roll(shift, axis), _arange(*shape)
    )


def test_roll_without_an_axis_refuses_several_shifts() -> None:
    with pytest.raises(ValueError, match=r"^roll: without an axis, shift must be one int"):
        cr.roll(_arange(2, 4), (1, 2))


@TORCH
@pytest.mark.parametrize(
    ("shape", "axis"),
    [
        ((1, 3, 6, 6), 0),
        ((4, 3, 1, 6), 2),
        ((4, 3, 6, 1), -1),
        ((2, 3, 1), None),
        ((), 0),
        ((), -1),
    ],
)
def test_squeeze_matches_torch(torch: ModuleType, shape: tuple[int, ...], axis: int | None) -> None:
    x = _arange(*shape) if shape else np.array(0.5)  # tinygrad: test_squeeze
    _check_against_torch(
        torch,
        lambda t: t.squeeze(axis),
        lambda t: t.squeeze() if axis is None else t.squeeze(axis),
        x,
    )


def test_squeeze_refuses_an_axis_whose_size_is_not_one() -> None:
    # PyTorch leaves such an axis alone; NumPy (and chainrule) refuse it.
    with pytest.raises(ValueError, match=r"^squeeze: axis 3 has size 6, not 1"):
        cr.squeeze(_arange(4, 3, 6, 6), 3)


@pytest.mark.parametrize(("shape", "axis"), [((4, 3, 6, 6), 50), ((), 1), ((), -2)])
def test_squeeze_refuses_an_axis_out_of_range(shape: tuple[int, ...], axis: int) -> None:
    with pytest.raises(ValueError, match=rf"^squeeze: axis {axis} is out of range"):
        cr.tensor(np.zeros(shape)).squeeze(axis)


@TORCH
@pytest.mark.parametrize(
    ("shape", "dim"),
    [((4, 3, 6, 6), 0), ((4, 3, 6, 6), 4), ((4, 3, 6, 6), -1), ((4, 3, 6, 6), -3), ((), 0)],
)
def test_unsqueeze_matches_torch(torch: ModuleType, shape: tuple[int, ...], dim: int) -> None:
    x = _arange(*shape) if shape else np.array(0.5)  # tinygrad: test_unsqueeze
    _check_against_torch(torch, lambda t: t.unsqueeze(dim), lambda t: t.unsqueeze(dim), x)


@TORCH
@pytest.mark.parametrize(
    ("start_dim", "end_dim"), [(0, -1), (1, -1), (2, -1), (0, 0), (0, 1), (0, 2), (1, 3)]
)
def test_flatten_matches_torch(torch: ModuleType, start_dim: int, end_dim: int) -> None:
    _check_against_torch(  # tinygrad: test_flatten
        torch,
        lambda x: x.flatten(start_dim, end_dim),
        lambda x: x.flatten(start_dim, end_dim),
        _arange(4, 3, 6, 6),
    )


def test_ravel_and_a_zero_dim_flatten_give_one_axis() -> None:
    assert cr.ravel(_arange(2, 3)).shape == (6,)
    assert cr.tensor(2.0).flatten().shape == (1,)


@TORCH
def test_movedim_is_torchs_name_for_moveaxis(torch: ModuleType) -> None:
    x = _arange(2, 3, 4, 5)
    np.testing.assert_array_equal(
        cr.moveaxis(x, (0, -1), (2, 0)).numpy(), np.moveaxis(x, (0, -1), (2, 0))
    )
    _check_against_torch(
        torch, lambda t: t.movedim((0, -1), (2, 0)), lambda t: t.movedim((0, -1), (2, 0)), x
    )


def test_moveaxis_refuses_unmatched_source_and_destination() -> None:
    with pytest.raises(ValueError, match=r"^moveaxis: source \(0, 1\) and destination 0 must"):
        cr.moveaxis(_arange(2, 3), (0, 1), 0)


@pytest.mark.parametrize("join", ["vstack", "hstack"])
def test_vstack_and_hstack_match_numpy(join: str) -> None:
    arrays = [_arange(3), _arange(3) * 2, np.array(7.0) if join == "hstack" else _arange(1, 3)]
    result = getattr(np, join)([cr.tensor(a) for a in arrays])
    assert isinstance(result, cr.Tensor)
    np.testing.assert_array_equal(result.numpy(), getattr(np, join)(arrays))


NUMPY_CALLS: list[tuple[str, Callable[[Any], Any]]] = [
    ("squeeze", lambda a: np.squeeze(a[None], axis=0)),
    ("expand_dims", lambda a: np.expand_dims(a, (0, -1))),
    ("ravel", np.ravel),
    ("flip", lambda a: np.flip(a, -1)),
    ("roll", lambda a: np.roll(a, 2, axis=1)),
    ("moveaxis", lambda a: np.moveaxis(a, 0, 1)),
    ("repeat", lambda a: np.repeat(a, [1, 2], axis=0)),
    ("tile", lambda a: np.tile(a, (2, 1))),
    ("pad", lambda a: np.pad(a, ((1, 0), (0, 2)), mode="edge")),
    ("take", lambda a: np.take(a, [2, 2, 0], axis=1)),
    ("take_along_axis", lambda a: np.take_along_axis(a, np.array([[0], [2]]), axis=1)),
    ("swapaxes", lambda a: np.swapaxes(a, 0, 1)),
    ("broadcast_to", lambda a: np.broadcast_to(a, (4, 2, 3))),
]


@pytest.mark.parametrize("call", [call for _, call in NUMPY_CALLS], ids=[n for n, _ in NUMPY_CALLS])
def test_numpy_functions_dispatch_to_the_shape_ops(call: Callable[[Any], Any]) -> None:
    x = _arange(2, 3)
    result = call(cr.tensor(x, requires_grad=True))
    assert isinstance(result, cr.Tensor)
    assert result.requires_grad
    np.testing.assert_array_equal(result.detach().numpy(), call(x))


@pytest.mark.parametrize("name", ["swapaxes", "broadcast_to"])
def test_existing_shape_methods_have_chainrule_functions(name: str) -> None:
    args = (0, 1) if name == "swapaxes" else ((2, 3),)
    result = getattr(cr, name)(_arange(1, 3), *args)
    np.testing.assert_array_equal(result.numpy(), getattr(np, name)(_arange(1, 3), *args))


def test_explain_reads_the_parameters_of_the_new_primitives() -> None:
    x = cr.tensor(_arange(2, 3), requires_grad=True, name="x")
    loss = x.roll(1, 0).tile((1, 2)).repeat(2, axis=0).pad(1, mode="reflect").flip(0).sum()
    formulas = [step.formula for step in cr.explain(loss, x).steps]
    assert "roll(x, (1,), axis=(0,))" in formulas
    assert any(f.startswith("tile(") and f.endswith(", (1, 2))") for f in formulas)
    assert any(f.startswith("repeat(") and f.endswith(", 2, axis=0)") for f in formulas)
    assert any(f.endswith("((1, 1), (1, 1)), mode=reflect)") for f in formulas)
    assert any(f.startswith("flip(") for f in formulas)


def test_empty_index_lists_are_integers_as_in_numpy() -> None:
    x = cr.tensor(_arange(4))
    assert [part.shape for part in cr.split(x, [])] == [(4,)]
    assert cr.take(x, []).shape == (0,)


def test_a_compiled_step_through_the_shape_ops_replays_eager_bit_for_bit() -> None:
    start = np.random.default_rng(6).normal(size=(3, 4))
    mask = np.arange(14) % 3 == 0

    def losses_and_grads(compiled: bool) -> list[tuple[float, np.ndarray]]:
        w = cr.tensor(start.copy(), requires_grad=True)

        def step(x: cr.Tensor) -> cr.Tensor:
            h = (x @ w).pad(((0, 0), (1, 2)), mode="reflect").roll(1, 1).tile((1, 2)).flip(0)
            h = h.repeat(2, axis=0).take_along_axis(np.zeros((1, 14), dtype=np.int64), 0)
            h = h.scatter_add(1, np.array([[0, 0, 3]]), h[:, :3]).masked_fill(mask, 0.0)
            loss = (h * h).sum() + w.gather(1, np.array([[0, 2, 2, 1]])).sum()
            loss = loss + cr.split(w, 2, axis=1)[1].sum()
            loss.backward()
            return loss

        run = cr.compile(step) if compiled else step
        results = []
        for i in range(3):
            w.grad = None
            loss = run(cr.tensor(np.full((5, 3), i + 1.0)))
            assert w.grad is not None
            results.append((loss.item(), w.grad.numpy().copy()))
        return results

    for (eager_loss, eager_grad), (loss, grad) in zip(
        losses_and_grads(False), losses_and_grads(True), strict=True
    ):
        assert loss == eager_loss
        np.testing.assert_array_equal(grad, eager_grad)


def test_an_axis_of_a_zero_dim_tensor_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"^take: axis 0 is out of range: a 0-d tensor has no"):
        cr.take(np.array(1.5), [0], axis=0)
