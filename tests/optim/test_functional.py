"""The functional updates of chainrule.optim.functional equal the eager optimizers bit for
bit on NumPy float64 arrays, step after step (what compile(backend="xla") relies on)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.optim import functional as OF

STEPS = 5

SGD_SETTINGS: dict[str, dict[str, Any]] = {
    "plain": {},
    "momentum": {"momentum": 0.9},
    "dampening": {"momentum": 0.9, "dampening": 0.3},
    "nesterov": {"momentum": 0.8, "nesterov": True},
    "weight-decay": {"momentum": 0.9, "weight_decay": 0.05},
    "maximize": {"maximize": True},
    "maximize-nesterov-decay": {
        "momentum": 0.8,
        "nesterov": True,
        "weight_decay": 0.05,
        "maximize": True,
    },
}


def _gradients(rng: np.random.Generator, shape: tuple[int, ...]) -> list[np.ndarray]:
    return [rng.standard_normal(shape) for _ in range(STEPS)]


def _eager_values(
    make: Callable[[list[cr.Tensor]], Any], start: np.ndarray, grads: list[np.ndarray]
) -> list[np.ndarray]:
    param = cr.tensor(start.copy(), requires_grad=True)
    optimizer = make([param])
    values = []
    for grad in grads:
        param.grad = cr.tensor(grad.copy())
        optimizer.step()
        values.append(param.data.copy())
    return values


@pytest.mark.parametrize("settings", SGD_SETTINGS.values(), ids=SGD_SETTINGS)
def test_sgd_update_equals_eager_sgd_bit_for_bit_in_float64(
    rng: np.random.Generator, settings: dict[str, Any]
) -> None:
    start, grads = rng.standard_normal((4, 3)), _gradients(rng, (4, 3))
    expected = _eager_values(lambda p: cr.optim.SGD(p, lr=0.1, **settings), start, grads)
    group = cr.optim.SGD([cr.tensor(start, requires_grad=True)], lr=0.1, **settings)
    hyper = group.param_groups[0]
    value, buffer = start.copy(), None
    for grad, wanted in zip(grads, expected, strict=True):
        value, buffer = OF.sgd_update(
            value, grad, buffer, OF.sgd_coefficients(hyper), OF.SGDSettings.of(hyper)
        )
        assert value.shape == wanted.shape
        assert value.dtype == np.float64
        assert np.array_equal(value, wanted)


@pytest.mark.parametrize(
    ("kind", "weight_decay", "maximize"),
    [
        (cr.optim.Adam, 0.0, False),
        (cr.optim.Adam, 0.1, False),
        (cr.optim.AdamW, 0.1, False),
        (cr.optim.Adam, 0.1, True),
        (cr.optim.AdamW, 0.1, True),
    ],
    ids=["adam", "adam-l2", "adamw", "adam-l2-maximize", "adamw-maximize"],
)
def test_adam_update_equals_eager_adam_bit_for_bit_in_float64(
    rng: np.random.Generator, kind: type[cr.optim.Adam], weight_decay: float, maximize: bool
) -> None:
    start, grads = rng.standard_normal((5,)), _gradients(rng, (5,))
    expected = _eager_values(
        lambda p: kind(p, lr=0.05, betas=(0.8, 0.95), weight_decay=weight_decay, maximize=maximize),
        start,
        grads,
    )
    optimizer = kind([cr.tensor(start, requires_grad=True)], lr=0.05, betas=(0.8, 0.95))
    hyper = {**optimizer.param_groups[0], "weight_decay": weight_decay, "maximize": maximize}
    settings = OF.AdamSettings.of(hyper, decoupled=kind.decoupled_weight_decay)
    value, exp_avg, exp_avg_sq = start.copy(), None, None
    for step, (grad, wanted) in enumerate(zip(grads, expected, strict=True), start=1):
        coefficients = OF.adam_coefficients(hyper, step)
        value, exp_avg, exp_avg_sq = OF.adam_update(
            value, grad, exp_avg, exp_avg_sq, coefficients, settings
        )
        assert np.array_equal(value, wanted)


def test_sgd_update_leaves_its_inputs_unchanged(rng: np.random.Generator) -> None:
    value, grad = rng.standard_normal(3), rng.standard_normal(3)
    buffer = rng.standard_normal(3)
    before = [value.copy(), grad.copy(), buffer.copy()]
    settings = OF.SGDSettings(momentum=True, dampening=False, weight_decay=True, nesterov=True)
    _, new_buffer = OF.sgd_update(value, grad, buffer, (0.1, 0.9, 1.0, 0.01), settings)
    assert new_buffer is not buffer
    for array, original in zip([value, grad, buffer], before, strict=True):
        assert np.array_equal(array, original)


def test_first_momentum_buffer_does_not_share_memory_with_the_gradient(
    rng: np.random.Generator,
) -> None:
    grad = rng.standard_normal(3)
    settings = OF.SGDSettings(momentum=True, dampening=False, weight_decay=False, nesterov=False)
    _, buffer = OF.sgd_update(np.zeros(3), grad, None, (0.1, 0.9, 1.0, 0.0), settings)
    assert buffer is not None
    assert not np.shares_memory(buffer, grad)


# Settings from PyTorch's own optimizer tests (torch/testing/_internal/common_optimizers.py,
# the optim_inputs of SGD, Adam and AdamW): the functional updates against torch.optim itself.
TORCH_CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "sgd-momentum-dampening-decay": (
        "SGD",
        {"lr": 0.01, "momentum": 0.9, "dampening": 0.5, "weight_decay": 0.1},
    ),
    "sgd-nesterov-decay": (
        "SGD",
        {"lr": 0.01, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1},
    ),
    "adam-decay": ("Adam", {"lr": 0.01, "weight_decay": 0.1}),
    "adamw-betas": ("AdamW", {"lr": 0.01, "betas": (0.8, 0.9), "weight_decay": 0.1}),
    "sgd-maximize-decay": ("SGD", {"lr": 0.01, "weight_decay": 0.1, "maximize": True}),
    "adam-maximize-decay": ("Adam", {"lr": 0.01, "weight_decay": 0.1, "maximize": True}),
}


@pytest.mark.parametrize(("name", "settings"), TORCH_CASES.values(), ids=TORCH_CASES)
def test_functional_updates_match_torch_optim_in_float64(
    torch: Any, rng: np.random.Generator, name: str, settings: dict[str, Any]
) -> None:
    start, grads = rng.standard_normal((3, 4)), _gradients(rng, (3, 4))
    reference = torch.tensor(start.copy(), requires_grad=True)
    torch_optimizer = getattr(torch.optim, name)([reference], **settings)
    ours = getattr(cr.optim, name)([cr.tensor(start, requires_grad=True)], **settings)
    group = ours.param_groups[0]
    value: Any = start.copy()
    state: list[Any] = [None, None]
    for step, grad in enumerate(grads, start=1):
        reference.grad = torch.tensor(grad)
        torch_optimizer.step()
        if name == "SGD":
            value, state[0] = OF.sgd_update(
                value, grad, state[0], OF.sgd_coefficients(group), OF.SGDSettings.of(group)
            )
        else:
            decoupled = name == "AdamW"
            value, state[0], state[1] = OF.adam_update(
                value,
                grad,
                state[0],
                state[1],
                OF.adam_coefficients(group, step),
                OF.AdamSettings.of(group, decoupled),
            )
        np.testing.assert_allclose(value, reference.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_adam_settings_refuse_amsgrad_rather_than_drop_it() -> None:
    # `adam_update` carries no running maximum of v: run without it, an amsgrad=True
    # optimizer compiled for XLA would take plain Adam steps without a word.
    optimizer = cr.optim.Adam([cr.tensor(np.zeros(2), requires_grad=True)], amsgrad=True)
    with pytest.raises(ValueError, match="amsgrad=True has no functional form"):
        OF.AdamSettings.of(optimizer.param_groups[0], decoupled=False)
