"""Flat parameter buffers (`Module.flatten_parameters`) and the multi-tensor optimizer step
over them: bit-identical to the per-parameter step, state_dict unchanged, checkpoints
written before flat buffers existed still resume."""

from __future__ import annotations

import gc
import json
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import chainrule
from chainrule import nn, optim
from chainrule.nn.flat import buffer_of
from chainrule.tensor import Tensor

FIXTURES = Path(__file__).parent / "fixtures"

OPTIMIZERS: dict[str, Callable[[Any], optim.Optimizer]] = {
    "sgd": lambda groups: optim.SGD(groups, lr=0.05),
    "sgd-weight-decay": lambda groups: optim.SGD(groups, lr=0.05, weight_decay=1e-2),
    "sgd-momentum": lambda groups: optim.SGD(groups, lr=0.05, momentum=0.9),
    "sgd-dampening": lambda groups: optim.SGD(groups, lr=0.05, momentum=0.5, dampening=0.3),
    "sgd-nesterov-weight-decay": lambda groups: optim.SGD(
        groups, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3
    ),
    "adam": lambda groups: optim.Adam(groups, lr=3e-3),
    "adam-l2": lambda groups: optim.Adam(groups, lr=3e-3, weight_decay=1e-2),
    "adamw": lambda groups: optim.AdamW(groups, lr=3e-3, weight_decay=0.1),
    "sgd-maximize": lambda groups: optim.SGD(groups, lr=0.05, maximize=True),
    "sgd-maximize-momentum-decay": lambda groups: optim.SGD(
        groups, lr=0.05, momentum=0.9, weight_decay=1e-2, maximize=True
    ),
    "adam-amsgrad-maximize-l2": lambda groups: optim.Adam(
        groups, lr=3e-3, weight_decay=1e-2, amsgrad=True, maximize=True
    ),
    "adamw-amsgrad": lambda groups: optim.AdamW(groups, lr=3e-3, weight_decay=0.1, amsgrad=True),
}


def _model(dtype: Any = np.float64) -> nn.Sequential:
    rng = np.random.default_rng(3)
    return nn.Sequential(
        nn.Linear(5, 4, rng=rng, dtype=dtype), nn.ReLU(), nn.Linear(4, 3, rng=rng, dtype=dtype)
    )


def _groups(model: nn.Module) -> list[dict[str, Any]]:
    """Two parameter groups with different learning rates."""
    params = list(model.parameters())
    return [{"params": params[:2]}, {"params": params[2:], "lr": 0.01}]


def _train(model: nn.Module, optimizer: optim.Optimizer, steps: int, dtype: Any) -> None:
    rng = np.random.default_rng(8)
    inputs = Tensor(rng.standard_normal((6, 5)).astype(dtype))
    targets = Tensor(rng.standard_normal((6, 3)).astype(dtype))
    for _ in range(steps):
        optimizer.zero_grad()
        ((model(inputs) - targets) ** 2).mean().backward()
        optimizer.step()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_flat_step_is_bit_identical_to_per_parameter_step_over_100_steps(
    name: str, dtype: Any
) -> None:
    per_parameter, flat = _model(dtype), _model(dtype)
    flat.flatten_parameters()
    per_parameter_optimizer = OPTIMIZERS[name](_groups(per_parameter))
    flat_optimizer = OPTIMIZERS[name](_groups(flat))
    steps = 20 if "maximize" in name else 100  # ascending the loss overflows float32 later
    _train(per_parameter, per_parameter_optimizer, steps, dtype)
    _train(flat, flat_optimizer, steps, dtype)
    for expected, got in zip(per_parameter.parameters(), flat.parameters(), strict=True):
        assert got.dtype == expected.dtype == dtype
        np.testing.assert_array_equal(got.data, expected.data)
    expected_state = per_parameter_optimizer.state_dict()
    got_state = flat_optimizer.state_dict()
    assert got_state["param_groups"] == expected_state["param_groups"]
    assert got_state["state"].keys() == expected_state["state"].keys()
    for index, entries in expected_state["state"].items():
        assert got_state["state"][index].keys() == entries.keys()
        for key, value in entries.items():
            np.testing.assert_array_equal(got_state["state"][index][key], value)


def test_flat_step_keeps_each_parameters_state_as_a_slice_of_one_array() -> None:
    model = _model()
    model.flatten_parameters()
    params = list(model.parameters())
    optimizer = optim.Adam(params, lr=1e-3)
    _train(model, optimizer, 2, np.float64)
    bases = {id(optimizer.state[param]["exp_avg"].base) for param in params}
    assert len(bases) == 1
    assert optimizer.state[params[0]]["step"] == 2


def test_backward_writes_gradients_into_the_flat_gradient_buffer() -> None:
    model = _model()
    (buffer,) = model.flatten_parameters()
    params = list(model.parameters())
    (model(Tensor(np.ones((2, 5)))) ** 2).sum().backward()
    for param, (start, stop) in zip(params, buffer.bounds, strict=True):
        assert param.grad is not None
        assert param.grad.shape == param.shape
        assert np.shares_memory(param.grad.data, buffer.grad)
        np.testing.assert_array_equal(buffer.grad[start:stop], param.grad.data.reshape(-1))


def test_flatten_keeps_values_and_makes_data_views_of_one_array() -> None:
    model = _model(np.float32)
    before = {name: param.data.copy() for name, param in model.named_parameters()}
    (buffer,) = model.flatten_parameters()
    assert buffer.data.dtype == np.float32
    assert buffer.data.shape == (sum(value.size for value in before.values()),)
    for name, param in model.named_parameters():
        np.testing.assert_array_equal(param.data, before[name])
        assert np.shares_memory(param.data, buffer.data)


def test_parameters_of_two_dtypes_get_one_buffer_each() -> None:
    model = nn.Sequential(nn.Linear(3, 2, dtype=np.float32), nn.Linear(2, 2, dtype=np.float64))
    buffers = model.flatten_parameters()
    assert [buffer.data.dtype for buffer in buffers] == [np.float32, np.float64]


def test_parameter_given_new_data_leaves_the_buffer_and_is_still_updated_identically() -> None:
    per_parameter, flat = _model(), _model()
    flat.flatten_parameters()
    for model in (per_parameter, flat):
        model[0].weight.data = model[0].weight.data.copy()
    assert buffer_of(flat[0].weight) is not None
    assert not np.shares_memory(flat[0].weight.data, buffer_of(flat[0].weight).data)
    optimizers = [optim.Adam(_groups(model), lr=1e-2) for model in (per_parameter, flat)]
    _train(per_parameter, optimizers[0], 5, np.float64)
    _train(flat, optimizers[1], 5, np.float64)
    for expected, got in zip(per_parameter.parameters(), flat.parameters(), strict=True):
        np.testing.assert_array_equal(got.data, expected.data)


def test_load_state_dict_copies_into_the_flat_buffer() -> None:
    source, target = _model(), _model()
    for param in source.parameters():
        param.data = param.data + 1.0
    (buffer,) = target.flatten_parameters()
    target.load_state_dict(source.state_dict())
    for expected, got in zip(source.parameters(), target.parameters(), strict=True):
        np.testing.assert_array_equal(got.data, expected.data)
        assert np.shares_memory(got.data, buffer.data)


def _pre_flat_checkpoint(
    name: str,
) -> tuple[dict[str, np.ndarray], dict[str, Any], dict[str, np.ndarray]]:
    """(model state, optimizer state_dict, parameters after 3 resumed steps) as the code
    before flat buffers wrote and computed them (fixtures/make_pre_flat_checkpoint.py.txt)."""
    arrays = dict(np.load(FIXTURES / "pre_flat_checkpoint.npz"))
    meta = json.loads((FIXTURES / "pre_flat_checkpoint.json").read_text())[name]
    state: dict[str, dict[str, Any]] = {
        index: dict(entries) for index, entries in meta["state"].items()
    }
    for key, value in arrays.items():
        if key.startswith(f"{name}.state."):
            _, _, index, entry = key.split(".")
            state[index][entry] = value

    def part(kind: str) -> dict[str, np.ndarray]:
        prefix = f"{name}.{kind}."
        return {
            key[len(prefix) :]: value for key, value in arrays.items() if key.startswith(prefix)
        }

    return part("model"), {"state": state, "param_groups": meta["param_groups"]}, part("resumed")


CHECKPOINTED = {
    "sgd": lambda groups: optim.SGD(
        groups, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3
    ),
    "adam": lambda groups: optim.Adam(groups, lr=3e-3, weight_decay=1e-2),
    "adamw": lambda groups: optim.AdamW(groups, lr=3e-3, weight_decay=0.1),
}


@pytest.mark.parametrize("flat", [False, True], ids=["per-parameter", "flat"])
@pytest.mark.parametrize("name", list(CHECKPOINTED))
def test_checkpoint_written_before_flat_buffers_resumes_to_the_same_parameters(
    name: str, flat: bool
) -> None:
    model_state, optimizer_state, resumed = _pre_flat_checkpoint(name)
    model = _model()
    if flat:
        model.flatten_parameters()
    model.load_state_dict(model_state)
    optimizer = CHECKPOINTED[name](_groups(model))
    optimizer.load_state_dict(optimizer_state)
    _train(model, optimizer, 3, np.float64)
    got = model.state_dict()
    assert got.keys() == resumed.keys()
    for key, value in resumed.items():
        np.testing.assert_array_equal(got[key], value)


@pytest.mark.parametrize("owner", ["module", "optimizer"])
def test_zero_grad_without_set_to_none_fills_the_flat_gradient_buffer(owner: str) -> None:
    model = _model()
    (buffer,) = model.flatten_parameters()
    params = list(model.parameters())
    optimizer = optim.SGD(params, lr=0.1)
    (model(Tensor(np.ones((2, 5)))) ** 2).sum().backward()
    grads = [param.grad for param in params]
    (model if owner == "module" else optimizer).zero_grad(set_to_none=False)
    assert not buffer.grad.any()
    for param, grad in zip(params, grads, strict=True):
        assert param.grad is grad
        assert np.shares_memory(param.grad.data, buffer.grad)


def test_zero_grad_without_set_to_none_leaves_a_missing_gradient_missing() -> None:
    model = _model()
    model.flatten_parameters()
    model.zero_grad(set_to_none=False)
    assert all(param.grad is None for param in model.parameters())


def test_gradient_accumulates_in_the_flat_buffer_across_two_backwards() -> None:
    per_parameter, flat = _model(), _model()
    flat.flatten_parameters()
    for model in (per_parameter, flat):
        for _ in range(2):
            (model(Tensor(np.ones((2, 5)))) ** 2).sum().backward()
    for expected, got in zip(per_parameter.parameters(), flat.parameters(), strict=True):
        assert got.grad is not None
        assert expected.grad is not None
        np.testing.assert_array_equal(got.grad.data, expected.grad.data)


@pytest.mark.parametrize("name", ["sgd-nesterov-weight-decay", "adam", "adamw"])
def test_compiled_step_over_flat_buffers_equals_eager_per_parameter_step_bit_for_bit(
    name: str,
) -> None:
    eager, compiled = _model(), _model()
    (buffer,) = compiled.flatten_parameters()
    eager_optimizer = OPTIMIZERS[name](_groups(eager))
    compiled_optimizer = OPTIMIZERS[name](_groups(compiled))
    rng = np.random.default_rng(8)
    batches = [(rng.standard_normal((6, 5)), rng.standard_normal((6, 3))) for _ in range(6)]

    def step(inputs: np.ndarray, targets: np.ndarray) -> Tensor:
        compiled_optimizer.zero_grad()
        loss = ((compiled(Tensor(inputs)) - Tensor(targets)) ** 2).mean()
        loss.backward()
        compiled_optimizer.step()
        return loss

    replay = chainrule.compile(step)
    for inputs, targets in batches:
        eager_optimizer.zero_grad()
        expected = ((eager(Tensor(inputs)) - Tensor(targets)) ** 2).mean()
        expected.backward()
        eager_optimizer.step()
        assert replay(inputs, targets).item() == expected.item()
    for expected_param, got in zip(eager.parameters(), compiled.parameters(), strict=True):
        np.testing.assert_array_equal(got.data, expected_param.data)
        assert got.grad is not None
        assert np.shares_memory(got.grad.data, buffer.grad)


def test_a_dropped_model_frees_its_flat_buffers() -> None:
    model = _model()
    (buffer,) = model.flatten_parameters()
    (model(Tensor(np.ones((2, 5)))) ** 2).sum().backward()
    freed = weakref.ref(buffer)
    del model, buffer
    gc.collect()
    assert freed() is None


def test_amsgrads_running_maximum_is_kept_as_slices_of_one_flat_array() -> None:
    # The flat path runs amsgrad itself (no fall-back to one update per parameter).
    model = _model()
    model.flatten_parameters()
    optimizer = optim.Adam(model.parameters(), lr=3e-3, amsgrad=True)
    _train(model, optimizer, 2, np.float64)
    largest = [optimizer.state[param]["max_exp_avg_sq"] for param in model.parameters()]
    assert largest[0].base is not None
    assert all(array.base is largest[0].base for array in largest)


@pytest.mark.parametrize(
    ("make", "option", "switched_on"),
    [
        (lambda params: optim.SGD(params, lr=0.05), "momentum", 0.9),
        (lambda params: optim.Adam(params, lr=3e-3), "amsgrad", True),
    ],
    ids=["sgd-momentum", "adam-amsgrad"],
)
def test_an_option_switched_on_between_flat_steps_equals_the_per_parameter_steps(
    make: Callable[[Any], optim.Optimizer], option: str, switched_on: Any
) -> None:
    # Its new state array had no per-parameter views yet: the flat step failed with
    # KeyError 'momentum_buffer' after it had updated the parameters.
    per_parameter, flat = _model(), _model()
    flat.flatten_parameters()
    optimizers = [make(list(per_parameter.parameters())), make(list(flat.parameters()))]
    for model, optimizer in zip((per_parameter, flat), optimizers, strict=True):
        _train(model, optimizer, 2, np.float64)
        optimizer.param_groups[0][option] = switched_on
        _train(model, optimizer, 3, np.float64)
    for expected, got in zip(per_parameter.parameters(), flat.parameters(), strict=True):
        np.testing.assert_array_equal(got.data, expected.data)
