"""Grading one function in this process: run it on fresh random problems, compare with the
true gradient at the exact shape, and name what is wrong.

`check("b1", my_fn)` is the Python entry point (for a notebook); the file grader runs the
same `grade_function` inside a subprocess, so that a learner's hang or crash is contained.
"""

from __future__ import annotations

import sys
import threading
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np

from chainrule.check import Diagnosis, Mistake, diagnose
from chainrule.exercises.cases import Array, Problem, draw_shapes
from chainrule.exercises.catalogue import Exercise, get_exercise
from chainrule.exercises.hints import kind_hint

RTOL = 1e-5
"""Relative tolerance of a correct answer: float64 maths agrees far closer; float32 passes."""

ROUNDINGS = 64
"""Roundings a right answer's entry may carry, each of up to float32's eps times the sum of
|terms| of that entry (`Exercise.magnitude`): an input cast, the few steps of the chain and
sums of up to 9 terms, twice over for room. float32's eps whatever the answer's dtype, as a
float64 answer may have passed through float32 on the way (a float32 softmax minus a float64
one-hot). Wrong answers differ by whole terms, a million times more."""

FLOAT32_EPS = float(np.finfo(np.float32).eps)


class Status(str, Enum):
    """How an exercise fared; the value is how the line starts."""

    PASSED = "ok"
    NOT_DONE = "not done yet"
    WRONG = "wrong"
    ERROR = "error"
    TIMED_OUT = "timed out"
    CRASHED = "crashed"
    MISSING = "missing"


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one exercise: `passed`, the `status`, a `message` saying what is wrong
    (empty when passed or not done), the `kind` of mistake where one was named, and the
    shapes it failed at. `str` gives the one line the checker prints."""

    name: str
    function: str
    status: Status
    message: str = ""
    kind: Mistake | None = None
    shapes: Mapping[str, int] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status is Status.PASSED

    def __str__(self) -> str:
        at = ", ".join(f"{name}={size}" for name, size in self.shapes.items())
        where = f" at {at}" if at else ""
        detail = f"{where}: {self.message}" if self.message else ""
        return f"{self.function:<15} {self.status.value}{detail}"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "function": self.function,
            "status": self.status.value,
            "message": self.message,
            "kind": None if self.kind is None else self.kind.name,
            "shapes": dict(self.shapes),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CheckResult:
        kind = data.get("kind")
        return cls(
            data["name"],
            data["function"],
            Status(data["status"]),
            data["message"],
            None if kind is None else Mistake[kind],
            dict(data["shapes"]),
        )


def check(name: str, function: Callable[..., Any], *, seed: int | None = None) -> CheckResult:
    """Grade `function` as the answer to exercise `name` ("x", "b1", "w2", ...) on fresh
    random shapes (fixed by `seed` when given), in this process and without a time limit.

    Example:
        >>> def dloss_db2(u4):
        ...     return (-2 * u4 / u4.size).sum(axis=0)
        >>> print(check("b2", dloss_db2))
        dloss_db2       ok
    """
    exercise = get_exercise(name)
    if not callable(function):
        raise TypeError(
            f"check({name!r}, ...) needs the function {exercise.function} itself, "
            f"got {type(function).__name__}; pass the function, not its result"
        )
    return grade_function(exercise, function, rng=np.random.default_rng(seed))


def grade_function(
    exercise: Exercise, function: Callable[..., Any], *, rng: np.random.Generator
) -> CheckResult:
    """Run `function` on each shape set of `draw_shapes`; the first shape set where it
    raises or disagrees decides the result."""
    for shapes in draw_shapes(rng):
        problem = exercise.build(shapes, rng)
        arguments = {name: problem.values[name].copy() for name, _ in exercise.arguments}
        try:
            answer, called = _call_watching(function, arguments)
        except NotImplementedError:
            return CheckResult(exercise.name, exercise.function, Status.NOT_DONE)
        except (Exception, SystemExit) as error:
            code = getattr(function, "__code__", None)
            return CheckResult(
                exercise.name,
                exercise.function,
                Status.ERROR,
                describe_error(error, code and code.co_filename),
                shapes=_dims(exercise, problem),
            )
        wrong = (
            _called_chainrule(exercise, problem, called)
            or _changed_in_place(exercise, problem, arguments)
            or _judge(exercise, problem, answer)
        )
        if wrong is not None:
            return wrong
    return CheckResult(exercise.name, exercise.function, Status.PASSED)


CHAINRULE_SOURCE = Path(__file__).resolve().parents[1]
"""The package's folder: a call into code under it, made by a learner's function, is
chainrule computing the answer."""


def _call_watching(
    function: Callable[..., Any], arguments: Mapping[str, Array]
) -> tuple[object, str | None]:
    """`function(**arguments)` and the first chainrule function it called (module.qualname),
    or None, in any thread (threads already running only on Python 3.12+). A profile hook
    sees every Python-level call; chainrule is pure Python."""
    called: list[str] = []
    in_chainrule: dict[str, bool] = {}

    def watch(frame: FrameType, event: str, arg: object) -> None:
        if event != "call" or called:
            return
        code = frame.f_code
        filename = code.co_filename
        if filename not in in_chainrule:
            in_chainrule[filename] = Path(filename).resolve().is_relative_to(CHAINRULE_SOURCE)
        if in_chainrule[filename] and code.co_name not in ("<module>", "__getattr__"):
            qualname = getattr(code, "co_qualname", code.co_name)  # 3.11+: Class.method
            called.append(f"{frame.f_globals.get('__name__', '?')}.{qualname}")

    # A profile hook is per thread: threads the answer starts get it too, and on 3.12+
    # threads already running (a pool's) as well, so no thread can run chainrule unseen.
    previous, previous_threads = sys.getprofile(), threading.getprofile()
    every_thread = getattr(threading, "setprofile_all_threads", None)
    threading.setprofile(watch)
    if every_thread is not None:
        every_thread(watch)
    sys.setprofile(watch)
    try:
        answer = function(**arguments)
    finally:
        if every_thread is not None:
            every_thread(previous_threads)
        threading.setprofile(previous_threads)
        sys.setprofile(previous)
    return answer, called[0] if called else None


def _called_chainrule(
    exercise: Exercise, problem: Problem, called: str | None
) -> CheckResult | None:
    """A refusal when the answer came from chainrule's own code rather than the learner's
    derivation: its numbers are chainrule's, right whatever the learner understood."""
    if called is None:
        return None
    return CheckResult(
        exercise.name,
        exercise.function,
        Status.WRONG,
        f"called chainrule's own {called}: the exercise is to derive the gradient by hand "
        "and compute it with NumPy alone, so the answer must not come from chainrule",
        shapes=_dims(exercise, problem),
    )


def _changed_in_place(
    exercise: Exercise, problem: Problem, arguments: Mapping[str, Array]
) -> CheckResult | None:
    """A refusal when the function wrote into one of its arguments. Its copy is what it got,
    so the answer's numbers may still be right; but in a backward pass the stored forward
    values and upstream gradients are read again by the other gradients after this one."""
    for name, value in arguments.items():
        if not np.array_equal(value, problem.values[name]):
            return CheckResult(
                exercise.name,
                exercise.function,
                Status.WRONG,
                f"changed its argument {name} in place ({name} *= ..., {name}[...] = ... or "
                f"out={name}): the backward pass stores {name} once and the other gradients "
                f"read it after this one; compute into a new array ({name} * ...) instead",
                shapes=_dims(exercise, problem),
            )
    return None


def _judge(exercise: Exercise, problem: Problem, answer: object) -> CheckResult | None:
    """None when `answer` is right on `problem`, else what is wrong with it."""
    expected = exercise.expected(problem)

    def wrong(message: str, kind: Mistake | None = None) -> CheckResult:
        return CheckResult(
            exercise.name, exercise.function, Status.WRONG, message, kind, _dims(exercise, problem)
        )

    if answer is None:
        return wrong(
            f"returned None, expected an array of shape {expected.shape}: a missing return?"
        )
    got = np.asarray(answer) if isinstance(answer, np.ndarray | np.generic | float | int) else None
    if got is None:
        return wrong(
            f"returned {type(answer).__name__}, expected a NumPy float array of shape "
            f"{expected.shape}"
        )
    if got.dtype.kind in "iu":
        return wrong(
            f"returned an integer array ({got.dtype}), expected a NumPy float array of shape "
            f"{expected.shape}: a gradient's entries are fractions, which an integer buffer "
            "(np.zeros(..., dtype=int), zeros_like of an integer array), astype(int) or // "
            "cuts off"
        )
    if got.dtype.kind != "f":
        return wrong(
            f"returned an array of dtype {got.dtype}, expected a NumPy float array of shape "
            f"{expected.shape}"
        )
    if got.dtype.itemsize < 4:
        return wrong(
            f"returned {got.dtype}, which holds about 3 significant digits, too few for the "
            f"checker's relative tolerance of {RTOL:g}: compute in float32 or float64"
        )
    diagnosis = _diagnose(exercise, problem, got, expected, exercise.magnitude(problem))
    if diagnosis.kind is Mistake.AGREES:
        return None
    hint = kind_hint(exercise.name, diagnosis.kind)
    return wrong(f"{diagnosis}; hint: {hint}", diagnosis.kind)


def _diagnose(
    exercise: Exercise, problem: Problem, got: Array, expected: Array, magnitude: Array
) -> Diagnosis:
    """The exercise's own slips first (mistakes inside a product, which the numbers of the
    answer alone cannot name), then `check.diagnose`."""
    if _matches(got, expected, magnitude):
        return Diagnosis(Mistake.AGREES, "agrees")
    for slip in exercise.slips(problem):
        if _matches(got, slip.value, magnitude):
            return Diagnosis(slip.kind, slip.message)
    shapes = problem.shapes
    return diagnose(got, expected, n=shapes["N"], n_out=shapes.get("n_out"), rtol=RTOL)


def _matches(got: Array, model: Array, magnitude: Array) -> bool:
    """Same shape and values to RTOL, give or take `ROUNDINGS` float32 roundings of each
    entry's terms (`magnitude`, its sum of |terms|), and entries below 1e-6 of the largest
    counting as 0 (a different order of summation leaves rounding noise where the model has
    an exact 0)."""
    if got.shape != model.shape:
        return False
    scale = float(np.abs(model).max()) if model.size else 0.0
    rounding = ROUNDINGS * FLOAT32_EPS * magnitude
    return bool(np.all(np.abs(got - model) <= RTOL * np.abs(model) + 1e-6 * scale + rounding))


def _dims(exercise: Exercise, problem: Problem) -> dict[str, int]:
    return {name: problem.shapes[name] for name in exercise.dims}


def describe_error(error: BaseException, filename: str | None) -> str:
    """ "raised TypeError: <first line> (line 12)", the line being the last one of the
    learner's file `filename` in the traceback."""
    if isinstance(error, SystemExit):
        return f"called sys.exit({error.code!r})"
    if isinstance(error, SyntaxError):
        return f"SyntaxError: {error.msg} (line {error.lineno})"
    first_line = (str(error).splitlines() or [""])[0]
    frames = traceback.extract_tb(error.__traceback__)
    lines = [frame.lineno for frame in frames if frame.filename == filename]
    where = f" (line {lines[-1]})" if lines else ""
    return f"raised {type(error).__name__}: {first_line}{where}"
