"""Settings that Python calls equal, yet a step tells apart: `True == 1 == 1.0` and
`0.0 == -0.0`. A compiled step traced for one must not replay for the other, whether the
setting is an argument (part of the signature) or a value the step reads from its closure or
globals (a guard): `x / s` is +inf for s = 0.0 and -inf for s = -0.0, and `flag is True`
takes another branch for 1 than for True. Each call is compared with eager, bit for bit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.compiler import compile

BACKENDS = ["numpy", "xla"]
X = np.array([1.0, -2.0, 3.0], dtype=np.float32)


def _divide(x: np.ndarray, s: Any) -> cr.Tensor:
    return cr.tensor(x) / s


def _times(x: np.ndarray, s: Any) -> cr.Tensor:
    return cr.tensor(x) * s


def _branch_on_true(x: np.ndarray, flag: Any) -> cr.Tensor:
    return cr.tensor(x) * (2.0 if flag is True else 3.0)


def _branch_on_float(x: np.ndarray, n: Any) -> cr.Tensor:
    return cr.tensor(x) * (0.5 if isinstance(n, float) else 4.0)


def _divide_by_first(x: np.ndarray, settings: tuple[Any, ...]) -> cr.Tensor:
    return cr.tensor(x) / settings[0]


CASES = [
    pytest.param(_divide, 0.0, -0.0, id="x/s-zero-then-negative-zero"),
    pytest.param(_times, -0.0, 0.0, id="x*s-negative-zero-then-zero"),
    pytest.param(_branch_on_true, 1, True, id="is-True-one-then-True"),
    pytest.param(_branch_on_true, True, 1, id="is-True-True-then-one"),
    pytest.param(_branch_on_float, 1, 1.0, id="isinstance-int-then-float"),
    pytest.param(_branch_on_float, np.float64(2.0), 2, id="isinstance-numpy-float-then-int"),
    pytest.param(_divide_by_first, (0.0, 1), (-0.0, 1), id="tuple-zero-then-negative-zero"),
    pytest.param(_divide_by_first, (0.0,), (-0.0,), id="one-tuple-zero-then-negative-zero"),
]


def _assert_same(got: cr.Tensor, expected: cr.Tensor, call: int) -> None:
    assert got.shape == expected.shape, f"call {call}"
    assert got.dtype == expected.dtype, f"call {call}"
    np.testing.assert_array_equal(got.numpy(), expected.numpy(), err_msg=f"call {call}")
    # assert_array_equal takes -0.0 for 0.0: the sign of a zero is compared on its own.
    np.testing.assert_array_equal(
        np.signbit(got.numpy()), np.signbit(expected.numpy()), err_msg=f"call {call}"
    )


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("step", "first", "then"), CASES)
def test_an_equal_argument_of_another_type_or_sign_is_not_replayed_with_the_first_trace(
    step: Callable[[np.ndarray, Any], cr.Tensor], first: Any, then: Any, backend: str
) -> None:
    compiled = compile(step, backend=backend)
    for call, setting in enumerate([first, first, first, then, then, first]):
        _assert_same(compiled(X, setting), step(X, setting), call)


SCALE: float = 0.0


def _divide_by_global(x: np.ndarray) -> cr.Tensor:
    return cr.tensor(x) / SCALE


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_global_float_turned_to_negative_zero_between_calls_is_not_replayed_stale(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    compiled = compile(_divide_by_global, backend=backend)
    for call in range(6):
        if call == 3:
            monkeypatch.setattr(f"{__name__}.SCALE", -0.0)
        _assert_same(compiled(X), _divide_by_global(X), call)


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("first", "then"), [(0.0, -0.0), (-0.0, 0.0), (0.0, 0.0)])
def test_a_closure_or_list_float_changing_the_sign_of_zero_is_not_replayed_stale(
    backend: str, first: float, then: float
) -> None:
    scale = first
    settings = [first]

    def step(x: np.ndarray) -> tuple[cr.Tensor, cr.Tensor]:
        return cr.tensor(x) / scale, cr.tensor(x) / settings[0]

    compiled = compile(step, backend=backend)
    for call in range(6):
        if call == 3:
            scale = then
            settings[0] = -then  # another float object, of the other sign
        for got, expected in zip(compiled(X), step(X), strict=True):
            _assert_same(got, expected, call)
