"""Review v: clipping limits that torch takes silently and that would corrupt gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule
from chainrule import nn
from chainrule.nn import utils


def _with_grad(values: list[float]) -> nn.Parameter:
    param = nn.Parameter(np.zeros(len(values)))
    (param * chainrule.tensor(np.array(values))).sum().backward()
    return param


@pytest.mark.parametrize("max_norm", [-1.0, math.nan])
def test_clip_grad_norm_refuses_a_negative_or_nan_max_norm(max_norm: float) -> None:
    param = _with_grad([3.0, 4.0])
    # torch flips every gradient's sign for -1 and makes them NaN for NaN, silently.
    with pytest.raises(ValueError, match=r"clip_grad_norm_: max_norm must be >= 0, got"):
        utils.clip_grad_norm_([param], max_norm)
    np.testing.assert_array_equal(param.grad.data, [3.0, 4.0])


@pytest.mark.parametrize("clip_value", [-1.0, math.nan])
def test_clip_grad_value_refuses_a_negative_or_nan_clip_value(clip_value: float) -> None:
    param = _with_grad([3.0, -0.5])
    with pytest.raises(ValueError, match=r"clip_grad_value_: clip_value must be >= 0, got"):
        utils.clip_grad_value_([param], clip_value)
    np.testing.assert_array_equal(param.grad.data, [3.0, -0.5])


def test_zero_and_infinite_limits_still_clip_as_torch() -> None:
    param = _with_grad([3.0, 4.0])
    assert float(utils.clip_grad_norm_([param], math.inf).data) == 5.0
    np.testing.assert_array_equal(param.grad.data, [3.0, 4.0])
    utils.clip_grad_value_([param], math.inf)
    np.testing.assert_array_equal(param.grad.data, [3.0, 4.0])
    utils.clip_grad_value_([param], 0.0)
    np.testing.assert_array_equal(param.grad.data, [0.0, 0.0])
    param = _with_grad([3.0, 4.0])
    utils.clip_grad_norm_([param], 0.0)
    np.testing.assert_array_equal(param.grad.data, [0.0, 0.0])
