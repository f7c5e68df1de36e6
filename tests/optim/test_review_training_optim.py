"""Found by reviewing the training side against PyTorch: what an optimizer is handed."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from chainrule import nn, optim
from chainrule.tensor import Tensor


@pytest.mark.parametrize("shape", [(1,), (), (3, 1), (4,)])
def test_assigning_a_gradient_of_another_shape_is_refused(shape: tuple[int, ...]) -> None:
    # PyTorch refuses it at the assignment ("assigned grad has data of a different size");
    # accepted, a (1,) or () gradient was broadcast by SGD and Adam over the whole parameter.
    param = nn.Parameter(np.zeros(3))
    expected = f"gradient of shape {shape} to a tensor of shape (3,)"
    with pytest.raises(ValueError, match=re.escape(expected)):
        param.grad = Tensor(np.ones(shape))
    assert param.grad is None


def test_a_refused_gradient_leaves_the_parameter_untouched_by_the_next_step() -> None:
    param = nn.Parameter(np.zeros(3))
    optimizer = optim.SGD([param], lr=0.1)
    with pytest.raises(ValueError, match="a gradient has its tensor's shape"):
        param.grad = Tensor(np.ones(1))
    optimizer.step()
    np.testing.assert_array_equal(param.data, np.zeros(3))


@pytest.mark.parametrize("flat", [False, True])
@pytest.mark.parametrize(
    "grad", [np.full((3, 1), 5.0), 5.0, [[5.0], [5.0], [5.0]]], ids=["ndarray", "float", "list"]
)
def test_assigning_a_gradient_that_is_no_tensor_is_refused(grad: Any, flat: bool) -> None:
    # As PyTorch's "assigned grad expected to be a Tensor or None": a raw ndarray was kept as
    # `.grad` (SGD used it; a flat model's step failed with AttributeError '_data'), a float
    # failed with AttributeError 'shape'.
    layer = nn.Linear(3, 1, rng=np.random.default_rng(0))
    if flat:
        layer.flatten_parameters()
    with pytest.raises(TypeError, match=r"Tensor\.grad: .* a Tensor or None, not"):
        layer.weight.grad = grad
    assert layer.weight.grad is None


@pytest.mark.parametrize(
    ("saver", "loader", "lacking"),
    [
        (optim.Adam, optim.SGD, "momentum, dampening"),
        (optim.SGD, optim.Adam, "betas, eps"),
    ],
)
def test_loading_another_optimizers_state_is_refused(
    saver: type[optim.Optimizer], loader: type[optim.Optimizer], lacking: str
) -> None:
    # Adam's state loaded into SGD restarted its momentum silently; SGD's into Adam failed
    # with a KeyError inside the next step.
    param = nn.Parameter(np.zeros(3))
    param.grad = Tensor(np.ones(3))
    source = saver([param], lr=0.1)
    source.step()
    target = loader([param], lr=0.1)
    with pytest.raises(ValueError, match=f"has no {lacking}.*saved by another optimizer"):
        target.load_state_dict(source.state_dict())


def test_adams_state_loads_into_adamw_and_keeps_custom_group_keys() -> None:
    # As torch: the two share their hyperparameters; a user's own group entry survives.
    param = nn.Parameter(np.zeros(3))
    param.grad = Tensor(np.ones(3))
    source = optim.Adam([{"params": [param], "name": "head"}], lr=0.1)
    source.step()
    target = optim.AdamW([param], lr=0.1)
    target.load_state_dict(source.state_dict())
    assert target.param_groups[0]["name"] == "head"
    assert target.state[param]["step"] == 1


SCHEDULES: dict[str, Callable[[Any, Any], Any]] = {
    "step": lambda module, optimizer: module.StepLR(optimizer, 4, gamma=0.5),
    "cosine": lambda module, optimizer: module.CosineAnnealingLR(optimizer, 7, eta_min=0.001),
}


def _two_groups(module: Any, make_param: Callable[[], Any]) -> Any:
    return module.SGD(
        [{"params": [make_param()]}, {"params": [make_param()], "lr": 0.5}], lr=0.05, momentum=0.9
    )


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_schedule_of_two_groups_resumed_mid_run_follows_torchs_uninterrupted_one(
    torch: ModuleType, name: str
) -> None:
    # After torch's test_lr_scheduler (two groups, lrs 0.05 and 0.5, each checked every
    # epoch), with a state_dict round trip through JSON at epoch 13 of 30.
    reference = _two_groups(torch.optim, lambda: torch.nn.Parameter(torch.zeros(1)))
    reference_schedule = SCHEDULES[name](torch.optim.lr_scheduler, reference)
    optimizer = _two_groups(optim, lambda: nn.Parameter(np.zeros(1)))
    schedule = SCHEDULES[name](optim, optimizer)
    for epoch in range(1, 31):
        reference.step()
        reference_schedule.step()
        optimizer.step()
        schedule.step()
        if epoch == 13:
            saved = json.loads(json.dumps(schedule.state_dict()))
            saved_optimizer = optimizer.state_dict()
            optimizer = _two_groups(optim, lambda: nn.Parameter(np.zeros(1)))
            schedule = SCHEDULES[name](optim, optimizer)
            optimizer.load_state_dict(saved_optimizer)
            schedule.load_state_dict(saved)
        expected = [group["lr"] for group in reference.param_groups]
        np.testing.assert_allclose(schedule.get_last_lr(), expected, rtol=1e-12, atol=0)
        got = [group["lr"] for group in optimizer.param_groups]
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)


OPTIMIZERS: dict[str, Callable[[Any, Any], Any]] = {
    "sgd-nesterov-decay": lambda module, groups: module.SGD(
        groups, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01
    ),
    "adam-l2": lambda module, groups: module.Adam(groups, lr=0.01, weight_decay=0.1),
    "adamw": lambda module, groups: module.AdamW(groups, lr=0.01, betas=(0.8, 0.9)),
}


@pytest.mark.parametrize("flat", [False, True], ids=["per-parameter", "flat"])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_optimizer_reloaded_mid_training_continues_as_torchs_uninterrupted_one(
    torch: ModuleType, name: str, flat: bool
) -> None:
    # After torch's test_optim state-dict check: step, save, load into a fresh optimizer
    # over the same parameters, keep stepping; here against torch never interrupted, with two
    # groups (the second with its own lr) and a parameter skipped (grad None) on some steps.
    rng = np.random.default_rng(4)
    shapes = [(3, 4), (4,), (2,)]
    starts = [rng.standard_normal(shape) for shape in shapes]
    model = nn.Module()
    for index, start in enumerate(starts):
        setattr(model, f"p{index}", nn.Parameter(start.copy()))
    if flat:
        model.flatten_parameters()
    ours = list(model.parameters())
    theirs = [torch.nn.Parameter(torch.from_numpy(start.copy())) for start in starts]

    def build(module: Any, params: list[Any]) -> Any:
        return OPTIMIZERS[name](
            module, [{"params": params[:2]}, {"params": params[2:], "lr": 0.05}]
        )

    optimizer, reference = build(optim, ours), build(torch.optim, theirs)
    for step in range(12):
        for position, (mine, other) in enumerate(zip(ours, theirs, strict=True)):
            grad = rng.standard_normal(shapes[position])
            skipped = position == 1 and step in (2, 3, 8)
            mine.grad = None if skipped else Tensor(grad.copy())
            other.grad = None if skipped else torch.from_numpy(grad.copy())
        optimizer.step()
        reference.step()
        if step == 5:
            saved = optimizer.state_dict()
            optimizer = build(optim, ours)
            optimizer.load_state_dict(saved)
        for mine, other in zip(ours, theirs, strict=True):
            expected = other.detach().numpy()
            assert mine.data.shape == expected.shape
            np.testing.assert_allclose(mine.data, expected, rtol=1e-12, atol=1e-14)


def test_a_group_added_after_a_cosine_schedule_is_refused_by_its_next_step() -> None:
    # It has no base lr to anneal from: torch's CosineAnnealingLR leaves it unscheduled,
    # silently; here the step failed on a bare zip() length mismatch.
    optimizer = optim.SGD([nn.Parameter(np.zeros(1))], lr=0.1)
    schedule = optim.CosineAnnealingLR(optimizer, 5)
    optimizer.add_param_group({"params": [nn.Parameter(np.zeros(1))], "lr": 0.3})
    with pytest.raises(ValueError, match="has 2 parameter groups, but the schedule was made for 1"):
        schedule.step()
