"""A random generator the step draws from: a `random.Random` instance it holds, or any
generator passed to it as an argument (hashable, so a setting of the signature). Neither was
watched: a step choosing its path or a factor from a draw (`2.0 if rng.random() > 0.5 else
1.0`) replayed the traced call's draw whenever the first two draws agreed. Like the NumPy
Generators it holds, each is now refused when the trace sees its state move."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.compiler import CompileError, compile

GENERATORS: dict[str, tuple[str, Callable[[], Any]]] = {
    "numpy-Generator": ("np.random.Generator", lambda: np.random.default_rng(0)),
    "numpy-RandomState": ("np.random.RandomState", lambda: np.random.RandomState(0)),
    "python-Random": ("random.Random", lambda: random.Random(0)),
}


def _weight() -> cr.Tensor:
    return cr.tensor(np.ones(3), requires_grad=True)


@pytest.mark.parametrize("backend", ["numpy", "xla"])
@pytest.mark.parametrize("case", list(GENERATORS))
def test_a_generator_passed_as_an_argument_and_drawn_from_is_refused(
    case: str, backend: str
) -> None:
    kind, make = GENERATORS[case]
    weight = _weight()

    def step(x: np.ndarray, rng: Any) -> cr.Tensor:
        factor = 2.0 if rng.random() > 0.5 else 1.0
        return (cr.tensor(x) * weight).sum() * factor

    expected = f"drew random numbers from the {re.escape(kind)} argument 1"
    with pytest.raises(CompileError, match=expected):
        compile(step, backend=backend)(np.arange(3.0), make())


@pytest.mark.parametrize("backend", ["numpy", "xla"])
def test_a_python_random_instance_the_step_holds_and_draws_from_is_refused(backend: str) -> None:
    weight = _weight()
    rng = random.Random(0)

    def step(x: np.ndarray) -> cr.Tensor:
        factor = 2.0 if rng.random() > 0.5 else 1.0
        return (cr.tensor(x) * weight).sum() * factor

    with pytest.raises(CompileError, match=r"drew random numbers from the random\.Random 'rng'"):
        compile(step, backend=backend)(np.arange(3.0))


@pytest.mark.parametrize("case", list(GENERATORS))
def test_a_generator_passed_but_not_drawn_from_still_replays(case: str) -> None:
    _, make = GENERATORS[case]
    weight = _weight()

    def step(x: np.ndarray, rng: Any) -> cr.Tensor:
        return (cr.tensor(x) * weight).sum()

    compiled = compile(step)
    rng = make()
    for _ in range(4):
        assert compiled(np.arange(3.0), rng).item() == 3.0
    assert compiled.traces == 2
