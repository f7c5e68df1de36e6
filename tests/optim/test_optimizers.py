"""SGD, Adam, AdamW against torch.optim step by step; in-place updates; param groups;
state dicts that survive JSON + npz and continue identically; error messages."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import chainrule
from chainrule import nn, optim

CONFIGS: dict[str, Callable[[Any, Any], Any]] = {
    "sgd": lambda module, params: module.SGD(params, lr=0.1),
    "sgd-momentum": lambda module, params: module.SGD(params, lr=0.1, momentum=0.9),
    "sgd-dampening-decay": lambda module, params: module.SGD(
        params, lr=0.1, momentum=0.8, dampening=0.25, weight_decay=0.01
    ),
    "sgd-nesterov-decay": lambda module, params: module.SGD(
        params, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01
    ),
    "adam": lambda module, params: module.Adam(params, lr=0.01),
    "adam-l2": lambda module, params: module.Adam(
        params, lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05
    ),
    "adamw": lambda module, params: module.AdamW(params, lr=0.01),
    "adamw-strong-decay": lambda module, params: module.AdamW(
        params, lr=0.01, betas=(0.5, 0.9), weight_decay=0.5
    ),
    # From PyTorch's optimizer test inputs (torch/testing/_internal/common_optimizers.py:
    # maximize and amsgrad, each beside weight decay).
    "sgd-maximize-decay": lambda module, params: module.SGD(
        params, lr=0.1, momentum=0.9, weight_decay=0.1, maximize=True
    ),
    "adam-amsgrad-decay": lambda module, params: module.Adam(
        params, lr=0.01, weight_decay=0.1, amsgrad=True
    ),
    "adamw-amsgrad-maximize": lambda module, params: module.AdamW(
        params, lr=0.01, amsgrad=True, maximize=True
    ),
}


def _gradients(steps: int) -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    return [rng.standard_normal((3, 4)) for _ in range(steps)]


@pytest.mark.parametrize("name", list(CONFIGS))
def test_updates_match_torch_for_several_steps(torch: ModuleType, name: str) -> None:
    start = np.random.default_rng(2).standard_normal((3, 4))
    ours = nn.Parameter(start.copy())
    theirs = torch.nn.Parameter(torch.from_numpy(start.copy()))
    optimizer, reference = CONFIGS[name](optim, [ours]), CONFIGS[name](torch.optim, [theirs])
    for grad in _gradients(6):
        ours.grad = chainrule.tensor(grad.copy())
        theirs.grad = torch.from_numpy(grad.copy())
        optimizer.step()
        reference.step()
        expected = theirs.detach().numpy()
        assert ours.data.shape == expected.shape
        np.testing.assert_allclose(ours.data, expected, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_step_updates_in_place_and_keeps_float32(name: str) -> None:
    param = nn.Parameter(np.ones((3, 4), dtype=np.float32))
    values = param.data
    optimizer = CONFIGS[name](optim, [param])
    for grad in _gradients(2):
        param.grad = chainrule.tensor(grad.astype(np.float32))
        optimizer.step()
    assert param.data is values
    assert param.dtype == np.float32
    assert not np.array_equal(values, np.ones((3, 4), dtype=np.float32))
    for buffer in optimizer.state[param].values():
        if isinstance(buffer, np.ndarray):
            assert buffer.dtype == np.float32


def test_momentum_buffer_starts_as_the_first_gradient() -> None:
    param = nn.Parameter(np.zeros(3))
    optimizer = optim.SGD([param], lr=0.1, momentum=0.9, dampening=0.5)
    param.grad = chainrule.tensor(np.array([1.0, 2.0, 3.0]))
    optimizer.step()
    np.testing.assert_array_equal(optimizer.state[param]["momentum_buffer"], [1.0, 2.0, 3.0])
    np.testing.assert_allclose(param.data, [-0.1, -0.2, -0.3], rtol=1e-15)


def test_parameters_without_grad_are_left_alone() -> None:
    used, unused = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(2))
    optimizer = optim.Adam([used, unused])
    used.grad = chainrule.tensor(np.ones(2))
    optimizer.step()
    np.testing.assert_array_equal(unused.data, np.ones(2))
    assert unused not in optimizer.state


def test_each_param_group_uses_its_own_lr() -> None:
    slow, fast = nn.Parameter(np.zeros(1)), nn.Parameter(np.zeros(1))
    optimizer = optim.SGD([{"params": [slow]}, {"params": [fast], "lr": 1.0}], lr=0.1)
    slow.grad = chainrule.tensor(np.ones(1))
    fast.grad = chainrule.tensor(np.ones(1))
    optimizer.step()
    np.testing.assert_allclose(slow.data, [-0.1], rtol=1e-15)
    np.testing.assert_allclose(fast.data, [-1.0], rtol=1e-15)
    assert optimizer.param_groups[0]["lr"] == 0.1


def test_plain_and_momentum_groups_of_one_sgd_match_torch(torch: ModuleType) -> None:
    starts = [np.random.default_rng(seed).standard_normal((3, 4)) for seed in (5, 6)]
    ours = [nn.Parameter(start.copy()) for start in starts]
    theirs = [torch.nn.Parameter(torch.from_numpy(start.copy())) for start in starts]

    def make(module: Any, params: list[Any]) -> Any:
        return module.SGD(
            [{"params": [params[0]]}, {"params": [params[1]], "momentum": 0.9}], lr=0.1
        )

    optimizer, reference = make(optim, ours), make(torch.optim, theirs)
    for grad in _gradients(4):
        for mine, other in zip(ours, theirs, strict=True):
            mine.grad = chainrule.tensor(grad.copy())
            other.grad = torch.from_numpy(grad.copy())
        optimizer.step()
        reference.step()
    for mine, other in zip(ours, theirs, strict=True):
        expected = other.detach().numpy()
        assert mine.data.shape == expected.shape
        np.testing.assert_allclose(mine.data, expected, rtol=1e-13, atol=1e-15)


def test_zero_grad_sets_grads_to_none() -> None:
    model = nn.Linear(2, 2)
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    model(np.ones((1, 2), dtype=np.float32)).sum().backward()
    optimizer.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_step_makes_graphs_that_used_the_old_values_unusable() -> None:
    param = nn.Parameter(np.ones(2))
    loss = (param * param).sum()
    param.grad = chainrule.tensor(np.ones(2))
    optim.SGD([param], lr=0.1).step()
    with pytest.raises(RuntimeError, match="modified in place"):
        loss.backward()


def test_closure_is_evaluated_and_its_loss_returned() -> None:
    param = nn.Parameter(np.array([2.0]))
    optimizer = optim.SGD([param], lr=0.25)

    def closure() -> chainrule.Tensor:
        optimizer.zero_grad()
        loss = (param * param).sum()
        loss.backward()
        return loss

    with chainrule.no_grad():
        loss = optimizer.step(closure)
    assert loss is not None
    assert loss.item() == 4.0
    np.testing.assert_allclose(param.data, [1.0], rtol=1e-15)


def _to_checkpoint(state: dict[str, Any]) -> tuple[str, bytes]:
    """Split a state dict as a checkpoint would: arrays into .npz, the rest into JSON."""
    arrays = {}
    plain: dict[str, Any] = {"param_groups": state["param_groups"], "state": {}}
    for index, entries in state["state"].items():
        plain["state"][index] = {}
        for key, value in entries.items():
            if isinstance(value, np.ndarray):
                arrays[f"{index}.{key}"] = value
            else:
                plain["state"][index][key] = value
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return json.dumps(plain), buffer.getvalue()


def _from_checkpoint(text: str, blob: bytes) -> dict[str, Any]:
    state = json.loads(text)
    with np.load(io.BytesIO(blob), allow_pickle=False) as arrays:
        for name in arrays.files:
            index, key = name.split(".")
            state["state"][index][key] = arrays[name]
    return state


@pytest.mark.parametrize("name", list(CONFIGS))
def test_state_dict_through_json_and_npz_continues_identically(name: str) -> None:
    rng = np.random.default_rng(0)
    original = nn.Linear(4, 3, rng=rng, dtype=np.float64)
    copy = nn.Linear(4, 3, dtype=np.float64)
    optimizer = CONFIGS[name](optim, original.parameters())
    x, y = rng.standard_normal((6, 4)), rng.integers(0, 3, 6)

    def train_step(model: nn.Linear, opt: Any) -> float:
        opt.zero_grad()
        loss = nn.CrossEntropyLoss()(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(3):
        train_step(original, optimizer)
    copy.load_state_dict(original.state_dict())
    resumed = CONFIGS[name](optim, copy.parameters())
    resumed.param_groups[0]["lr"] = 123.0
    resumed.load_state_dict(_from_checkpoint(*_to_checkpoint(optimizer.state_dict())))
    assert resumed.param_groups[0]["lr"] == optimizer.param_groups[0]["lr"]
    for _ in range(3):
        assert train_step(copy, resumed) == train_step(original, optimizer)
    np.testing.assert_array_equal(copy.weight.data, original.weight.data)


def test_state_dict_holds_copies() -> None:
    param = nn.Parameter(np.zeros(2))
    optimizer = optim.Adam([param])
    param.grad = chainrule.tensor(np.ones(2))
    optimizer.step()
    saved = optimizer.state_dict()
    saved["state"][0]["exp_avg"][:] = 99
    assert optimizer.state[param]["exp_avg"][0] != 99
    assert saved["param_groups"][0]["params"] == [0]
    assert saved["state"][0]["step"] == 1


def test_load_state_dict_rejects_a_different_group_layout() -> None:
    saved = optim.SGD([nn.Parameter(np.zeros(2))], lr=0.1).state_dict()
    two = optim.SGD([nn.Parameter(np.zeros(2)), nn.Parameter(np.zeros(2))], lr=0.1)
    with pytest.raises(ValueError, match="group 0 holds 1 parameters in the state but 2 here"):
        two.load_state_dict(saved)


def test_load_state_dict_rejects_mis_shaped_buffers() -> None:
    source = nn.Parameter(np.zeros(2))
    optimizer = optim.SGD([source], lr=0.1, momentum=0.9)
    source.grad = chainrule.tensor(np.ones(2))
    optimizer.step()
    target = optim.SGD([nn.Parameter(np.zeros(3))], lr=0.1, momentum=0.9)
    with pytest.raises(
        ValueError,
        match=r"'momentum_buffer' of parameter 0 has shape \(2,\), "
        r"but the parameter has shape \(3,\)",
    ):
        target.load_state_dict(optimizer.state_dict())


def test_empty_parameter_list_is_rejected() -> None:
    with pytest.raises(ValueError, match="SGD got an empty parameter list"):
        optim.SGD([], lr=0.1)


def test_a_single_tensor_instead_of_a_list_is_rejected() -> None:
    with pytest.raises(TypeError, match="not a single tensor; wrap it in a list"):
        optim.SGD(nn.Parameter(np.zeros(2)), lr=0.1)


def test_non_leaf_parameters_are_rejected() -> None:
    computed = nn.Parameter(np.zeros(2)) * 2
    with pytest.raises(ValueError, match="must be a leaf tensor with requires_grad=True"):
        optim.Adam([computed])


def test_a_parameter_in_two_groups_is_rejected() -> None:
    param = nn.Parameter(np.zeros(2))
    with pytest.raises(ValueError, match="appears twice"):
        optim.SGD([{"params": [param]}, {"params": [param]}], lr=0.1)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: optim.SGD(p, lr=-1.0), r"lr must be a finite number in \[0, inf\)"),
        (lambda p: optim.SGD(p, lr=0.1, momentum=-0.5), r"momentum must be .* in \[0, inf\)"),
        (lambda p: optim.SGD(p, lr=0.1, nesterov=True), "nesterov=True needs momentum > 0"),
        (lambda p: optim.Adam(p, betas=(0.9, 1.0)), r"betas\[1\] must be .* in \[0, 1\)"),
        (lambda p: optim.AdamW(p, eps=-1.0), r"eps must be a finite number in \(0, inf\)"),
        (lambda p: optim.AdamW(p, weight_decay=-0.1), r"weight_decay must be .* \[0, inf\)"),
    ],
    ids=["lr", "momentum", "nesterov", "betas", "eps", "weight_decay"],
)
def test_invalid_hyperparameters_are_named(make: Callable[[Any], Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make([nn.Parameter(np.zeros(2))])


def test_step_hooks_run_before_and_after_the_update_until_removed() -> None:
    param = nn.Parameter(np.ones(2))
    optimizer = optim.SGD([param], lr=0.5)
    seen: list[tuple[str, float]] = []
    pre = optimizer.register_step_pre_hook(lambda o: seen.append(("pre", float(param.data[0]))))
    optimizer.register_step_post_hook(lambda o: seen.append(("post", float(param.data[0]))))
    param.grad = chainrule.tensor(np.ones(2))
    optimizer.step()
    pre.remove()
    optimizer.step()
    assert seen == [("pre", 1.0), ("post", 0.5), ("post", 0.0)]


def test_zero_grad_without_set_to_none_zeroes_in_place() -> None:
    param = nn.Parameter(np.array([1.0, 2.0]))
    (param * param).sum().backward()
    grad = param.grad
    optim.SGD([param], lr=0.1).zero_grad(set_to_none=False)
    assert param.grad is grad
    np.testing.assert_array_equal(grad.numpy(), np.zeros(2))


def test_zero_grad_in_place_makes_a_penalty_on_the_recorded_grad_unusable() -> None:
    """A gradient penalty built from a create_graph .grad saved that grad; zeroing it in
    place must be caught at backward, not backpropagate zeros."""
    param = nn.Parameter(np.array([1.0, 2.0]))
    (param * param * param).sum().backward(create_graph=True)
    penalty = (param.grad * param.grad).sum()
    optimizer = optim.SGD([param], lr=0.1)
    optimizer.zero_grad(set_to_none=False)
    with pytest.raises(RuntimeError, match="modified in place"):
        penalty.backward()


def _stepped_adam(params: list[nn.Parameter]) -> optim.Adam:
    optimizer = optim.Adam([{"params": params[:1]}, {"params": params[1:]}], lr=0.1)
    for param in params:
        param.grad = chainrule.tensor(np.ones(param.shape, param.dtype))
    optimizer.step()
    return optimizer


def _assert_same_state(got: dict[str, Any], want: dict[str, Any]) -> None:
    assert got["param_groups"] == want["param_groups"]
    assert got["state"].keys() == want["state"].keys()
    for index, entries in want["state"].items():
        assert got["state"][index].keys() == entries.keys()
        for key, value in entries.items():
            np.testing.assert_array_equal(got["state"][index][key], value)


@pytest.mark.parametrize("broken", ["lr of the second group", "state of the third parameter"])
def test_a_refused_optimizer_state_leaves_the_optimizer_untouched(broken: str) -> None:
    # As a user catching the error expects (torch validates the groups before it replaces
    # anything): no group's hyperparameters and no parameter's moments are half loaded.
    params = [nn.Parameter(np.zeros(2)), nn.Parameter(np.zeros(3)), nn.Parameter(np.zeros(4))]
    optimizer = _stepped_adam(params)
    before = optimizer.state_dict()
    other = _stepped_adam([nn.Parameter(np.ones(p.shape)) for p in params])
    other.param_groups[0]["lr"] = 0.5
    state = other.state_dict()
    if broken == "lr of the second group":
        state["param_groups"][1]["lr"] = -1.0
    else:
        state["state"][2]["exp_avg"] = np.zeros(5)
    with pytest.raises(ValueError, match=r"lr must be|parameter 2 has shape"):
        optimizer.load_state_dict(state)
    _assert_same_state(optimizer.state_dict(), before)


@pytest.mark.parametrize(
    ("value", "dtype"), [(np.full(2, "x"), "<U1"), (np.full(2, 1j), "complex128")]
)
def test_an_optimizer_state_of_other_than_real_numbers_is_refused(
    value: np.ndarray, dtype: str
) -> None:
    # Before, a string array failed inside NumPy's cast without naming the entry, and a
    # complex one lost its imaginary part with only a warning.
    param = nn.Parameter(np.zeros(2))
    optimizer = _stepped_adam([param])
    state = optimizer.state_dict()
    state["state"][0]["exp_avg"] = value
    with pytest.raises(ValueError, match=f"'exp_avg' of parameter 0 holds values of dtype {dtype}"):
        optimizer.load_state_dict(state)


def test_a_float64_optimizer_state_loads_into_float32_parameters_as_float32() -> None:
    # As torch (Optimizer.load_state_dict casts floating state to the parameter's dtype).
    saved = _stepped_adam([nn.Parameter(np.zeros(3))]).state_dict()
    param = nn.Parameter(np.zeros(3, np.float32))
    optimizer = optim.Adam([{"params": [param]}, {"params": []}], lr=0.1)
    optimizer.load_state_dict(saved)
    assert optimizer.state[param]["exp_avg"].dtype == np.float32
    assert optimizer.state[param]["exp_avg_sq"].dtype == np.float32
    param.grad = chainrule.tensor(np.ones(3, np.float32))
    optimizer.step()
    assert param.dtype == np.float32
    assert optimizer.state[param]["exp_avg"].dtype == np.float32


def test_load_state_dict_of_something_else_names_what_it_expects() -> None:
    optimizer = optim.SGD([nn.Parameter(np.zeros(2))], lr=0.1)
    with pytest.raises(ValueError, match="expected a dict with 'state' and 'param_groups'"):
        optimizer.load_state_dict({"param_groups": []})


@pytest.mark.parametrize("make", [optim.SGD, optim.Adam])
def test_an_empty_parameter_group_is_stepped_over(make: type[optim.Optimizer]) -> None:
    # As torch, which accepts a group without parameters; the flat path failed with
    # IndexError on it.
    param = nn.Parameter(np.zeros(2))
    optimizer = make([{"params": [param]}, {"params": []}], lr=0.1)
    param.grad = chainrule.tensor(np.ones(2))
    optimizer.step()
    assert np.all(param.data < 0)


@pytest.mark.parametrize(
    ("make", "flag"),
    [
        (lambda p: optim.SGD(p, lr=0.1, maximize=1), "maximize"),
        (lambda p: optim.Adam(p, amsgrad="yes"), "amsgrad"),
        (lambda p: optim.AdamW(p, maximize=None), "maximize"),
    ],
)
def test_flags_that_are_not_booleans_are_refused_by_name(
    make: Callable[[Any], Any], flag: str
) -> None:
    with pytest.raises(TypeError, match=f"{flag} must be True or False"):
        make([nn.Parameter(np.zeros(2))])


@pytest.mark.parametrize(
    ("make", "options"),
    [
        (lambda p: optim.SGD(p, lr=0.1, momentum=0.9), {"maximize": False}),
        (lambda p: optim.Adam(p, lr=0.1), {"amsgrad": False, "maximize": False}),
    ],
    ids=["sgd", "adam"],
)
def test_a_state_saved_before_maximize_and_amsgrad_existed_loads_with_them_off(
    make: Callable[[Any], Any], options: dict[str, bool]
) -> None:
    # As torch's Optimizer.__setstate__, which fills in options newer than a checkpoint.
    param = nn.Parameter(np.zeros(2))
    saved = make([param]).state_dict()
    for group in saved["param_groups"]:
        for key in options:
            del group[key]
    flipped = make([param])
    flipped.param_groups[0].update(dict.fromkeys(options, True))
    flipped.load_state_dict(saved)
    assert {key: flipped.param_groups[0][key] for key in options} == options
