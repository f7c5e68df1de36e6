"""What `chainrule exercises check --solution NAME` prints is right: the code at the end of
each derivation passes the grader, and the text names the mean's factor as the loss has it."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from chainrule.exercises import EXERCISES, SOLUTIONS, Exercise, check

TUTORIAL_DIMS = ("N", "n_in", "n_hidden", "n_out")
TUTORIAL = [exercise for exercise in EXERCISES if exercise.dims == TUTORIAL_DIMS]


def solution_function(exercise: Exercise) -> Callable[..., Any]:
    """The derivation's closing code block, as the exercise's function."""
    block = re.split(r"\n\s*\n", SOLUTIONS[exercise.name].strip())[-1]
    arguments = ", ".join(name for name, _ in exercise.arguments)
    source = f"def {exercise.function}({arguments}):\n" + textwrap.indent(
        textwrap.dedent(block), "    "
    )
    namespace: dict[str, Any] = {"np": np}
    exec(source, namespace)
    return namespace[exercise.function]


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda exercise: exercise.name)
def test_each_solutions_code_passes_the_grader(exercise: Exercise) -> None:
    result = check(exercise.name, solution_function(exercise))
    assert result.passed, result.message


@pytest.mark.parametrize("exercise", TUTORIAL, ids=lambda exercise: exercise.name)
def test_tutorial_solutions_never_call_the_means_factor_1_over_n(exercise: Exercise) -> None:
    """The tutorial's loss averages all N * n_out entries: a solution saying the mean gives
    1/N repeats the tutorial's slip (right only for n_out = 1)."""
    text = re.sub(r"\s+", " ", SOLUTIONS[exercise.name])
    assert not re.search(r"1 ?/ ?N(?! \*)", text), text
