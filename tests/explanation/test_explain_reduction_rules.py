"""A reduction along an axis writes its factor with the reduction along that same axis:
evaluated, the printed factor is the gradient PyTorch gives (the upstream gradient is 1),
where max(w) of the whole array would give another one."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import chainrule
from chainrule.tensor import Tensor

VALUES = np.array([[0.5, -2.0, 1.5], [3.0, 0.25, -1.0]])


def _norm(a: np.ndarray, ord: float = 2.0, axis: Any = None, keepdims: bool = False) -> Any:
    return np.sum(np.abs(a) ** ord, axis=axis, keepdims=keepdims) ** (1 / ord)


SCOPE = {
    "max": np.max,
    "min": np.min,
    "prod": np.prod,
    "norm2": _norm,
    "pnorm": _norm,
    "sign": np.sign,
}


def _evaluate(rule: str, w: np.ndarray) -> np.ndarray:
    """The factor as NumPy reads it: [c] is the mask of c (= compared), |x| is abs(x), p is 3,
    and the words after the formula are dropped."""
    text = rule.split(" (")[0].replace(" / ties", "").replace("|w|", "abs(w)")
    text = text.replace("[", "(").replace("]", ")").replace(" = ", " == ").replace("p-1", "2")
    text = text.replace(") abs(", ") * abs(")  # sign(w) |w|**2: a product
    scope = {**SCOPE, "abs": np.abs, "w": w}
    return np.asarray(eval(text, {"__builtins__": {}}, scope), dtype=np.float64)


CASES: list[tuple[str, Callable[[Any], Any]]] = [
    ("max", lambda t: t.max(axis=1)),
    ("min", lambda t: t.min(axis=1)),
    ("prod", lambda t: t.prod(axis=1)),
    ("norm2", lambda t: t.norm(axis=1)),
    ("pnorm", lambda t: t.norm(ord=3.0, axis=1)),
    ("max keepdims", lambda t: t.max(axis=0, keepdims=True)),
]


def _torch_reduction(torch: ModuleType, name: str, t: Any) -> Any:
    if name == "max":
        return t.amax(dim=1)
    if name == "min":
        return t.amin(dim=1)
    if name == "prod":
        return t.prod(dim=1)
    if name == "norm2":
        return torch.linalg.vector_norm(t, dim=1)
    if name == "pnorm":
        return torch.linalg.vector_norm(t, ord=3.0, dim=1)
    return t.amax(dim=0, keepdim=True)


@pytest.mark.parametrize(("name", "reduce"), CASES, ids=[name for name, _ in CASES])
def test_the_factor_of_a_reduction_along_an_axis_is_its_gradient(
    torch: ModuleType, name: str, reduce: Callable[[Any], Any]
) -> None:
    w = chainrule.tensor(VALUES, requires_grad=True, name="w")
    loss: Tensor = reduce(w).sum()
    (link,) = [link for link in chainrule.explain(loss, w).links if link.input == "w"]
    reference = torch.tensor(VALUES, requires_grad=True)
    _torch_reduction(torch, name, reference).sum().backward()
    expected = reference.grad.numpy()
    printed = np.broadcast_to(_evaluate(link.rule, VALUES), VALUES.shape)
    np.testing.assert_allclose(printed, expected, rtol=1e-12, err_msg=link.rule)


LATEX_CASES: list[tuple[Callable[[Any], Any], str]] = [
    (lambda t: t.sum(axis=1), r"\textstyle\sum_{\text{axis }1} w"),
    (lambda t: t.mean(axis=0), r"\operatorname{mean}_{\text{axis }0}(w)"),
    (lambda t: t.max(axis=1), r"\max_{\text{axis }1}(w)"),
    (lambda t: t.min(axis=1), r"\min_{\text{axis }1}(w)"),
    (lambda t: t.prod(axis=1), r"\textstyle\prod_{\text{axis }1} w"),
    (lambda t: t.norm(axis=1), r"\lVert w \rVert_2\ \text{(axis 1)}"),
    (lambda t: t.norm(ord=3.0, axis=1), r"\lVert w \rVert_p\ \text{(axis 1)}"),
]


@pytest.mark.parametrize(("reduce", "formula"), LATEX_CASES)
def test_the_latex_formula_of_a_reduction_names_its_axis(
    reduce: Callable[[Any], Any], formula: str
) -> None:
    """Without the axis, sum over axis 1 read as the sum of every entry."""
    w = chainrule.tensor(VALUES, requires_grad=True, name="w")
    explanation = chainrule.explain(reduce(w).sum(), w)
    assert explanation.steps[0].formula_latex == formula
