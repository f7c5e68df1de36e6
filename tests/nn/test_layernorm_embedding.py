"""nn.LayerNorm / functional.layer_norm and nn.Embedding / functional.embedding against
PyTorch: values, gradients of inputs and parameters, initialisation, and their errors."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import functional as F
from chainrule import nn

pytestmark = pytest.mark.torch


def _close(got: np.ndarray, want: np.ndarray, tolerance: float) -> None:
    """Equal shapes and a normwise relative error within `tolerance`."""
    assert got.shape == want.shape
    assert np.max(np.abs(got - want), initial=0.0) <= tolerance * np.max(np.abs(want), initial=1.0)


# ------------------------------------------------------------------ LayerNorm
LAYER_NORMS: list[tuple[tuple[int, ...], Any, dict[str, Any]]] = [
    ((4, 6), 6, {}),
    ((2, 3, 4), (3, 4), {}),
    ((2, 3, 4), [4], {"eps": 1e-3}),
    ((5, 3), 3, {"elementwise_affine": False}),
    ((5, 3), (3,), {"bias": False}),
    ((7,), 7, {}),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize(("shape", "normalized", "options"), LAYER_NORMS, ids=str)
def test_layer_norm_module_matches_torch(
    torch: ModuleType,
    shape: tuple[int, ...],
    normalized: Any,
    options: dict[str, Any],
    dtype: type,
) -> None:
    rng = np.random.default_rng(11)
    x = (3 * rng.normal(size=shape) + 2).astype(dtype)
    cotangent = rng.normal(size=shape).astype(dtype)
    ours = nn.LayerNorm(normalized, dtype=dtype, **options)
    theirs = torch.nn.LayerNorm(normalized, dtype=getattr(torch, np.dtype(dtype).name), **options)
    # Non-trivial affine parameters, the same on both sides.
    for name in ("weight", "bias"):
        mine, reference = getattr(ours, name), getattr(theirs, name)
        assert (mine is None) == (reference is None)
        if mine is not None:
            values = rng.normal(size=mine.shape).astype(dtype)
            mine.data = values
            with torch.no_grad():
                reference.copy_(torch.from_numpy(values))

    inputs = cr.tensor(x, requires_grad=True)
    out = ours(inputs)
    out.backward(cotangent)
    reference_input = torch.tensor(x, requires_grad=True)
    expected = theirs(reference_input)
    expected.backward(torch.from_numpy(cotangent))

    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    assert out.dtype == dtype
    _close(out.numpy(), expected.detach().numpy(), tolerance)
    _close(inputs.grad.numpy(), reference_input.grad.numpy(), tolerance)
    for name in ("weight", "bias"):
        mine, reference = getattr(ours, name), getattr(theirs, name)
        if mine is not None:
            _close(mine.grad.numpy(), reference.grad.numpy(), tolerance)


def test_layer_norm_starts_as_torch_and_reads_as_torch(torch: ModuleType) -> None:
    ours, theirs = nn.LayerNorm((3, 4)), torch.nn.LayerNorm((3, 4))
    np.testing.assert_array_equal(ours.weight.numpy(), theirs.weight.detach().numpy())
    np.testing.assert_array_equal(ours.bias.numpy(), theirs.bias.detach().numpy())
    assert [name for name, _ in ours.named_parameters()] == ["weight", "bias"]
    assert repr(ours) == repr(theirs)
    assert repr(nn.LayerNorm(5, elementwise_affine=False)) == repr(
        torch.nn.LayerNorm(5, elementwise_affine=False)
    )


def test_layer_norm_of_a_constant_row_is_its_bias(torch: ModuleType) -> None:
    # Ported from PyTorch's test_nn LayerNorm checks: zero variance leaves only eps under the
    # square root, so the output is exactly the bias and the input gradient stays finite.
    x = np.full((2, 4), 3.0)
    inputs = cr.tensor(x, requires_grad=True)
    out = F.layer_norm(inputs, 4, np.ones(4), np.arange(4.0))
    out.sum().backward()
    reference = torch.tensor(x, requires_grad=True)
    expected = torch.nn.functional.layer_norm(
        reference, (4,), torch.ones(4, dtype=torch.float64), torch.arange(4.0, dtype=torch.float64)
    )
    expected.sum().backward()
    np.testing.assert_array_equal(out.numpy(), expected.detach().numpy())
    np.testing.assert_allclose(inputs.grad.numpy(), reference.grad.numpy(), atol=1e-12)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: F.layer_norm(np.ones((2, 3)), 4),
            r"layer_norm: input of shape \(2, 3\) does not end in normalized_shape \(4,\)",
        ),
        (
            lambda: F.layer_norm(np.ones(3), (2, 3)),
            r"layer_norm: input of shape \(3,\) does not end",
        ),
        (
            lambda: F.layer_norm(np.ones((2, 3)), 3, np.ones(4)),
            r"layer_norm: weight has shape \(4,\), expected normalized_shape \(3,\)",
        ),
        (lambda: F.layer_norm(np.ones((2, 3)), 3, eps=0.0), r"layer_norm: eps must be positive"),
        (lambda: nn.LayerNorm(()), r"LayerNorm: normalized_shape must be a positive int"),
        (lambda: nn.LayerNorm(0), r"LayerNorm: normalized_shape must be a positive int"),
    ],
    ids=["trailing_shape", "too_few_dims", "weight_shape", "eps", "empty_shape", "zero_size"],
)
def test_layer_norm_errors_name_the_shapes(call: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


# ------------------------------------------------------------------ Embedding
INDICES = [
    np.array([3, 1, 3, 3, 0]),
    np.array([[0, 2, 2], [4, 1, 0]], dtype=np.int32),
    np.array(2),
    np.zeros((0, 3), dtype=np.int64),
]


@pytest.mark.parametrize("padding_idx", [None, 0, 3, -1])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("indices", INDICES, ids=lambda i: f"indices{i.shape}")
def test_embedding_matches_torch(
    torch: ModuleType, indices: np.ndarray, dtype: type, padding_idx: int | None
) -> None:
    rng = np.random.default_rng(2)
    weight = rng.normal(size=(5, 3)).astype(dtype)
    table = cr.tensor(weight, requires_grad=True)
    out = F.embedding(indices, table, padding_idx)
    cotangent = rng.normal(size=out.shape).astype(dtype)
    out.backward(cotangent)
    reference = torch.tensor(weight, requires_grad=True)
    expected = torch.nn.functional.embedding(torch.from_numpy(indices), reference, padding_idx)
    expected.backward(torch.from_numpy(cotangent))

    assert out.shape == (*indices.shape, 3)
    np.testing.assert_array_equal(out.numpy(), expected.detach().numpy())
    np.testing.assert_allclose(table.grad.numpy(), reference.grad.numpy(), rtol=1e-6, atol=1e-7)


def test_embedding_accumulates_repeated_indices_and_skips_the_padding_row() -> None:
    table = cr.tensor(np.arange(12.0).reshape(4, 3), requires_grad=True)
    out = F.embedding(np.array([1, 1, 2, 0, 1]), table, padding_idx=2)
    out.sum().backward()
    np.testing.assert_array_equal(out.numpy()[2], [6.0, 7.0, 8.0])  # the padding row's values
    np.testing.assert_array_equal(table.grad.numpy(), [[1, 1, 1], [3, 3, 3], [0, 0, 0], [0, 0, 0]])


def test_embedding_takes_whole_number_tensors_and_integer_lists() -> None:
    table = cr.tensor(np.arange(10.0).reshape(5, 2), requires_grad=True)
    from_tensor = nn.Embedding(5, 2)
    from_tensor.weight = nn.Parameter(table.numpy())
    expected = np.array([[4.0, 5.0], [0.0, 1.0]])
    np.testing.assert_array_equal(F.embedding(cr.tensor([2, 0]), table).numpy(), expected)
    np.testing.assert_array_equal(F.embedding([2, 0], table).numpy(), expected)
    np.testing.assert_array_equal(from_tensor(cr.tensor([2, 0])).numpy(), expected)


def test_embedding_module_starts_as_torch_describes(torch: ModuleType) -> None:
    ours = nn.Embedding(1000, 16, padding_idx=3, rng=np.random.default_rng(0))
    theirs = torch.nn.Embedding(1000, 16, padding_idx=3)
    assert ours.weight.shape == tuple(theirs.weight.shape)
    assert ours.weight.dtype == np.float32
    np.testing.assert_array_equal(ours.weight.numpy()[3], np.zeros(16))
    values = np.delete(ours.weight.numpy(), 3, axis=0)
    assert abs(values.mean()) < 0.01
    assert abs(values.std() - 1) < 0.01  # N(0, 1), as torch's normal_ init
    assert repr(ours) == repr(theirs)
    assert [name for name, _ in ours.named_parameters()] == ["weight"]


def test_embedding_module_trains_only_the_rows_it_looked_up() -> None:
    layer = nn.Embedding(6, 2, padding_idx=0, rng=np.random.default_rng(1), dtype=np.float64)
    before = layer.weight.numpy().copy()
    optimizer = cr.optim.SGD(layer.parameters(), lr=0.5)
    layer(np.array([[0, 2], [2, 5]])).sum().backward()
    optimizer.step()
    changed = np.any(layer.weight.numpy() != before, axis=1)
    assert changed.tolist() == [False, False, True, False, False, True]


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda: F.embedding(np.array([0, 5]), np.ones((5, 2))),
            ValueError,
            r"embedding: index 5 at position \(1,\) is outside the 5 rows of weight \[0, 4\]",
        ),
        (
            lambda: F.embedding(np.array([[0], [-1]]), np.ones((5, 2))),
            ValueError,
            r"embedding: index -1 at position \(1, 0\)",
        ),
        (
            lambda: F.embedding(np.array([0.0, 1.0]), np.ones((5, 2))),
            TypeError,
            r"embedding: the indices must be integers, got dtype float64",
        ),
        (
            lambda: F.embedding(cr.tensor([0.5, 1.0]), np.ones((5, 2))),
            TypeError,
            r"embedding: the indices must be integers, got a float32 Tensor with fractions",
        ),
        (
            lambda: F.embedding(cr.tensor([0.0, 1.0], requires_grad=True), np.ones((5, 2))),
            TypeError,
            r"embedding: the indices carry no gradient, but got a Tensor that requires grad",
        ),
        (
            lambda: F.embedding(np.array([0]), np.ones(5)),
            ValueError,
            r"embedding: weight must be 2-D",
        ),
        (
            lambda: F.embedding(np.array([0]), np.ones((5, 2)), padding_idx=5),
            ValueError,
            r"embedding: padding_idx=5 must be an int in \[-5, 4\]",
        ),
        (
            lambda: nn.Embedding(5, 2, padding_idx=-6),
            ValueError,
            r"Embedding: padding_idx=-6 must be an int",
        ),
        (
            lambda: nn.Embedding(0, 2),
            ValueError,
            r"Embedding: num_embeddings must be a positive integer",
        ),
    ],
    ids=[
        "index_too_large",
        "negative_index",
        "float_indices",
        "fractional_tensor_indices",
        "tensor_indices_with_grad",
        "weight_1d",
        "padding_range",
        "module_padding",
        "module_size",
    ],
)
def test_embedding_errors_name_the_index_and_the_fix(
    call: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize(
    "args",
    [
        {"padding_idx": 1, "max_norm": 0.5, "norm_type": 1.0},
        {"max_norm": 2.0, "norm_type": float("inf")},
        {"norm_type": 3.0},
        {"max_norm": 1.5},
    ],
    ids=str,
)
def test_embedding_repr_names_its_norm_as_torch(torch: ModuleType, args: dict[str, Any]) -> None:
    assert repr(nn.Embedding(6, 3, **args)) == repr(torch.nn.Embedding(6, 3, **args))


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize(
    "args",
    [{}, {"freeze": False}, {"freeze": False, "padding_idx": 1}, {"max_norm": 1.0}],
    ids=str,
)
def test_embedding_from_pretrained_matches_torch(
    torch: ModuleType, args: dict[str, Any], dtype: type
) -> None:
    rng = np.random.default_rng(6)
    table = rng.normal(size=(5, 3)).astype(dtype)
    indices = np.array([[1, 4], [1, 0]])
    ours = nn.Embedding.from_pretrained(table, **args)
    theirs = torch.nn.Embedding.from_pretrained(torch.tensor(table), **args)
    assert ours.weight.requires_grad == theirs.weight.requires_grad
    assert ours.weight.dtype == dtype
    out, expected = ours(indices), theirs(torch.tensor(indices))
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(ours.weight.numpy(), theirs.weight.detach().numpy(), rtol=1e-6)
    if ours.weight.requires_grad:
        cotangent = rng.normal(size=(2, 2, 3)).astype(dtype)
        out.backward(cotangent)
        expected.backward(torch.tensor(cotangent))
        assert ours.weight.grad is not None
        np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-6)
    table[0, 0] = 99.0  # copied, not shared
    assert ours.weight.numpy()[0, 0] != 99.0


@pytest.mark.parametrize(
    "embeddings", [np.zeros(3), np.zeros((2, 3), np.int64)], ids=["1-D", "integers"]
)
def test_embedding_from_pretrained_refuses_what_is_no_float_table(embeddings: Any) -> None:
    with pytest.raises(ValueError, match="from_pretrained: embeddings must be a 2-D float"):
        nn.Embedding.from_pretrained(embeddings)
