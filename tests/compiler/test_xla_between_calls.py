"""What a user changes between calls of `compile(step, backend="xla")` reaches its program:
each case runs a training step eagerly and compiled to XLA from the same initial values,
making the same change before the same call, and compares every call's loss and, after every
call, the parameters, their `.grad` and the optimizer's state: same shapes and dtypes, values
to float32 rounding (XLA sums products in another order than OpenBLAS; in a float32 model the
earlier calls' rounding is carried into a weight made float64)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from replay_checks import (
    OPTIMIZERS,
    Between,
    assert_records_match,
    batches,
    run_with_changes,
    small_model,
)

import chainrule as cr
from chainrule import nn, optim
from chainrule.compiler import compile

pytest.importorskip("jax")
from chainrule.compiler.xla import enable_float64

enable_float64()  # the float64 cases; float32 stays float32

RTOL = 2e-5


def _assert_xla_equals_eager(
    dtype: type[np.floating[Any]],
    make_optimizer: Callable[[nn.Module], optim.Optimizer],
    between: Between,
    flat: bool,
) -> None:
    eager = run_with_changes(None, dtype, make_optimizer, between, flat, input_dtype=dtype)
    compiled = run_with_changes("xla", dtype, make_optimizer, between, flat, input_dtype=dtype)

    def close(got: np.ndarray, expected: np.ndarray, err_msg: str) -> None:
        np.testing.assert_allclose(got, expected, rtol=RTOL, atol=RTOL * 1e-2, err_msg=err_msg)

    assert_records_match(eager, compiled, close)


@pytest.mark.parametrize("flat", [True, False], ids=["flat", "own-arrays"])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize(
    ("dtype", "new_dtype"), [(np.float32, np.float64), (np.float64, np.float32)]
)
def test_a_parameter_given_data_of_another_dtype_between_calls_matches_eager(
    dtype: type[np.floating[Any]], new_dtype: type[np.floating[Any]], name: str, flat: bool
) -> None:
    """The jitted body computes with the traced dtypes: a weight given float64 values got
    float32 gradients (and float32-rounded updates). Now the step is traced again."""

    def between(index: int, model: nn.Module, optimizer: optim.Optimizer) -> None:
        if index == 3:
            weight = model[0].weight
            weight.data = weight.numpy().astype(new_dtype)

    _assert_xla_equals_eager(dtype, OPTIMIZERS[name], between, flat)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_a_parameter_given_data_of_the_same_shape_and_dtype_is_read(name: str) -> None:
    """New values of the traced shape and dtype are uploaded (no trace needed)."""

    def between(index: int, model: nn.Module, optimizer: optim.Optimizer) -> None:
        if index == 3:
            model[0].weight.data = np.full((4, 6), 0.25)

    _assert_xla_equals_eager(np.float64, OPTIMIZERS[name], between, False)


def test_a_parameter_given_data_of_another_shape_fails_as_eagerly() -> None:
    """A bias given shape (1, 6): eager's ValueError from linear, not a CompileError that
    blames JAX for a rule it runs (the body was run with the traced shapes)."""
    model = small_model(np.float64)
    optimizer = optim.SGD(model.parameters(), lr=0.1)

    def step(x: np.ndarray) -> cr.Tensor:
        optimizer.zero_grad()
        loss = model(cr.tensor(x)).sum()
        loss.backward()
        optimizer.step()
        return loss

    compiled = compile(step, backend="xla")
    drawn = batches(np.float64)
    for x, _ in drawn[:3]:
        compiled(x)
    optimizer.zero_grad()
    model[0].bias.data = model[0].bias.numpy().reshape(1, 6).copy()
    with pytest.raises(ValueError, match=r"linear: .*bias \(1, 6\)"):
        step(drawn[3][0])
    with pytest.raises(ValueError, match=r"linear: .*bias \(1, 6\)") as raised:
        compiled(drawn[3][0])
    assert not isinstance(raised.value, cr.compiler.CompileError)
