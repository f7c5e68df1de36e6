"""The exercises, in the tutorial's order: dloss/dw1 worked as the example, then the seed's
five (x, b1, w2, b2, u2), then a deeper layer and cross-entropy.

Each `Exercise` says what its function receives (names and shapes from the forward pass and
the upstream gradients derived so far), what it returns, how to build a random problem, the
true gradient (from `chainrule.manual`) and the tutorial's slips that hide inside a product,
where the numbers alone cannot name them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from chainrule.check import Mistake
from chainrule.exercises.cases import (
    Array,
    Problem,
    Shapes,
    cross_entropy_problem,
    deep_problem,
    magnitude,
    tutorial_problem,
)

TUTORIAL_DIMS = ("N", "n_in", "n_hidden", "n_out")


@dataclass(frozen=True)
class Slip:
    """A known wrong answer of an exercise: what it computes and the mistake it is."""

    kind: Mistake
    message: str
    value: Array


@dataclass(frozen=True)
class Exercise:
    """One gradient to derive.

    `arguments` are (name, meaning with shape) in call order; `returns` is the shape of the
    answer; `task` the docstring's statement of the task (never the answer); `expected` the
    true gradient and `magnitude` the sum of |terms| of each of its entries (the scale of a
    right answer's rounding, `cases.magnitude`); `worked` the body of the worked example, or
    None for one left to the learner."""

    name: str
    function: str
    title: str
    arguments: tuple[tuple[str, str], ...]
    returns: str
    task: str
    build: Callable[[Shapes, np.random.Generator], Problem]
    dims: tuple[str, ...]
    expected: Callable[[Problem], Array]
    magnitude: Callable[[Problem], Array]
    slips: Callable[[Problem], tuple[Slip, ...]] = lambda problem: ()
    worked: str | None = None


def _mask_slips(
    upstream: Array,
    pre_activation: Array,
    then: Callable[[Array], Array],
    upstream_name: str,
    input_name: str,
) -> tuple[Slip, ...]:
    """The ReLU step done wrong inside a longer chain: the mask taken from the gradient, or
    left out, or the ReLU's input or output multiplied in where its derivative belongs, then
    the rest of the chain (`then`) done right."""
    derivative = f"the ReLU's derivative [{input_name} > 0] (1 where active, else 0)"
    return (
        Slip(
            Mistake.ZEROED,
            f"the gradient {upstream_name} is multiplied by {input_name} (times {input_name} "
            f"itself), where {derivative} belongs",
            then(upstream * pre_activation),
        ),
        Slip(
            Mistake.ZEROED,
            f"the gradient {upstream_name} is multiplied by the ReLU's output (times "
            f"relu({input_name})), where {derivative} belongs",
            then(upstream * np.maximum(pre_activation, 0)),
        ),
        Slip(
            Mistake.ZEROED,
            f"wrong entries zeroed: the ReLU mask comes from the wrong tensor "
            f"(it matches a mask taken from the gradient {upstream_name}, not from the ReLU's "
            f"input {input_name})",
            then(upstream * (upstream > 0)),
        ),
        Slip(
            Mistake.ZEROED,
            f"wrong entries zeroed: the ReLU mask is missing (the gradient "
            f"flows where {input_name} <= 0 too)",
            then(upstream),
        ),
    )


def _summed_mask_slips(
    upstream: Array,
    pre_activation: Array,
    then: Callable[[Array], Array],
    upstream_name: str,
    input_name: str,
) -> tuple[Slip, ...]:
    """The ReLU step of a gradient that sums over the samples, done wrong as the tutorial's
    answers write it: the condition placed outside the sum, one per hidden unit (any sample
    active, or every sample active), where it belongs to each sample and unit inside the sum.
    Then the mask-less slips of `_mask_slips`."""
    message = (
        f"wrong entries zeroed: the ReLU condition is applied after the sum over the samples, "
        f"once per hidden unit (it matches a mask of {input_name} > 0 for {{which}} sample); "
        f"it belongs inside the sum, {upstream_name} * ({input_name} > 0) for each sample "
        "and unit"
    )
    active = pre_activation > 0
    outside = (
        Slip(Mistake.ZEROED, message.format(which="any"), then(upstream) * active.any(axis=0)),
        Slip(Mistake.ZEROED, message.format(which="every"), then(upstream) * active.all(axis=0)),
    )
    return (
        *_mask_slips(upstream, pre_activation, then, upstream_name, input_name),
        # All 0 (no unit active for every sample) says nothing of where the condition went.
        *(slip for slip in outside if slip.value.any()),
    )


def _tutorial(name: str) -> Callable[[Problem], Array]:
    return lambda problem: problem.grads[name]


def _magnitude(name: str) -> Callable[[Problem], Array]:
    return lambda problem: magnitude(problem, name)


def _x_slips(problem: Problem) -> tuple[Slip, ...]:
    values = problem.values
    w1 = values["w1"]
    mask_slips = _mask_slips(values["du2"], values["u1"], lambda du1: du1 @ w1.T, "du2", "u1")
    if problem.shapes["N"] == 1:
        return mask_slips  # a sum over one sample is only a change of shape
    summed = (values["du2"] * (values["u1"] > 0)) @ w1.T
    return (
        *mask_slips,
        *(
            Slip(
                Mistake.WRONG_AXIS,
                "summed over the wrong axis: summed over the samples, "
                "but each row of dloss/dx belongs to one sample alone",
                wrong,
            )
            for wrong in (summed.sum(axis=0), summed.sum(axis=0, keepdims=True))
        ),
    )


def _deep_slips(problem: Problem) -> tuple[Slip, ...]:
    values = problem.values
    da2 = values["dz3"] @ values["w3"].T
    return _summed_mask_slips(da2, values["z2"], lambda dz2: values["a1"].T @ dz2, "da2", "z2")


def _logits_slips(problem: Problem) -> tuple[Slip, ...]:
    logits, targets = problem.values["logits"], problem.values["targets"]
    exp = np.exp(logits - logits.max(axis=0, keepdims=True))
    onehot = np.eye(logits.shape[1])[targets]
    wrong = (exp / exp.sum(axis=0, keepdims=True) - onehot) / len(logits)
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    softmax = shifted / shifted.sum(axis=1, keepdims=True)
    columns = softmax.copy()
    columns[:, targets] -= 1
    gradient = (softmax - onehot) / len(logits)
    return (
        Slip(
            Mistake.SIGN_FLIPPED,
            "sign flipped (got = -expected): onehot - p, where d(-log p_t)/dlogits_j = "
            "p_j - [j == t]",
            -gradient,
        ),
        Slip(
            Mistake.SCALED,
            "off by a factor of 1/n_classes: divided by logits.size (N * n_classes), but the "
            "loss is a mean over the N examples only; each example's classes are summed",
            (softmax - onehot) / logits.size,
        ),
        Slip(
            Mistake.UNKNOWN,
            "the one-hot subtracted at the wrong entries: p[:, targets] -= 1 takes every "
            "example's target column in every row; row i wants its own target only, "
            "p[np.arange(N), targets]",
            columns / len(logits),
        ),
        Slip(
            Mistake.UNKNOWN,
            "the one-hot of the targets is missing: d(-log p_t)/dlogits = p - onehot(t), "
            "not p alone",
            softmax / len(logits),
        ),
        Slip(
            Mistake.WRONG_AXIS,
            "summed over the wrong axis: the softmax normalises over "
            "axis 0 (the batch) instead of over each example's classes",
            wrong,
        ),
    )


EXERCISES: tuple[Exercise, ...] = (
    Exercise(
        name="w1",
        function="dloss_dw1",
        title="dloss/dw1 (worked example)",
        arguments=(
            ("x", "the input, shape (N, n_in)"),
            ("u1", "x @ w1 + b1, shape (N, n_hidden)"),
            ("u4", "y - u3, shape (N, n_out)"),
            ("w2", "the second layer's weight, shape (n_hidden, n_out)"),
        ),
        returns="(n_in, n_hidden)",
        task="The gradient of the loss with respect to w1: the whole chain from the loss back "
        "to w1, one stored intermediate gradient per line.",
        build=tutorial_problem,
        dims=TUTORIAL_DIMS,
        expected=_tutorial("w1"),
        magnitude=_magnitude("w1"),
        slips=lambda problem: _summed_mask_slips(
            problem.values["du2"],
            problem.values["u1"],
            lambda du1: problem.values["x"].T @ du1,
            "du2",
            "u1",
        ),
        worked=(
            "du4 = 2 * u4 / u4.size  # loss = mean(u5) over all N * n_out entries, u5 = u4**2\n"
            "du3 = -du4  # u4 = y - u3, so du4/du3 = -1\n"
            "du2 = du3 @ w2.T  # u3 = u2 @ w2 + b2: (N, n_out) @ (n_out, n_hidden)\n"
            "du1 = du2 * (u1 > 0)  # u2 = max(0, u1): the mask of each sample and unit\n"
            "return x.T @ du1  # u1 = x @ w1 + b1: (n_in, N) @ (N, n_hidden)"
        ),
    ),
    Exercise(
        name="x",
        function="dloss_dx",
        title="dloss/dx",
        arguments=(
            ("u1", "x @ w1 + b1, shape (N, n_hidden)"),
            ("w1", "the first layer's weight, shape (n_in, n_hidden)"),
            ("du2", "dloss/du2, shape (N, n_hidden)"),
        ),
        returns="(N, n_in)",
        task="The gradient of the loss with respect to the input x, given dloss/du2.",
        build=tutorial_problem,
        dims=TUTORIAL_DIMS,
        expected=_tutorial("x"),
        magnitude=_magnitude("x"),
        slips=_x_slips,
    ),
    Exercise(
        name="b1",
        function="dloss_db1",
        title="dloss/db1",
        arguments=(
            ("u1", "x @ w1 + b1, shape (N, n_hidden)"),
            ("du2", "dloss/du2, shape (N, n_hidden)"),
        ),
        returns="(n_hidden,)",
        task="The gradient of the loss with respect to the first bias b1, given dloss/du2.",
        build=tutorial_problem,
        dims=TUTORIAL_DIMS,
        expected=_tutorial("b1"),
        magnitude=_magnitude("b1"),
        slips=lambda problem: _summed_mask_slips(
            problem.values["du2"], problem.values["u1"], lambda du1: du1.sum(axis=0), "du2", "u1"
        ),
    ),
    Exercise(
        name="w2",
        function="dloss_dw2",
        title="dloss/dw2",
        arguments=(("u2", "relu(u1), shape (N, n_hidden)"), ("u4", "y - u3, shape (N, n_out)")),
        returns="(n_hidden, n_out)",
        task="The gradient of the loss with respect to the second weight w2, from u4 on.",
        build=tutorial_problem,
        dims=TUTORIAL_DIMS,
        expected=_tutorial("w2"),
        magnitude=_magnitude("w2"),
    ),
    Exercise(
        name="b2",
        function="dloss_db2",
        title="dloss/db2",
        arguments=(("u4", "y - u3, shape (N, n_out)"),),
        returns="(n_out,)",
        task="The gradient of the loss with respect to the second bias b2, from u4 on.",
        build=tutorial_problem,
        dims=TUTORIAL_DIMS,
        expected=_tutorial("b2"),
        magnitude=_magnitude("b2"),
    ),
    Exercise(
        name="u2",
        function="dloss_du2",
        title="dloss/du2",
        arguments=(
            ("u4", "y - u3, shape (N, n_out)"),
            ("w2", "the second layer's weight, shape (n_hidden, n_out)"),
        ),
        returns="(N, n_hidden)",
        task="The gradient of the loss with respect to the hidden activations u2, from u4 on.",
        build=tutorial_problem,
        dims=TUTORIAL_DIMS,
        expected=_tutorial("u2"),
        magnitude=_magnitude("u2"),
    ),
    Exercise(
        name="deep_w2",
        function="dloss_dw2_deep",
        title="dloss/dw2 of a 3-layer MLP",
        arguments=(
            ("a1", "relu(z1), the first hidden layer, shape (N, n_hidden)"),
            ("z2", "a1 @ w2 + b2, shape (N, n_hidden2)"),
            ("w3", "the last layer's weight, shape (n_hidden2, n_out)"),
            ("dz3", "dloss/dz3 for the output z3, shape (N, n_out)"),
        ),
        returns="(n_hidden, n_hidden2)",
        task="A deeper network: z1 = x @ w1 + b1, a1 = relu(z1), z2 = a1 @ w2 + b2, "
        "a2 = relu(z2), z3 = a2 @ w3 + b3, loss = mean((y - z3)**2). The gradient of the "
        "loss with respect to the middle weight w2, given dloss/dz3.",
        build=deep_problem,
        dims=("N", "n_in", "n_hidden", "n_hidden2", "n_out"),
        expected=lambda problem: problem.grads["w2"],
        magnitude=_magnitude("w2"),
        slips=_deep_slips,
    ),
    Exercise(
        name="logits",
        function="dloss_dlogits",
        title="dloss/dlogits of cross-entropy",
        arguments=(
            ("logits", "class scores, shape (N, n_classes)"),
            ("targets", "the class of each example, integers, shape (N,)"),
        ),
        returns="(N, n_classes)",
        task="Classification: loss = mean over the examples of -log softmax(logits_i)"
        "[targets_i]. The gradient of the loss with respect to the logits.",
        build=cross_entropy_problem,
        dims=("N", "n_classes"),
        expected=lambda problem: problem.grads["logits"],
        magnitude=_magnitude("logits"),
        slips=_logits_slips,
    ),
)

BY_NAME: dict[str, Exercise] = {exercise.name: exercise for exercise in EXERCISES}


def get_exercise(name: str) -> Exercise:
    """The exercise called `name` ("x", "b1", ...; its function name works too)."""
    for exercise in EXERCISES:
        if name in (exercise.name, exercise.function):
            return exercise
    known = ", ".join(exercise.name for exercise in EXERCISES)
    raise ValueError(f"no exercise called {name!r}; the exercises are {known}")
