"""compile: a value the step computes with NumPy from an argument (a threshold, a sign, a
mask: many batches give one value) may be equal on the first two calls, which a comparison of
the two traces cannot tell from a true constant. The trace now notes such a constant as a
read of the argument, as it notes `float(x.max())`: it replays only while the arguments hold
the same values, runs eagerly on others, and refuses the first call whose constant differs,
never replaying the first call's value. A value computed from a traced tensor's `.numpy()` or
from a 0-d float argument, which no condition on the arguments can pin, is refused at once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.compiler import CompileError, compile

BACKENDS = ["numpy", "xla"]
ROWS, FEATURES = 4, 3


def _weight() -> cr.Tensor:
    values = np.random.default_rng(0).standard_normal((FEATURES, 2)).astype(np.float32)
    return cr.tensor(values, requires_grad=True)


def _batches() -> list[np.ndarray]:
    """Three batches: the first two with every first feature positive, the third with every
    one negative (the others alike), so a constant made of their signs differs third."""
    rng = np.random.default_rng(1)
    batches = [rng.standard_normal((ROWS, FEATURES)).astype(np.float32) for _ in range(3)]
    for batch, sign in zip(batches, (1.0, 1.0, -1.0), strict=True):
        batch[:, 0] = sign * (np.abs(batch[:, 0]) + 0.5)
    return batches


def _scale_by_first_sign(x: np.ndarray) -> Any:
    return np.where(x[0, 0] > 0, np.float32(2.0), np.float32(1.0))  # 0-d


def _row_signs(x: np.ndarray) -> Any:
    return np.sign(x[:, :1])  # (ROWS, 1)


def _row_mask(x: np.ndarray) -> Any:
    return (x[:, :1] > 0).astype(np.float32)  # (ROWS, 1)


CONSTANTS = {
    "np.where-0d": _scale_by_first_sign,
    "np.sign-column": _row_signs,
    "mask-times-float": _row_mask,
}


def _step(constant_of: Callable[[np.ndarray], Any]) -> tuple[Any, cr.Tensor]:
    weight = _weight()

    def step(x: np.ndarray) -> cr.Tensor:
        weight.grad = None
        loss = ((cr.tensor(x) @ weight) * constant_of(x)).sum()
        loss.backward()
        return loss

    return step, weight


def _assert_close(got: np.ndarray, expected: np.ndarray, backend: str) -> None:
    assert got.shape == expected.shape
    assert got.dtype == expected.dtype
    if backend == "numpy":
        np.testing.assert_array_equal(got, expected)
    else:
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", list(CONSTANTS))
def test_a_numpy_constant_equal_on_two_calls_is_not_replayed_when_the_batch_changes_it(
    case: str, backend: str
) -> None:
    eager_step, eager_weight = _step(CONSTANTS[case])
    step, weight = _step(CONSTANTS[case])
    compiled = compile(step, backend=backend)
    first, second, third = _batches()
    for x in (first, second):  # equal constants: eager results
        expected = eager_step(x).numpy()
        _assert_close(compiled(x).numpy(), expected, backend)
        assert weight.grad is not None
        assert eager_weight.grad is not None
        _assert_close(weight.grad.numpy(), eager_weight.grad.numpy(), backend)
    # Before: replayed with the first calls' constant (a wrong loss and gradient).
    with pytest.raises(CompileError, match="other values on the step's second call"):
        compiled(third)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", list(CONSTANTS))
def test_a_numpy_constant_of_the_same_batch_every_call_still_replays(
    case: str, backend: str
) -> None:
    eager_step, eager_weight = _step(CONSTANTS[case])
    step, weight = _step(CONSTANTS[case])
    compiled = compile(step, backend=backend)
    batch = _batches()[0]
    for _ in range(5):
        _assert_close(compiled(batch).numpy(), eager_step(batch).numpy(), backend)
        assert weight.grad is not None
        assert eager_weight.grad is not None
        _assert_close(weight.grad.numpy(), eager_weight.grad.numpy(), backend)
    assert compiled.traces == 2  # the trace and its check; replays after


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_numpy_constant_from_a_traced_tensors_values_is_refused_at_the_first_call(
    backend: str,
) -> None:
    weight = _weight()

    def step(x: np.ndarray) -> cr.Tensor:
        out = cr.tensor(x) @ weight
        # The threshold is never crossed here: equal on every call, yet frozen by a replay.
        scale = np.where(out.numpy()[0, 0] > 100.0, 2.0, 1.0)
        return (out * scale).sum()

    with pytest.raises(CompileError, match=r"\.numpy\(\) of a traced tensor of shape \(4, 2\)"):
        compile(step, backend=backend)(_batches()[0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_numpy_constant_from_a_0d_float_argument_is_refused_at_the_first_call(
    backend: str,
) -> None:
    weight = _weight()

    def step(x: np.ndarray, threshold: np.ndarray) -> cr.Tensor:
        scale = np.where(threshold > 1.5, 2.0, 1.0)
        return ((cr.tensor(x) @ weight) * scale).sum()

    with pytest.raises(CompileError, match="the 0-d array argument 1"):
        compile(step, backend=backend)(_batches()[0], np.array(1.0, dtype=np.float32))
