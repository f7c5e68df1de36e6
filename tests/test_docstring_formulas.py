"""The gradient formulas the loss docstrings state, evaluated as written and compared with
the engine's gradients: a docstring's math is what a learner reads first."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import functional as F


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def stated(function: Callable[..., Any], derivative: str) -> str:
    """The right-hand side of `derivative = ...` in the docstring, up to the first ',', ';'
    or '. ' outside parentheses, in Python: `log p` as log(p), juxtaposition as '*'."""
    text = re.sub(r"\s+", " ", function.__doc__ or "") + " "
    start = text.find(derivative + " = ")
    assert start >= 0, f"{function.__name__}'s docstring no longer states {derivative}"
    depth, begin = 0, start + len(derivative) + 3
    end = begin
    for end in range(begin, len(text)):
        depth += {"(": 1, ")": -1}.get(text[end], 0)
        if depth == 0 and (text[end] in ",;" or text[end : end + 2] == ". "):
            break
    formula = text[begin:end].strip()
    formula = re.sub(r"\blog (\w+)", r"log(\1)", formula)
    return re.sub(r"(?<=[\w)]) (?=[\w(])", " * ", formula)


def evaluate(formula: str, **names: Any) -> np.ndarray:
    namespace = {"sigmoid": sigmoid, "clip": np.clip, "max": np.maximum, "log": np.log}
    return np.asarray(eval(formula, namespace, names))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def test_bce_with_logits_gradient_as_stated(rng: np.random.Generator) -> None:
    x = rng.standard_normal((4, 3)) * 2
    t = rng.random((4, 3))
    weight, pos_weight = rng.random(3) + 0.5, rng.random(3) + 0.5
    logits = cr.tensor(x, requires_grad=True)
    F.binary_cross_entropy_with_logits(
        logits, t, weight, reduction="sum", pos_weight=pos_weight
    ).backward()
    formula = stated(F.binary_cross_entropy_with_logits, "dL/dx")
    expected = evaluate(formula, x=x, t=t, weight=weight, pos_weight=pos_weight)
    np.testing.assert_allclose(logits.grad.data, expected, rtol=1e-12, atol=1e-14)


def test_bce_gradients_as_stated(rng: np.random.Generator) -> None:
    p, t, w = rng.random((5,)) * 0.9 + 0.05, rng.random((5,)), rng.random((5,)) + 0.5
    probabilities = cr.tensor(p, requires_grad=True)
    targets = cr.tensor(t, requires_grad=True)
    F.binary_cross_entropy(probabilities, targets, w, reduction="sum").backward()
    for tensor, derivative in ((probabilities, "dL/dp"), (targets, "dL/dt")):
        formula = stated(F.binary_cross_entropy, derivative)
        expected = evaluate(formula, p=p, t=t, w=w)
        np.testing.assert_allclose(tensor.grad.data, expected, rtol=1e-12, err_msg=formula)


@pytest.mark.parametrize(
    ("loss", "derivative", "options"),
    [
        (F.huber_loss, "dL/dinput", {"delta": 0.7, "reduction": "sum"}),
        (F.smooth_l1_loss, "dL/dinput", {"beta": 0.7, "reduction": "sum"}),
        (F.mse_loss, "dL/dpred", {}),
    ],
    ids=["huber_loss", "smooth_l1_loss", "mse_loss"],
)
def test_regression_loss_gradients_as_stated(
    rng: np.random.Generator, loss: Callable[..., Any], derivative: str, options: dict[str, Any]
) -> None:
    prediction, target = rng.standard_normal((6, 2)), rng.standard_normal((6, 2))
    tensor = cr.tensor(prediction, requires_grad=True)
    loss(tensor, target, **options).backward()
    formula = stated(loss, derivative)
    names = {"input": prediction, "pred": prediction, "target": target, "n": prediction.size}
    expected = evaluate(formula, **names, **{k: v for k, v in options.items() if k != "reduction"})
    np.testing.assert_allclose(tensor.grad.data, expected, rtol=1e-12, err_msg=formula)
