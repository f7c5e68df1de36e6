"""Adam's saved "step" loads as a Python int when it is a whole number in another form, and
is refused when it is not a count of steps."""

from __future__ import annotations

import copy
import json
from typing import Any

import numpy as np
import pytest

import chainrule
from chainrule import nn, optim


def _three_steps() -> tuple[optim.Adam, nn.Parameter, dict[str, Any]]:
    param = nn.Parameter(np.linspace(-1.0, 1.0, 4))
    optimizer = optim.Adam([param], lr=0.1, betas=(0.5, 0.6))
    for step in range(3):
        param.grad = chainrule.tensor(np.full(4, step + 1.0))
        optimizer.step()
    return optimizer, param, copy.deepcopy(optimizer.state_dict())


@pytest.mark.parametrize(
    "step",
    [np.int64(3), np.array(3), np.array(3.0), 3.0],
    ids=["numpy-integer", "0-d-array-from-npz", "0-d-float-array", "whole-float-as-torch"],
)
def test_a_whole_step_count_in_another_form_loads_as_an_int(step: Any) -> None:
    # A 0-d array (an .npz read back) was refused as "shape (), but the parameter has shape
    # (4,)"; a NumPy integer was kept, and the next state_dict failed json.dumps.
    optimizer, param, saved = _three_steps()
    saved["state"][0]["step"] = step
    resumed_param = nn.Parameter(param.data.copy())
    resumed = optim.Adam([resumed_param], lr=0.1, betas=(0.5, 0.6))
    resumed.load_state_dict(saved)
    assert type(resumed.state[resumed_param]["step"]) is int
    json.dumps({"step": resumed.state_dict()["state"][0]["step"]})
    for each, each_param in ((optimizer, param), (resumed, resumed_param)):
        each_param.grad = chainrule.tensor(np.full(4, -2.0))
        each.step()
    assert np.array_equal(resumed_param.data, param.data)
    assert resumed.state[resumed_param]["step"] == 4


@pytest.mark.parametrize(
    ("step", "shown"),
    [(-1, "-1"), (2.5, "2.5"), (float("nan"), "nan")],
    ids=["negative", "fractional", "nan"],
)
def test_a_step_count_that_counts_no_steps_is_refused(step: Any, shown: str) -> None:
    # -1 was loaded and the next step divided by zero (1 - beta1**0) deep in Adam; 2.5 was
    # loaded and used in the bias corrections without a word.
    _, param, saved = _three_steps()
    saved["state"][0]["step"] = step
    optimizer = optim.Adam([param], lr=0.1)
    with pytest.raises(ValueError, match=rf"'step' of parameter 0 counts the steps .* {shown}"):
        optimizer.load_state_dict(saved)
    assert optimizer.state == {}


def test_a_step_count_saved_as_an_array_of_many_is_refused() -> None:
    _, param, saved = _three_steps()
    saved["state"][0]["step"] = np.full(4, 3)
    with pytest.raises(ValueError, match=r"'step' of parameter 0 is an array of shape \(4,\)"):
        optim.Adam([param], lr=0.1).load_state_dict(saved)
