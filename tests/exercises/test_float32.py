"""A right answer computed in float32 passes every exercise, even where its terms cancel
(p - onehot of a confident prediction, a batch sum of errors of both signs, one hidden
unit); the same answer made wrong in float32 still fails with its mistake named."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from test_solutions import solution_function

from chainrule.check import Mistake
from chainrule.exercises import EXERCISES, Exercise, check
from chainrule.exercises.cases import draw_shapes

Answer = Callable[..., Any]

CANCELLING_SEEDS = (245, 598, 770, 810)
"""Seeds whose problems made a float32 right answer fail a tolerance relative to the entry
itself: logits at 245 (N = 1, p = 0.996), b2 at 598, w1 at 770, deep_w2 at 810."""


def in_float32(exercise: Exercise) -> Answer:
    """The exercise's solution run on its float arguments cast to float32."""
    solution = solution_function(exercise)

    def answer(**arguments: np.ndarray) -> Any:
        cast = {
            name: value.astype(np.float32) if value.dtype.kind == "f" else value
            for name, value in arguments.items()
        }
        return solution(**cast)

    return answer


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda exercise: exercise.name)
def test_a_right_answer_in_float32_passes_where_its_terms_cancel(exercise: Exercise) -> None:
    answer = in_float32(exercise)
    for seed in (*CANCELLING_SEEDS, *range(40)):
        result = check(exercise.name, answer, seed=seed)
        assert result.passed, (seed, str(result))


def logits_float32_softmax_float64_onehot(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """A float64 answer with float32 precision: the softmax in float32, the one-hot not."""
    shifted = np.exp(logits.astype(np.float32) - logits.max(axis=1, keepdims=True))
    p = shifted / shifted.sum(axis=1, keepdims=True)
    return (p - np.eye(logits.shape[1])[targets]) / len(logits)


def test_a_float64_answer_that_went_through_float32_passes() -> None:
    assert logits_float32_softmax_float64_onehot(np.zeros((1, 2)), np.array([0])).dtype == (
        np.float64
    )
    for seed in (*CANCELLING_SEEDS, *range(40)):
        result = check("logits", logits_float32_softmax_float64_onehot, seed=seed)
        assert result.passed, (seed, str(result))


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda exercise: exercise.name)
@pytest.mark.parametrize(
    ("slip", "kind"),
    [
        (lambda gradient: -gradient, Mistake.SIGN_FLIPPED),
        (lambda gradient: 2 * gradient, Mistake.SCALED),
        (lambda gradient: gradient * np.float32(1 + 1e-3), Mistake.SCALED),
    ],
    ids=["sign", "factor 2", "factor 1.001"],
)
def test_a_wrong_answer_in_float32_still_fails_named(
    exercise: Exercise, slip: Callable[[Any], Any], kind: Mistake
) -> None:
    right = in_float32(exercise)

    def wrong(**arguments: np.ndarray) -> Any:
        return slip(right(**arguments))

    for seed in CANCELLING_SEEDS:
        result = check(exercise.name, wrong, seed=seed)
        assert result.kind is kind, (seed, str(result))


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda exercise: exercise.name)
def test_each_magnitude_bounds_its_gradient_entry_by_entry(
    exercise: Exercise, rng: np.random.Generator
) -> None:
    """The sum of |terms| is at least |sum of terms|, and 0 only where the gradient is an
    exact 0 of a mask (there a right answer carries no rounding either)."""
    for shapes in draw_shapes(rng):
        problem = exercise.build(shapes, rng)
        expected, magnitude = exercise.expected(problem), exercise.magnitude(problem)
        assert magnitude.shape == expected.shape
        assert np.all(magnitude >= np.abs(expected) * (1 - 1e-12)), exercise.name
        assert np.all(expected[magnitude == 0] == 0), exercise.name
