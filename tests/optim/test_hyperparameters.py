"""Every hyperparameter of every optimizer and schedule is checked: finite, in range, a real
number (Python or NumPy), whether given to the constructor, set later through
`param_groups`, added with `add_param_group` or restored by `load_state_dict`."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule
from chainrule import nn, optim

NON_FINITE = [float("nan"), float("inf"), -float("inf")]

BAD_SETTINGS: list[tuple[str, Callable[[Any, float], Any]]] = [
    ("SGD lr", lambda p, v: optim.SGD(p, lr=v)),
    ("SGD momentum", lambda p, v: optim.SGD(p, lr=0.1, momentum=v)),
    ("SGD dampening", lambda p, v: optim.SGD(p, lr=0.1, momentum=0.9, dampening=v)),
    ("SGD weight_decay", lambda p, v: optim.SGD(p, lr=0.1, weight_decay=v)),
    ("Adam lr", lambda p, v: optim.Adam(p, lr=v)),
    ("Adam beta1", lambda p, v: optim.Adam(p, betas=(v, 0.999))),
    ("Adam beta2", lambda p, v: optim.Adam(p, betas=(0.9, v))),
    ("Adam eps", lambda p, v: optim.Adam(p, eps=v)),
    ("Adam weight_decay", lambda p, v: optim.Adam(p, weight_decay=v)),
    ("AdamW lr", lambda p, v: optim.AdamW(p, lr=v)),
    ("AdamW weight_decay", lambda p, v: optim.AdamW(p, weight_decay=v)),
]


def _params() -> list[nn.Parameter]:
    return [nn.Parameter(np.zeros(2))]


@pytest.mark.parametrize("value", NON_FINITE, ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize(("setting", "make"), BAD_SETTINGS, ids=[s for s, _ in BAD_SETTINGS])
def test_non_finite_hyperparameters_are_refused(
    setting: str, make: Callable[[Any, float], Any], value: float
) -> None:
    owner, name = setting.split()
    name = name.replace("beta1", "betas[0]").replace("beta2", "betas[1]")
    with pytest.raises(ValueError, match=re.escape(f"{owner}: {name} must be a finite")):
        make(_params(), value)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: optim.SGD(p, lr=-0.1), r"lr must be a finite number in \[0, inf\)"),
        (lambda p: optim.SGD(p, lr=0.1, momentum=-0.5), r"momentum must be .* in \[0, inf\)"),
        (lambda p: optim.Adam(p, betas=(0.9, 1.0)), r"betas\[1\] must be .* in \[0, 1\)"),
        (lambda p: optim.Adam(p, betas=(-0.1, 0.9)), r"betas\[0\] must be .* in \[0, 1\)"),
        (lambda p: optim.Adam(p, betas=(0.9,)), r"betas must be two numbers"),
        (lambda p: optim.Adam(p, eps=0.0), r"eps must be a finite number in \(0, inf\)"),
        (lambda p: optim.AdamW(p, weight_decay=-0.1), r"weight_decay must be .* in \[0, inf\)"),
    ],
    ids=["lr", "momentum", "beta2", "beta1", "betas-length", "eps", "weight_decay"],
)
def test_out_of_range_hyperparameters_name_the_range(
    make: Callable[[Any], Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        make(_params())


@pytest.mark.parametrize(
    "value",
    [np.float32(0.1), np.float64(0.1), np.int64(1), 1],
    ids=["float32", "float64", "int64", "int"],
)
def test_numpy_and_python_real_numbers_are_accepted_as_lr(value: Any) -> None:
    param = nn.Parameter(np.ones(2))
    optimizer = optim.SGD([param], lr=value, momentum=np.float32(0.5))
    param.grad = chainrule.tensor(np.ones(2))
    optimizer.step()
    expected = 1.0 - float(value)
    np.testing.assert_allclose(param.data, [expected, expected], rtol=1e-15)
    assert type(optimizer.param_groups[0]["lr"]) is float


def test_numpy_scalars_leave_a_json_serialisable_state_dict() -> None:
    optimizer = optim.Adam(
        _params(), lr=np.float32(0.01), betas=(np.float64(0.8), 0.9), eps=np.float32(1e-6)
    )
    groups = json.loads(json.dumps(optimizer.state_dict()["param_groups"]))
    assert groups[0]["lr"] == float(np.float32(0.01))
    assert groups[0]["betas"] == [0.8, 0.9]


@pytest.mark.parametrize(
    "value",
    [True, 0.1 + 0j, "0.1", None, np.bool_(True)],
    ids=["bool", "complex", "str", "None", "np.bool_"],
)
def test_non_real_lr_is_refused_with_a_type_error(value: Any) -> None:
    with pytest.raises(TypeError, match="SGD: lr must be a real number"):
        optim.SGD(_params(), lr=value)


def test_nesterov_must_be_a_bool() -> None:
    with pytest.raises(TypeError, match="SGD: nesterov must be True or False"):
        optim.SGD(_params(), lr=0.1, momentum=0.9, nesterov="yes")


@pytest.mark.parametrize(
    ("key", "value"),
    [("lr", float("nan")), ("lr", -1.0), ("weight_decay", float("inf")), ("momentum", -0.5)],
)
def test_a_bad_value_set_through_param_groups_is_refused_at_the_next_step(
    key: str, value: float
) -> None:
    param = nn.Parameter(np.ones(2))
    optimizer = optim.SGD([param], lr=0.1, momentum=0.9)
    optimizer.param_groups[0][key] = value
    param.grad = chainrule.tensor(np.ones(2))
    with pytest.raises(ValueError, match=f"SGD: {key} must be a finite number"):
        optimizer.step()
    np.testing.assert_array_equal(param.data, [1.0, 1.0])


def test_a_bad_value_set_through_param_groups_is_refused_by_adam() -> None:
    param = nn.Parameter(np.ones(2))
    optimizer = optim.Adam([param])
    optimizer.param_groups[0]["betas"] = (0.9, float("nan"))
    param.grad = chainrule.tensor(np.ones(2))
    with pytest.raises(ValueError, match=r"Adam: betas\[1\] must be a finite number"):
        optimizer.step()


def test_add_param_group_refuses_a_non_finite_lr() -> None:
    optimizer = optim.SGD(_params(), lr=0.1)
    with pytest.raises(ValueError, match="SGD: lr must be a finite number"):
        optimizer.add_param_group({"params": _params(), "lr": float("inf")})
    assert len(optimizer.param_groups) == 1


def test_load_state_dict_refuses_a_non_finite_lr_and_keeps_the_old_settings() -> None:
    optimizer = optim.Adam(_params(), lr=0.01)
    saved = optimizer.state_dict()
    saved["param_groups"][0]["lr"] = float("nan")
    with pytest.raises(ValueError, match="Adam: lr must be a finite number"):
        optimizer.load_state_dict(saved)
    assert optimizer.param_groups[0]["lr"] == 0.01


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda o: optim.StepLR(o, 2, gamma=float("nan")), "StepLR: gamma must be a finite"),
        (lambda o: optim.StepLR(o, 2, gamma=-0.5), "StepLR: gamma must be a finite"),
        (
            lambda o: optim.CosineAnnealingLR(o, 5, eta_min=float("inf")),
            "CosineAnnealingLR: eta_min must be a finite",
        ),
        (
            lambda o: optim.CosineAnnealingLR(o, 5, eta_min=-1e-3),
            "CosineAnnealingLR: eta_min must be a finite",
        ),
    ],
    ids=["gamma-nan", "gamma-negative", "eta_min-inf", "eta_min-negative"],
)
def test_schedule_settings_are_checked(make: Callable[[Any], Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make(optim.SGD(_params(), lr=0.1))


def test_schedules_accept_numpy_integers_and_floats() -> None:
    optimizer = optim.SGD(_params(), lr=0.1)
    schedule = optim.StepLR(optimizer, np.int64(1), gamma=np.float32(0.5))
    schedule.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.05, rel=1e-7)
    assert json.loads(json.dumps(schedule.state_dict()))["step_size"] == 1


def test_schedule_load_state_dict_refuses_a_non_finite_gamma() -> None:
    schedule = optim.StepLR(optim.SGD(_params(), lr=0.1), 2)
    saved = schedule.state_dict()
    saved["gamma"] = float("nan")
    with pytest.raises(ValueError, match="StepLR: gamma must be a finite"):
        schedule.load_state_dict(saved)


def test_a_bad_value_set_after_some_steps_is_refused_at_the_next_step() -> None:
    param = nn.Parameter(np.ones(2))
    optimizer = optim.SGD([param], lr=0.1)
    param.grad = chainrule.tensor(np.ones(2))
    optimizer.step()
    optimizer.param_groups[0]["lr"] = float("nan")
    with pytest.raises(ValueError, match="SGD: lr must be a finite number"):
        optimizer.step()
    np.testing.assert_allclose(param.data, [0.9, 0.9], rtol=1e-15)
