"""The README's Python examples run as written (in one namespace, in order) and give what the
text around them says: a passing gradcheck and an agreeing closed form, the gradient and
Hessian shapes the comments state, float64 through the engine, and the chain of `explain`."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture(scope="module")
def run() -> tuple[dict[str, Any], str]:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 5
    namespace: dict[str, Any] = {}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        for block in blocks:
            exec(compile(block, str(README), "exec"), namespace)
    return namespace, printed.getvalue()


def test_readme_gradcheck_passes_and_the_closed_form_agrees(
    run: tuple[dict[str, Any], str],
) -> None:
    namespace, printed = run
    assert namespace["report"].ok
    assert not namespace["report"].failing
    assert re.search(r"^w1  (exact|close) ", printed, flags=re.M)


def test_readme_transforms_give_the_shapes_their_comments_state(
    run: tuple[dict[str, Any], str],
) -> None:
    namespace, _ = run
    slopes, hessians = namespace["slopes"], namespace["hessians"]
    # In the comment's key order, which is the argument's.
    assert [(key, value.shape) for key, value in slopes.items()] == [("w", (8, 1)), ("b", (1,))]
    assert hessians["w"]["b"].shape == (8, 1, 1)
    assert namespace["out"].shape == namespace["tangent"].shape == (100, 1)


def test_readme_engine_example_keeps_float64_and_shapes(run: tuple[dict[str, Any], str]) -> None:
    namespace, printed = run
    loss, w1 = namespace["loss"], namespace["w1"]
    assert loss.dtype == np.float64
    assert w1.grad.dtype == np.float64
    assert w1.grad.shape == (8, 5)
    assert f"{loss.item()} (8, 5)" in printed
    v = np.ones(3)
    t = np.tanh(v)
    np.testing.assert_allclose(namespace["g"].numpy(), 3 * t**2 * (1 - t**2), rtol=1e-12)
    assert namespace["h"].shape == (3, 3)


def test_readme_explain_prints_the_chain_for_w1(run: tuple[dict[str, Any], str]) -> None:
    namespace, printed = run
    assert "The chain rule for dloss/dw1, w1 of shape (8, 5)" in printed
    assert "all local gradients agree with finite differences" in str(namespace["explanation"])
    assert callable(namespace["page"].save)
    assert callable(namespace["page"].serve)
