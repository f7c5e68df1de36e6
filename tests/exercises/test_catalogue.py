"""The exercises' reference answers (from chainrule.manual) agree with finite differences of
each loss, and the shape sets cover N = 1, n_hidden = 1 and n_out > 1."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from chainrule.check import numerical_grad
from chainrule.exercises import EXERCISES, get_exercise
from chainrule.exercises.cases import Problem, draw_shapes


def relu(value: np.ndarray) -> np.ndarray:
    return np.maximum(value, 0)


def tutorial_loss(values: dict[str, np.ndarray], wrt: str) -> Callable[[np.ndarray], float]:
    """The tutorial's loss as a function of `wrt` (x, w1, b1, w2, b2 or u2), the rest fixed."""

    def loss(point: np.ndarray) -> float:
        named = {**values, wrt: point}
        u2 = point if wrt == "u2" else relu(named["x"] @ named["w1"] + named["b1"])
        u3 = u2 @ named["w2"] + named["b2"]
        return float(((named["y"] - u3) ** 2).mean())

    return loss


def deep_loss(values: dict[str, np.ndarray]) -> Callable[[np.ndarray], float]:
    """The 3-layer MLP's loss as a function of its middle weight, biases recovered from z."""
    b1 = values["z1"][0] - values["x"][0] @ values["w1"]
    b2 = values["z2"][0] - values["a1"][0] @ values["w2"]
    b3 = values["z3"][0] - relu(values["z2"][0]) @ values["w3"]

    def loss(w2: np.ndarray) -> float:
        a1 = relu(values["x"] @ values["w1"] + b1)
        z3 = relu(a1 @ w2 + b2) @ values["w3"] + b3
        return float(((values["y"] - z3) ** 2).mean())

    return loss


def cross_entropy_loss(targets: np.ndarray) -> Callable[[np.ndarray], float]:
    def loss(logits: np.ndarray) -> float:
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        return float(-log_probs[np.arange(len(logits)), targets].mean())

    return loss


def loss_and_point(name: str, problem: Problem) -> tuple[Callable[[np.ndarray], float], np.ndarray]:
    values = problem.values
    if name == "deep_w2":
        return deep_loss(values), values["w2"]
    if name == "logits":
        return cross_entropy_loss(values["targets"]), values["logits"]
    return tutorial_loss(values, name), values[name]


@pytest.mark.parametrize("name", [exercise.name for exercise in EXERCISES])
def test_reference_answer_agrees_with_finite_differences_on_every_shape_set(
    name: str,
    rng: np.random.Generator,
) -> None:
    exercise = get_exercise(name)
    for shapes in draw_shapes(rng):
        problem = exercise.build(shapes, rng)
        loss, point = loss_and_point(name, problem)
        expected = exercise.expected(problem)
        numerical = numerical_grad(loss, point)
        assert expected.shape == point.shape
        np.testing.assert_allclose(expected, numerical, rtol=1e-5, atol=1e-8)


def test_shape_sets_are_general_then_one_sample_one_hidden_unit_one_output(
    rng: np.random.Generator,
) -> None:
    general, one_sample, one_hidden, one_output = draw_shapes(rng)
    assert len(set(general.values())) == 5
    assert min(general.values()) >= 3
    assert one_sample["N"] == 1
    assert one_sample["n_out"] > 1
    assert one_hidden["n_hidden"] == one_hidden["n_hidden2"] == 1
    assert one_output["n_out"] == 1


def test_every_relu_has_active_and_inactive_units_so_a_wrong_mask_shows(
    rng: np.random.Generator,
) -> None:
    general = draw_shapes(rng)[0]
    tutorial = get_exercise("x").build(general, rng).values["u1"]
    deep = get_exercise("deep_w2").build(general, rng).values["z2"]
    for pre_activation in (tutorial, deep):
        assert (pre_activation > 0).any()
        assert (pre_activation <= 0).any()


def test_the_targets_of_several_examples_are_of_two_classes_at_least(
    rng: np.random.Generator,
) -> None:
    """With one class only, p[:, targets] -= 1 (the slip) equals the one-hot and passes."""
    exercise = get_exercise("logits")
    for _ in range(25):
        for shapes in draw_shapes(rng):
            targets = exercise.build(shapes, rng).values["targets"]
            assert len(targets) == 1 or len(np.unique(targets)) > 1, targets


def test_the_targets_slip_fails_on_seeds_where_every_target_was_one_class() -> None:
    """Each of these seeds drew, in every shape set, targets of one class only: the slip
    passed the checker there."""
    from chainrule.exercises import check

    def dloss_dlogits(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        p = shifted / shifted.sum(axis=1, keepdims=True)
        p[:, targets] -= 1
        return p / len(logits)

    for seed in (3758, 5534, 10523, 14430, 23848):
        result = check("logits", dloss_dlogits, seed=seed)
        assert result.message.startswith("the one-hot subtracted at the wrong entries"), result


def test_every_argument_and_answer_has_the_shape_its_docstring_states(
    rng: np.random.Generator,
) -> None:
    general = draw_shapes(rng)[0]
    for exercise in EXERCISES:
        problem = exercise.build(general, rng)

        def size_of(stated: str, sizes: dict[str, int] = problem.shapes) -> tuple[int, ...]:
            names = stated.strip("()").replace(" ", "").split(",")
            return tuple(sizes[name] for name in names if name)

        for argument, meaning in exercise.arguments:
            stated = meaning.rsplit("shape ", 1)[1]
            assert problem.values[argument].shape == size_of(stated), (exercise.name, argument)
        assert exercise.expected(problem).shape == size_of(exercise.returns), exercise.name


def test_an_unknown_exercise_name_lists_the_known_ones() -> None:
    with pytest.raises(
        ValueError,
        match=r"no exercise called 'b3'; the exercises are w1, x, "
        r"b1, w2, b2, u2, deep_w2, logits",
    ):
        get_exercise("b3")
