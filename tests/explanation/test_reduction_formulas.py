"""A reduction's formula in explain (and the explore page) is the NumPy call that gives its
shape: keepdims=True is written out, since without it the broadcast after it differs."""

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
