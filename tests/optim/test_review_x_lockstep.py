"""Adversarial review (review-x): chainrule.optim run in lockstep with torch 2.13 (float64),
one parameter at a time, through the corners: gradients present only on some steps,
hyperparameters changed between steps, the flat multi-tensor path against the
per-parameter one, checkpoints, torch's own state dicts and chained schedules."""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import chainrule
from chainrule import nn, optim
from chainrule.nn.flat import flatten_parameters

pytestmark = pytest.mark.torch

SHAPES = ((3, 4), (5,), (2, 3))
Presence = Callable[[int], Sequence[bool]]


def _pair(torch: ModuleType, flat: bool) -> tuple[list[nn.Parameter], list[Any]]:
    """The same float64 parameters in chainrule (in one flat buffer if `flat`) and torch."""
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(shape) for shape in SHAPES]
    ours = [nn.Parameter(array.copy()) for array in arrays]
    theirs = [torch.nn.Parameter(torch.from_numpy(array.copy())) for array in arrays]
    if flat:
        flatten_parameters(ours)
    return ours, theirs


def _backward(
    ours: Sequence[nn.Parameter],
    theirs: Sequence[Any],
    torch: ModuleType,
    rng: np.random.Generator,
    present: Sequence[bool],
) -> None:
    """Give the parameters marked `present` the same random gradient on both sides, through
    a backward pass on ours (so that a flat buffer's gradient slots are used); the others
    keep what zero_grad left them."""
    loss = None
    for param, reference, here in zip(ours, theirs, present, strict=True):
        if here:
            grad = rng.standard_normal(param.shape)
            reference.grad = torch.from_numpy(grad.copy())
            term = (param * chainrule.tensor(grad)).sum()
            loss = term if loss is None else loss + term
    if loss is not None:
        loss.backward()


def _assert_same(ours: Sequence[nn.Parameter], theirs: Sequence[Any], step: int) -> None:
    for position, (param, reference) in enumerate(zip(ours, theirs, strict=True)):
        expected = reference.detach().numpy()
        assert param.data.shape == expected.shape
        np.testing.assert_allclose(
            param.data,
            expected,
            rtol=1e-12,
            atol=1e-15,
            err_msg=f"parameter {position}, step {step}",
        )


def _lockstep(
    torch: ModuleType,
    make: Callable[[Any, Any], Any],
    *,
    flat: bool,
    present: Presence,
    changes: dict[int, dict[str, Any]] | None = None,
    steps: int = 8,
) -> None:
    """Step both optimizers `steps` times; at step s every group takes `changes[s]`."""
    ours, theirs = _pair(torch, flat)
    optimizer, reference = make(optim, ours), make(torch.optim, theirs)
    rng = np.random.default_rng(1)
    for step in range(steps):
        for key, value in (changes or {}).get(step, {}).items():
            for group in [*optimizer.param_groups, *reference.param_groups]:
                group[key] = value
        optimizer.zero_grad()
        reference.zero_grad()
        _backward(ours, theirs, torch, rng, present(step))
        optimizer.step()
        reference.step()
        _assert_same(ours, theirs, step)


def _two_groups(module: Any, params: Any, cls: str, **options: Any) -> Any:
    return getattr(module, cls)(
        [{"params": params[:1]}, {"params": params[1:], "lr": 0.03}], **options
    )


@pytest.mark.parametrize("flat", [False, True], ids=["per-parameter", "flat"])
@pytest.mark.parametrize(
    ("options", "changes"),
    [
        ({"lr": 0.1}, {3: {"momentum": 0.5}}),
        ({"lr": 0.1, "momentum": 0.9}, {3: {"nesterov": True}}),
        ({"lr": 0.1, "momentum": 0.9, "dampening": 0.5}, {3: {"dampening": 0.0}}),
    ],
    ids=["momentum-switched-on", "nesterov-switched-on", "dampening-dropped"],
)
def test_sgd_momentum_changed_while_a_parameter_has_no_gradient(
    torch: ModuleType, flat: bool, options: dict[str, Any], changes: dict[int, dict[str, Any]]
) -> None:
    # The second parameter has a gradient on even steps only: at step 3 the third starts a
    # momentum buffer alone, which the flat step of step 4 used to restart from scratch.
    _lockstep(
        torch,
        lambda module, params: _two_groups(module, params, "SGD", **options),
        flat=flat,
        present=lambda step: (True, step % 2 == 0, True),
        changes=changes,
    )


def _trajectory(
    make: Callable[[Any, Any], Any],
    flat: bool,
    present: Presence,
    changes: dict[int, dict[str, Any]],
    steps: int = 8,
    reload_at: int | None = None,
) -> list[np.ndarray]:
    """The parameters' values after `steps` chainrule steps (no torch: for options torch
    refuses, such as amsgrad switched on after the first step); with `reload_at`, the run
    continues after that step in a new optimizer loaded from a JSON round trip of the
    state dict's groups (the arrays copied, as an .npz would)."""
    import torch as torch_module

    ours, theirs = _pair(torch_module, flat)
    optimizer = make(optim, ours)
    rng = np.random.default_rng(1)
    for step in range(steps):
        for key, value in changes.get(step, {}).items():
            for group in optimizer.param_groups:
                group[key] = value
        optimizer.zero_grad()
        _backward(ours, theirs, torch_module, rng, present(step))
        optimizer.step()
        if step == reload_at:
            saved = optimizer.state_dict()
            restored = {
                "state": copy.deepcopy(saved["state"]),
                "param_groups": json.loads(json.dumps(saved["param_groups"])),
            }
            optimizer = make(optim, ours)
            optimizer.load_state_dict(restored)
    return [param.data.copy() for param in ours]


@pytest.mark.parametrize("cls", ["Adam", "AdamW"])
def test_amsgrad_switched_on_gives_the_same_values_flat_and_per_parameter(
    torch: ModuleType, cls: str
) -> None:
    # torch raises KeyError here; chainrule starts v_max at that step, and the flat path
    # must keep the v_max a parameter started alone on the step before.
    def make(module: Any, params: Any) -> Any:
        return _two_groups(module, params, cls, lr=0.01)

    def present(step: int) -> tuple[bool, bool, bool]:
        return (True, step % 2 == 0, True)

    changes = {3: {"amsgrad": True}}
    per_parameter = _trajectory(make, False, present, changes)
    flat = _trajectory(make, True, present, changes)
    for position, (expected, got) in enumerate(zip(per_parameter, flat, strict=True)):
        assert got.shape == expected.shape
        assert np.array_equal(got, expected), f"parameter {position}"


TORCH_STATES: dict[str, dict[str, Any]] = {
    "SGD": {"lr": 0.1, "momentum": 0.9},
    "Adam": {"lr": 0.01},
    "AdamW": {"lr": 0.01, "amsgrad": True},
}


@pytest.mark.parametrize("stepped", [True, False], ids=["after-steps", "before-any-step"])
@pytest.mark.parametrize("cls", list(TORCH_STATES))
def test_a_torch_optimizer_state_dict_is_refused_and_nothing_changes(
    torch: ModuleType, cls: str, stepped: bool
) -> None:
    # Loaded, torch's tensors became the state: SGD then stepped them in place (the torch
    # optimizer's own buffers changing under it) and Adam failed deep in NumPy; torch's
    # group flags (decoupled_weight_decay, foreach, ...) were taken in and ignored.
    ours, theirs = _pair(torch, flat=False)
    optimizer = getattr(optim, cls)(ours, **TORCH_STATES[cls])
    reference = getattr(torch.optim, cls)(theirs, **TORCH_STATES[cls])
    rng = np.random.default_rng(2)
    for _ in range(2 if stepped else 0):
        _backward(ours, theirs, torch, rng, (True, True, True))
        optimizer.step()
        reference.step()
    before = optimizer.state_dict()
    saved = reference.state_dict()
    with pytest.raises(ValueError, match=rf"{cls}\.load_state_dict: .*'foreach'.*a torch one"):
        optimizer.load_state_dict(saved)
    after = optimizer.state_dict()
    assert after["param_groups"] == before["param_groups"]
    assert after["state"].keys() == before["state"].keys()
    for index, entries in before["state"].items():
        for key, value in entries.items():
            np.testing.assert_array_equal(after["state"][index][key], value)


def test_a_state_dict_with_an_unknown_group_flag_is_refused() -> None:
    params = [nn.Parameter(np.ones(3))]
    saved = optim.Adam(params, lr=0.01).state_dict()
    saved["param_groups"][0]["decoupled_weight_decay"] = True
    with pytest.raises(ValueError, match="'decoupled_weight_decay'"):
        optim.Adam(params, lr=0.01).load_state_dict(saved)


def test_torch_tensors_in_a_state_are_refused_and_left_unchanged(torch: ModuleType) -> None:
    params = [nn.Parameter(np.ones(3))]
    optimizer = optim.SGD(params, lr=0.1, momentum=0.9)
    params[0].grad = chainrule.tensor(np.full(3, 2.0))
    optimizer.step()
    saved = optimizer.state_dict()
    buffer = torch.from_numpy(saved["state"][0]["momentum_buffer"].copy())
    saved["state"][0]["momentum_buffer"] = buffer
    with pytest.raises(TypeError, match=r"'momentum_buffer' of parameter 0 is a torch\.Tensor"):
        optim.SGD(params, lr=0.1, momentum=0.9).load_state_dict(saved)
    np.testing.assert_array_equal(buffer.numpy(), np.full(3, 2.0))


def _late_cosine_lrs(module: Any, params: Sequence[Any]) -> list[list[float]]:
    """Both groups' lrs over 12 epochs of a cosine schedule attached after 5 epochs of StepLR
    (which halved the lrs twice); `module` is chainrule.optim or torch.optim."""
    optimizer = module.SGD([{"params": params[:1]}, {"params": params[1:], "lr": 0.02}], lr=0.1)
    schedules = getattr(module, "lr_scheduler", module)
    decay = schedules.StepLR(optimizer, 2, gamma=0.5)
    for _ in range(5):
        optimizer.step()
        decay.step()
    cosine = schedules.CosineAnnealingLR(optimizer, 3)
    lrs = []
    for _ in range(12):
        optimizer.step()
        cosine.step()
        lrs.append([group["lr"] for group in optimizer.param_groups])
    return lrs


def test_a_schedule_attached_after_another_rises_to_the_first_lr_as_torch(
    torch: ModuleType,
) -> None:
    # base_lrs was each group's lr when the cosine was made (0.025, not 0.1): after each
    # minimum it rose to a quarter of torch's lr.
    ours = np.array(_late_cosine_lrs(optim, [nn.Parameter(np.zeros(2)) for _ in range(2)]))
    theirs = np.array(
        _late_cosine_lrs(torch.optim, [torch.nn.Parameter(torch.zeros(2)) for _ in range(2)])
    )
    assert ours.shape == theirs.shape == (12, 2)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=0)


@pytest.mark.parametrize(
    "make",
    [
        lambda params: optim.SGD(params, lr=0.1),
        lambda params: optim.SGD(params, lr=0.1, momentum=0.9),
        lambda params: optim.Adam(params, lr=0.1),
        lambda params: optim.AdamW(params, lr=0.1, amsgrad=True),
    ],
    ids=["sgd", "sgd-momentum", "adam", "adamw-amsgrad"],
)
def test_a_gradient_whose_data_took_another_shape_is_refused(
    make: Callable[[list[nn.Parameter]], optim.Optimizer],
) -> None:
    # NumPy broadcast the (4,) gradient into every row of the (3, 4) parameter (torch too).
    param = nn.Parameter(np.ones((3, 4)))
    param.grad = chainrule.tensor(np.ones((3, 4)))
    param.grad.data = np.full(4, 2.0)
    optimizer = make([param])
    with pytest.raises(ValueError, match=r"shape \(3, 4\) has a gradient of shape \(4,\)"):
        optimizer.step()
    np.testing.assert_array_equal(param.data, np.ones((3, 4)))


def _every_combination() -> dict[str, tuple[str, dict[str, Any]]]:
    """Each flag combination torch's SGD, Adam and AdamW accept, by a readable id."""
    combinations: dict[str, tuple[str, dict[str, Any]]] = {}
    for momentum, dampening, nesterov, decay, maximize in itertools.product(
        (0.0, 0.9), (0.0, 0.3), (False, True), (0.0, 0.1), (False, True)
    ):
        if nesterov and (momentum == 0 or dampening != 0):
            continue  # refused by both
        options = {
            "lr": 0.1,
            "momentum": momentum,
            "dampening": dampening,
            "nesterov": nesterov,
            "weight_decay": decay,
            "maximize": maximize,
        }
        name = f"sgd-m{momentum}-d{dampening}-n{int(nesterov)}-wd{decay}-max{int(maximize)}"
        combinations[name] = ("SGD", options)
    for cls, amsgrad, decay, maximize, betas in itertools.product(
        ("Adam", "AdamW"), (False, True), (0.0, 0.1), (False, True), ((0.9, 0.999), (0.3, 0.5))
    ):
        options = {
            "lr": 0.01,
            "betas": betas,
            "weight_decay": decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
        }
        name = f"{cls.lower()}-ams{int(amsgrad)}-wd{decay}-max{int(maximize)}-b1{betas[0]}"
        combinations[name] = (cls, options)
    return combinations


COMBINATIONS = _every_combination()


def _sometimes(step: int) -> tuple[bool, bool, bool]:
    """The first parameter has a gradient on even steps, the third not on step 1 mod 3."""
    return (step % 2 == 0, True, step % 3 != 1)


@pytest.mark.parametrize("flat", [False, True], ids=["per-parameter", "flat"])
@pytest.mark.parametrize("name", list(COMBINATIONS))
def test_every_flag_combination_follows_torch_with_gradients_missing_on_some_steps(
    torch: ModuleType, name: str, flat: bool
) -> None:
    # Two groups with different lrs, a parameter skipped on some steps (its state must not
    # advance), and every lr halved between steps 4 and 5.
    cls, options = COMBINATIONS[name]
    _lockstep(
        torch,
        lambda module, params: _two_groups(module, params, cls, **options),
        flat=flat,
        present=_sometimes,
        changes={5: {"lr": options["lr"] / 2}},
    )


@pytest.mark.parametrize("name", list(COMBINATIONS))
def test_a_checkpoint_mid_run_continues_bit_for_bit_flat_and_per_parameter(name: str) -> None:
    cls, options = COMBINATIONS[name]

    def make(module: Any, params: Any) -> Any:
        return _two_groups(module, params, cls, **options)

    uninterrupted = _trajectory(make, False, _sometimes, {})
    for flat, reload_at in [(False, 3), (True, 3), (True, 0)]:
        resumed = _trajectory(make, flat, _sometimes, {}, reload_at=reload_at)
        for position, (expected, got) in enumerate(zip(uninterrupted, resumed, strict=True)):
            assert got.shape == expected.shape
            assert np.array_equal(got, expected), f"flat={flat}, parameter {position}"


@pytest.mark.parametrize("as_group", [False, True], ids=["params", "group"])
def test_parameters_given_as_a_set_are_refused(as_group: bool) -> None:
    # A set's order follows the tensors' ids, so a state dict saved in one run numbered its
    # parameters differently from the next: loaded, equal shapes took each other's moments.
    params = {nn.Parameter(np.ones(3)), nn.Parameter(np.zeros(3))}
    argument: Any = [{"params": params}] if as_group else params
    with pytest.raises(TypeError, match="not a set"):
        optim.Adam(argument, lr=0.1)
    optimizer = optim.Adam([nn.Parameter(np.ones(2))], lr=0.1)
    with pytest.raises(TypeError, match="not a set"):
        optimizer.add_param_group({"params": params})
    assert len(optimizer.param_groups) == 1


@pytest.mark.parametrize("changed", [0, 1], ids=["first-member", "second-member"])
def test_rebuild_refuses_a_member_whose_data_took_another_dtype(changed: int) -> None:
    # The buffer took the first member's dtype and copied every member into it: a float64
    # parameter silently became float32 (or a float32 one float64 again).
    params = [nn.Parameter(np.array([1.0 + 1e-10, 2.0])), nn.Parameter(np.array([3.0 + 1e-10]))]
    (buffer,) = flatten_parameters(params)
    params[changed].data = params[changed].data.astype(np.float32)
    expected = [param.data.copy() for param in params]
    with pytest.raises(ValueError, match=r"FlatBuffer\.rebuild: .*float32.*float64"):
        buffer.rebuild()
    for param, values in zip(params, expected, strict=True):
        assert param.dtype == values.dtype
        np.testing.assert_array_equal(param.data, values)


@pytest.mark.parametrize(
    "replacement",
    [np.full(4, 2.0), np.full((3, 4), 2.0, dtype=np.float32)],
    ids=["broadcastable-shape", "other-dtype"],
)
def test_rebuild_refuses_a_gradient_whose_data_no_longer_fits(replacement: np.ndarray) -> None:
    # rebuild() copied the gradient into its slot: a (4,) one broadcast over all three
    # rows, a float32 one cast.
    params = [nn.Parameter(np.ones((3, 4))), nn.Parameter(np.ones(2))]
    (buffer,) = flatten_parameters(params)
    params[0].grad = chainrule.tensor(np.ones((3, 4)))
    params[0].grad.data = replacement
    with pytest.raises(ValueError, match=r"parameter 0 \(shape \(3, 4\), dtype float64\) has"):
        buffer.rebuild()
    assert params[0].grad.data is replacement
