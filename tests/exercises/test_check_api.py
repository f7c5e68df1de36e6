"""`chainrule.exercises.check(name, function)`: grading one function from Python."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from chainrule.check import Mistake
from chainrule.exercises import CheckResult, Status, check


def dloss_db2(u4: np.ndarray) -> np.ndarray:
    du3 = -2 * u4 / u4.size
    return du3.sum(axis=0)


def test_a_right_answer_passes_and_prints_as_ok() -> None:
    result = check("b2", dloss_db2)
    assert result.passed
    assert result.message == ""
    assert str(result) == "dloss_db2       ok"


def test_a_float32_answer_passes() -> None:
    assert check("b2", lambda u4: dloss_db2(u4).astype(np.float32)).passed


def test_rounding_noise_where_the_gradient_is_zero_passes() -> None:
    def dloss_db1(u1: np.ndarray, du2: np.ndarray) -> np.ndarray:
        du1 = du2 * (u1 > 0) + 1e-19 * (u1 <= 0)
        return du1.sum(axis=0)

    assert check("b1", dloss_db1).passed


def test_a_wrong_answer_fails_with_the_mistake_named() -> None:
    result = check("b2", lambda u4: -dloss_db2(u4), seed=3)
    assert not result.passed
    assert result.status is Status.WRONG
    assert result.kind is Mistake.SIGN_FLIPPED
    assert result.message.startswith("sign flipped (got = -expected)")
    assert str(result).startswith("dloss_db2       wrong at N=")


def test_a_stub_is_not_done_yet() -> None:
    def stub(u4: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    result = check("b2", stub)
    assert result.status is Status.NOT_DONE
    assert str(result) == "dloss_db2       not done yet"


def test_an_exception_is_reported_with_the_learners_line() -> None:
    def broken(u4: np.ndarray) -> np.ndarray:
        return u4 @ np.ones((u4.shape[1] + 1, 2))

    result = check("b2", broken)
    assert result.status is Status.ERROR
    line = broken.__code__.co_firstlineno + 1
    assert result.message.startswith("raised ValueError: matmul: ")
    assert result.message.endswith(f"(line {line})")


def test_sys_exit_in_the_function_is_reported_not_obeyed() -> None:
    result = check("b2", lambda u4: sys.exit(3))
    assert result.status is Status.ERROR
    assert result.message == "called sys.exit(3)"


def test_returning_none_asks_for_a_missing_return() -> None:
    result = check("b2", lambda u4: None)
    assert result.message.startswith("returned None, expected an array of shape (")
    assert result.message.endswith("a missing return?")


def test_returning_a_list_asks_for_an_array() -> None:
    result = check("b2", lambda u4: dloss_db2(u4).tolist())
    assert result.message.startswith("returned list, expected a NumPy float array of shape")


def test_a_non_function_is_a_type_error_naming_the_function_wanted() -> None:
    with pytest.raises(
        TypeError,
        match=r"check\('b2', \.\.\.\) needs the function dloss_db2 "
        r"itself, got ndarray",
    ):
        check("b2", np.zeros(3))  # type: ignore[arg-type]


def test_a_function_name_selects_the_exercise_too() -> None:
    assert check("dloss_db2", dloss_db2).passed


def test_results_round_trip_through_json() -> None:
    result = check("b2", lambda u4: -dloss_db2(u4))
    assert CheckResult.from_json(result.to_json()) == result


def test_the_same_seed_poses_the_same_problems() -> None:
    first = check("b2", lambda u4: 2 * dloss_db2(u4), seed=5)
    assert str(first) == str(check("b2", lambda u4: 2 * dloss_db2(u4), seed=5))


def test_a_numpy_float32_scalar_is_judged_by_its_shape_like_any_array() -> None:
    result = check("b2", lambda u4: np.float32(dloss_db2(u4).sum()), seed=1)
    assert result.kind is Mistake.WRONG_AXIS
    assert "got () and expected (" in result.message
