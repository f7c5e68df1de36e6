"""A step's formula in explain (and the explore page) is the NumPy code that computes it: a
reduction writes out keepdims=True, since without it the broadcast after it differs, and an
index is written as Python writes it (a[1:, :2], not a[(slice(1, None, None), ...)])."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule
from chainrule.tensor import Tensor


@pytest.mark.parametrize("reduction", ["sum", "mean", "max", "min"])
def test_a_reduction_with_keepdims_says_so_in_its_formula(reduction: str) -> None:
    a = Tensor(np.random.default_rng(0).standard_normal((3, 4)), requires_grad=True, name="a")
    kept = getattr(chainrule, reduction)(a, axis=1, keepdims=True)
    loss = ((a - kept) ** 2).mean()  # (3, 4) - (3, 1): one value per row, as written
    step = chainrule.explain(loss, a).steps[0]
    assert step.shape == (3, 1)
    assert step.formula == f"{reduction}(a, axis=1, keepdims=True)"
    values = {"a": a.data, "np": np}
    assert np.shape(eval(f"np.{step.formula}", values)) == step.shape  # the formula runs as NumPy


def test_a_reduction_without_keepdims_is_written_as_before() -> None:
    a = Tensor(np.ones((3, 4)), requires_grad=True, name="a")
    loss = chainrule.sum(chainrule.sum(a, axis=1) ** 2)
    assert chainrule.explain(loss, a).steps[0].formula == "sum(a, axis=1)"


@pytest.mark.parametrize(
    ("select", "formula"),
    [
        (lambda a: a[1], "a[1]"),
        (lambda a: a[1:, :2], "a[1:, :2]"),
        (lambda a: a[::2, -1], "a[::2, -1]"),
        (lambda a: a[:, None], "a[:, None]"),
        (lambda a: a[..., 0], "a[..., 0]"),
        (lambda a: a[np.array([0, 2])], "a[[0, 2]]"),
        (lambda a: a[a.data > 3], "a[<boolean mask of shape (3, 4)>]"),
    ],
)
def test_an_index_is_written_as_python_writes_it(select: object, formula: str) -> None:
    a = Tensor(np.arange(12.0).reshape(3, 4), requires_grad=True, name="a")
    loss = chainrule.sum(select(a))  # type: ignore[operator]
    assert chainrule.explain(loss, a).steps[0].formula == formula
