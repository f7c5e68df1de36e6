"""Activations, Sequential and the loss modules."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule
from chainrule import nn

X = np.linspace(-2.0, 2.0, 7)


@pytest.mark.parametrize(
    ("module", "expected"),
    [(nn.ReLU(), np.maximum(X, 0)), (nn.Tanh(), np.tanh(X)), (nn.Sigmoid(), 1 / (1 + np.exp(-X)))],
    ids=["relu", "tanh", "sigmoid"],
)
def test_activation_matches_its_formula(module: nn.Module, expected: np.ndarray) -> None:
    got = module(X).numpy()
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_sequential_applies_modules_in_order() -> None:
    first, second = nn.Linear(3, 4, dtype=np.float64), nn.Linear(4, 2, dtype=np.float64)
    model = nn.Sequential(first, nn.ReLU(), second)
    x = np.random.default_rng(0).standard_normal((5, 3))
    expected = second(first(x).relu()).numpy()
    got = model(x).numpy()
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


def test_sequential_is_indexable_sized_and_iterable() -> None:
    relu = nn.ReLU()
    model = nn.Sequential(nn.Linear(3, 4), relu, nn.Linear(4, 2))
    assert len(model) == 3
    assert model[1] is relu
    assert model[-2] is relu
    assert list(model)[1] is relu
    head = model[:2]
    assert isinstance(head, nn.Sequential)
    assert len(head) == 2


def test_sequential_index_out_of_range() -> None:
    with pytest.raises(IndexError, match="index 3 is out of range for 2 modules"):
        nn.Sequential(nn.ReLU(), nn.ReLU())[3]


@pytest.mark.parametrize(
    ("index", "message"),
    [
        ("0", r"got str '0'; a module by its name is getattr\(model, '0'\)$"),
        (1.0, r"got float 1.0$"),
        (None, r"got NoneType None$"),
        ((0, 1), r"got tuple \(0, 1\)$"),
    ],
)
def test_sequential_index_that_is_no_int_or_slice_is_refused_by_name(
    index: object, message: str
) -> None:
    # torch refuses these too; chainrule's own was "'<=' not supported between 'int' and 'str'"
    with pytest.raises(
        TypeError, match=r"^Sequential: an index must be an int or a slice.*" + message
    ):
        nn.Sequential(nn.ReLU(), nn.ReLU())[index]  # type: ignore[call-overload]


def test_sequential_takes_numpy_integers_and_negative_indices_and_steps_as_torch() -> None:
    torch = pytest.importorskip("torch")
    ours = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    theirs = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
    assert ours[np.int64(1)] is ours[-2]
    for part in (slice(None, None, -1), slice(None, None, 2), slice(-2, None)):
        assert list(ours[part]._modules) == list(theirs[part]._modules)


def test_sequential_rejects_non_modules() -> None:
    with pytest.raises(TypeError, match="every entry must be a Module, got ufunc"):
        nn.Sequential(np.tanh)


def test_mse_loss_module_matches_functional() -> None:
    pred, target = np.array([1.0, 2.0, 4.0]), np.array([1.0, 0.0, 1.0])
    assert nn.MSELoss()(pred, target).item() == pytest.approx(13 / 3, rel=1e-12)


def test_cross_entropy_loss_module_matches_functional() -> None:
    logits = chainrule.tensor(np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]]))
    targets = np.array([1, 2])
    expected = chainrule.functional.cross_entropy(logits, targets).item()
    assert nn.CrossEntropyLoss()(logits, targets).item() == expected
