"""Tensors that hold arrays of other libraries than NumPy (issue 16): the op table run through
Tensors built from array_api_strict arrays (values and gradients as on NumPy, kept in the
library), the tutorial network and an nn model trained on array_api_strict and JAX arrays as
on NumPy, moving tensors and modules between devices, and the errors for mixed devices.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from engine_cases import CASES, OpCase, op_inputs, relative_error
from hypothesis import Phase, find, settings

import chainrule as cr
from chainrule import nn, optim
from chainrule.placement import Device

strict = pytest.importorskip("array_api_strict")
jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = pytest.importorskip("jax.numpy")

OTHER_DEVICE = strict.Device("device1")

TUTORIAL_OPS = {"matmul", "add", "relu", "sub", "pow_scalar", "mean"}
MODEL_OPS = {"linear", "matmul", "add", "relu", "sub", "pow_scalar", "mean"}
TRAIN_OPS = {"linear", "relu", "cross_entropy"}
LINEAR_OPS = {"linear", "sub", "pow_scalar", "mean"}


# --------------------------------------------------------------------- the op table
VARIANTS = 3
"""Variants tried per case: the first three (0-d, broadcast and reduced forms come first);
every variant's rules run on array_api_strict in test_rules_on_array_backends."""


def _drawn(case: OpCase) -> list[tuple[list[np.ndarray], dict[str, Any]]]:
    """One drawn example (input arrays, params) for each of the first VARIANTS variants."""
    examples = []
    for variant in case.variants[:VARIANTS]:
        examples.append(
            find(
                op_inputs(replace(case, variants=[variant])),
                lambda _: True,
                settings=settings(max_examples=1, database=None, phases=[Phase.generate]),
            )
        )
    return examples


def _run(case: OpCase, arrays: list[Any], params: dict[str, Any]) -> tuple[Any, list[Any]]:
    """case.chainrule on leaf Tensors of `arrays`, and backward from a seed of ones when the
    output is a float that requires grad: the output Tensor and the inputs' gradients."""
    inputs = [cr.tensor(array, requires_grad=True) for array in arrays]
    output = case.chainrule(*inputs, **params)
    if not (output.requires_grad and output.dtype.kind == "f"):
        return output, []
    seed = np.ones(output.shape, output.dtype)
    output.backward(cr.tensor(seed).to(output.device))
    return output, [tensor.grad for tensor in inputs]


def _assert_close(what: str, theirs: Any, ours: Any, device: Any) -> None:
    assert theirs.device == device, f"{what} left the inputs' device: {theirs.device}"
    actual, expected = theirs.numpy(), ours.numpy()
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype} != {expected.dtype}"
    if expected.dtype.kind in "biu":
        np.testing.assert_array_equal(actual, expected, err_msg=what)
        return
    finite = np.isfinite(expected)
    np.testing.assert_array_equal(np.isfinite(actual), finite, err_msg=what)
    tolerance = {8: 1e-11, 4: 1e-5, 2: 2e-3}[expected.dtype.itemsize]
    error = relative_error(np.where(finite, actual, 0), np.where(finite, expected, 0))
    assert error <= tolerance, f"{what}: relative error {error:.2e} > {tolerance}"


@pytest.mark.parametrize(
    "where",
    [
        pytest.param(None, id="default-device"),
        # Off the default device, every array an op makes for itself (index arrays, masks,
        # ones, zeros) must be made there: array_api_strict refuses to mix devices.
        pytest.param(OTHER_DEVICE, id="device1"),
    ],
)
@pytest.mark.parametrize(
    "case",
    [pytest.param(case, id=case.name) for case in CASES],
)
def test_each_op_on_tensors_of_array_api_strict_arrays_computes_as_on_numpy(
    case: OpCase, where: Any
) -> None:
    for arrays, params in _drawn(case):
        ours, our_grads = _run(case, arrays, params)
        theirs, their_grads = _run(
            case, [strict.asarray(array, device=where) for array in arrays], params
        )
        device = cr.tensor(strict.asarray(0.0, device=where)).device
        _assert_close(f"{case.name}: output", theirs, ours, device)
        assert len(their_grads) == len(our_grads)
        for position, (their_grad, our_grad) in enumerate(zip(their_grads, our_grads, strict=True)):
            assert (their_grad is None) == (our_grad is None), f"{case.name}: gradient {position}"
            if our_grad is not None:
                _assert_close(f"{case.name}: gradient {position}", their_grad, our_grad, device)


# --------------------------------------------------------------------- training
def _tutorial_losses(to_library: Callable[[np.ndarray], Any], steps: int = 20) -> list[float]:
    """The tutorial network (u1 = x w1 + b1, relu, u2 w2 + b2, mean squared error) trained
    `steps` SGD steps in float64 on arrays made by `to_library`: the loss of each step."""
    rng = np.random.default_rng(16)
    x, y = rng.normal(size=(32, 8)), rng.normal(size=(32, 3))
    shapes = {"w1": (8, 16), "b1": (16,), "w2": (16, 3), "b2": (3,)}
    params = {
        name: cr.tensor(to_library(rng.normal(size=shape) * 0.3), requires_grad=True)
        for name, shape in shapes.items()
    }
    inputs, targets = cr.tensor(to_library(x)), cr.tensor(to_library(y))
    optimizer = optim.SGD(list(params.values()), lr=0.05)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        hidden = (inputs @ params["w1"] + params["b1"]).relu()
        loss = ((targets - (hidden @ params["w2"] + params["b2"])) ** 2).mean()
        loss.backward()
        optimizer.step()
        assert loss.device == inputs.device
        assert all(param.grad.device == inputs.device for param in params.values())
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize(
    "library",
    [
        pytest.param(strict, id="array_api_strict"),
        pytest.param(jnp, id="jax"),
    ],
)
def test_the_tutorial_network_trains_on_other_libraries_as_on_numpy(library: Any) -> None:
    expected = _tutorial_losses(np.asarray)
    losses = _tutorial_losses(library.asarray)
    assert relative_error(np.array(losses), np.array(expected)) <= 1e-12
    assert expected[-1] < expected[0]


def _model_losses(device: Any, steps: int = 10) -> tuple[list[float], dict[str, np.ndarray]]:
    """nn.Sequential(Linear, ReLU, Linear) in float64 with Adam, moved to `device` after the
    optimizer was built (its state follows the parameters): losses and final state."""
    rng = np.random.default_rng(5)
    model = nn.Sequential(
        nn.Linear(6, 12, rng=rng, dtype=np.float64),
        nn.ReLU(),
        nn.Linear(12, 2, rng=rng, dtype=np.float64),
    )
    optimizer = optim.Adam(model.parameters(), lr=0.01)
    model.to(device)
    x = cr.tensor(rng.normal(size=(16, 6))).to(device)
    y = cr.tensor(rng.normal(size=(16, 2))).to(device)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses, model.state_dict()


@pytest.mark.parametrize(
    "device",
    [
        pytest.param(strict, id="array_api_strict"),
        pytest.param(OTHER_DEVICE, id="array_api_strict-device1"),
        pytest.param(jnp, id="jax"),
    ],
)
def test_a_module_moved_with_to_trains_with_adam_as_on_numpy(device: Any) -> None:
    expected, expected_state = _model_losses("cpu")
    losses, state = _model_losses(device)
    assert relative_error(np.array(losses), np.array(expected)) <= 1e-12
    for name, values in expected_state.items():
        assert type(state[name]) is np.ndarray
        assert relative_error(state[name], values) <= 1e-12, name


@pytest.mark.parametrize(
    "device",
    [
        pytest.param(OTHER_DEVICE, id="array_api_strict"),
        pytest.param(jnp, id="jax"),
    ],
)
def test_the_training_engine_on_another_device_takes_the_cpus_steps(device: Any) -> None:
    # What `chainrule train --device cuda` runs, on a device this machine has.
    from chainrule.train.engines import AutogradEngine

    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(24, 6)), rng.integers(0, 3, size=24)
    losses: dict[str, list[float]] = {}
    for where in ("cpu", device):
        model = nn.Sequential(
            nn.Linear(6, 8, rng=np.random.default_rng(1), dtype=np.float64),
            nn.ReLU(),
            nn.Linear(8, 3, rng=np.random.default_rng(2), dtype=np.float64),
        )
        engine = AutogradEngine(model, device=where)
        optimizer = optim.Adam(engine.parameters(), lr=0.01)
        losses[str(where)] = [engine.train_step(x, y, optimizer) for _ in range(5)]
        assert engine.logits(x).shape == (24, 3)
    expected, actual = losses.values()
    assert relative_error(np.array(actual), np.array(expected)) <= 1e-12


@pytest.mark.parametrize(
    "device",
    [
        pytest.param(OTHER_DEVICE, id="array_api_strict"),
        pytest.param(jnp, id="jax"),
    ],
)
def test_a_module_moved_there_and_back_keeps_training_with_its_optimizer(device: Any) -> None:
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(10, 4)), rng.normal(size=(10, 1))
    losses = {}
    for route in (("cpu", "cpu"), (device, "cpu")):
        model = nn.Linear(4, 1, rng=np.random.default_rng(9), dtype=np.float64)
        optimizer = optim.Adam(model.parameters(), lr=0.05)
        steps = []
        for where in route:
            model.to(where)
            for _ in range(3):
                optimizer.zero_grad()
                loss = ((model(cr.tensor(x).to(where)) - cr.tensor(y).to(where)) ** 2).mean()
                loss.backward()
                optimizer.step()
                steps.append(loss.item())
        assert model.weight.device == "cpu"
        losses[route[0] == "cpu"] = steps
    assert relative_error(np.array(losses[False]), np.array(losses[True])) <= 1e-12


# --------------------------------------------------------------------- devices
def test_a_tensor_keeps_an_array_api_strict_array_in_its_library_and_dtype() -> None:
    values = strict.asarray([1.0, 2.0], dtype=strict.float32)
    tensor = cr.tensor(values)
    assert tensor.data is values  # shared, as a NumPy float array is
    assert tensor.dtype == np.float32
    assert tensor.device == "array_api_strict:CPU_DEVICE"
    assert "device='array_api_strict:CPU_DEVICE'" in repr(tensor)


def test_integer_arrays_of_another_library_become_float32_there_as_numpy_ones_do() -> None:
    tensor = cr.tensor(jnp.asarray([1, 2, 3]))
    assert tensor.dtype == np.float32
    assert tensor.device == cr.tensor(jnp.asarray(0.0)).device
    np.testing.assert_array_equal(tensor.numpy(), [1.0, 2.0, 3.0])


def test_numpy_of_a_foreign_tensor_is_a_copy_and_cpu_gives_a_numpy_tensor() -> None:
    tensor = cr.tensor(strict.asarray([1.0, 2.0]))
    values = tensor.numpy()
    values[0] = 5.0
    assert type(values) is np.ndarray
    assert tensor.numpy()[0] == 1.0
    on_cpu = tensor.cpu()
    assert type(on_cpu.data) is np.ndarray
    assert on_cpu.device == "cpu"


def test_to_moves_between_libraries_and_devices_and_back() -> None:
    # PyTorch test_tensor's test_to: a tensor moved where it already is is returned itself.
    tensor = cr.tensor(np.array([1.5, -2.0]), requires_grad=True, name="w")
    moved = tensor.to(OTHER_DEVICE)
    assert moved.device == "array_api_strict:device1"
    assert (moved.requires_grad, moved.name, moved.is_leaf) == (True, "w", True)
    assert moved.to(jnp).device == cr.tensor(jnp.asarray(0.0)).device
    back = moved.to("cpu")
    np.testing.assert_array_equal(back.numpy(), [1.5, -2.0])
    assert back.to(back.device) is back


def test_to_another_tensors_device_puts_it_beside_that_tensor() -> None:
    there = cr.tensor(strict.asarray([1.0])).to(OTHER_DEVICE)
    here = cr.tensor(np.array([2.0])).to(there.device)
    assert here.device == there.device
    np.testing.assert_array_equal((here * there).numpy(), [2.0])


def test_detach_and_grad_stay_in_the_tensors_library() -> None:
    # PyTorch test_autograd's device checks: a leaf's .grad lives on the leaf's device, and
    # a second backward accumulates into it there.
    tensor = cr.tensor(strict.asarray([1.0, 3.0]), requires_grad=True)
    product = tensor * tensor
    product.backward(cr.tensor(strict.asarray([1.0, 1.0])))
    assert tensor.grad is not None
    assert tensor.grad.device == tensor.device
    np.testing.assert_array_equal(tensor.grad.numpy(), [2.0, 6.0])
    assert tensor.detach().device == tensor.device
    (tensor * tensor).backward(cr.tensor(strict.asarray([1.0, 1.0])))
    np.testing.assert_array_equal(tensor.grad.numpy(), [4.0, 12.0])  # accumulated


def test_an_op_on_tensors_of_two_devices_names_both() -> None:
    # PyTorch test_tensor / test_cuda: an op on a cuda:0 and a cpu tensor raises "Expected
    # all tensors to be on the same device", naming both; here two array_api_strict devices.
    here = cr.tensor(strict.asarray([1.0, 2.0]))
    there = here.to(OTHER_DEVICE)
    with pytest.raises(TypeError, match=r"mul: .*same device.*CPU_DEVICE and .*device1"):
        here * there


# Libraries, not arrays: a JAX array made while collecting would start JAX's threads before
# the tests that fork.
@pytest.mark.parametrize("library", [pytest.param(np, id="numpy"), pytest.param(jnp, id="jax")])
def test_an_op_on_a_foreign_tensor_and_another_librarys_names_both(library: Any) -> None:
    mine = cr.tensor(strict.asarray([1.0, 2.0]))
    with pytest.raises(TypeError, match=r"mul: .*same device.*array_api_strict:CPU_DEVICE and"):
        mine * cr.tensor(library.ones(2))


@pytest.mark.parametrize(
    "move",
    [
        pytest.param(lambda t: t.to(jnp), id="jax"),
        pytest.param(lambda t: t.to(OTHER_DEVICE), id="array_api_strict-device1"),
    ],
)
def test_an_op_on_a_numpy_tensor_and_a_foreign_one_names_both(
    move: Callable[[Any], Any],
) -> None:
    # With NumPy's tensor first the op runs NumPy's rule: JAX answers it (caught from the
    # result), CuPy and array_api_strict's other devices refuse NumPy's conversion (caught
    # from the error). array_api_strict's own CPU device alone lets NumPy read it silently.
    numpy_tensor = cr.tensor(np.array([1.0, 2.0]))
    with pytest.raises(TypeError, match=r"mul: .*same device.*cpu and"):
        numpy_tensor * move(cr.tensor(np.array([3.0, 4.0])))


def test_numbers_and_numpy_constants_beside_a_foreign_tensor_are_made_there() -> None:
    mine = cr.tensor(jnp.asarray([1.0, 2.0]))
    for operand in (2.0, [2.0, 2.0], np.array([2.0, 2.0])):
        doubled = mine * operand
        assert doubled.device == mine.device
        np.testing.assert_array_equal(doubled.numpy(), [2.0, 4.0])


def test_gradients_of_gradients_stay_on_the_foreign_device() -> None:
    # HIPS autograd's test_grad_of_grad idea (d2/dx2 of x**3 is 6x), on array_api_strict.
    x = cr.tensor(strict.asarray([1.0, -2.0]), requires_grad=True)
    ones = cr.tensor(strict.asarray([1.0, 1.0]))
    (x * x * x).backward(ones, create_graph=True)
    first = x.grad
    assert first is not None
    assert first.device == x.device
    np.testing.assert_array_equal(first.numpy(), [3.0, 12.0])
    x.grad = None
    first.backward(ones)
    second = x.grad
    assert second is not None
    assert second.device == x.device
    np.testing.assert_array_equal(second.numpy(), [6.0, -12.0])


def test_to_a_device_that_is_not_there_says_what_to_install() -> None:
    with pytest.raises(RuntimeError, match=r"CuPy .*pip install 'chainrule\[cuda\]'|no CUDA GPU"):
        cr.tensor([1.0]).to("cuda")


def test_to_an_unknown_device_name_lists_the_accepted_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown device 'tpu'.*'cpu', 'cuda' or 'cuda:N'"):
        cr.tensor([1.0]).to("tpu")


def test_to_refuses_a_computed_tensor_whose_gradient_would_stop() -> None:
    # Deliberately unlike PyTorch, where .to() is recorded: the move is not an op here.
    leaf = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match="move the inputs before computing"):
        (leaf * 2.0).to(strict)


def test_device_compares_equal_to_its_name_and_to_an_equal_device() -> None:
    # PyTorch test_tensor's device tests: torch.device("cpu") == "cpu"-made device.
    assert cr.tensor([1.0]).device == "cpu"
    assert cr.tensor([1.0]).device == Device("numpy")
    assert cr.tensor([1.0]).device != cr.tensor(strict.asarray([1.0])).device
    assert str(cr.tensor(strict.asarray([1.0])).to(OTHER_DEVICE).device) == (
        "array_api_strict:device1"
    )


def test_module_to_keeps_each_parameter_object_and_moves_its_grad() -> None:
    # PyTorch test_nn's Module.to: it returns the module itself, and (without
    # overwrite_module_params_on_conversion) each Parameter stays the same object.
    model = nn.Linear(3, 2, dtype=np.float64)
    weight = model.weight
    weight.grad = cr.tensor(np.ones((3, 2)))
    assert model.to(OTHER_DEVICE) is model
    assert model.weight is weight
    assert weight.device == "array_api_strict:device1"
    assert weight.grad is not None
    assert weight.grad.device == weight.device
    assert model.to("cpu").weight.device == "cpu"


def test_state_dict_of_a_moved_model_loads_into_a_numpy_model_and_back() -> None:
    source = nn.Linear(4, 3, rng=np.random.default_rng(1), dtype=np.float64).to(OTHER_DEVICE)
    state = source.state_dict()
    assert all(type(values) is np.ndarray for values in state.values())
    target = nn.Linear(4, 3, rng=np.random.default_rng(2), dtype=np.float64)
    target.load_state_dict(state)
    np.testing.assert_array_equal(target.weight.numpy(), source.weight.numpy())
    other = nn.Linear(4, 3, rng=np.random.default_rng(3), dtype=np.float64).to(jnp)
    other.load_state_dict(state)
    assert other.weight.device == cr.tensor(jnp.asarray(0.0)).device  # loaded where it is
    np.testing.assert_array_equal(other.bias.numpy(), source.bias.numpy())


def test_an_optimizer_state_dict_of_foreign_parameters_holds_numpy_copies() -> None:
    weight = cr.tensor(jnp.asarray([1.0, -1.0]), requires_grad=True)
    optimizer = optim.Adam([weight], lr=0.1)
    weight.grad = cr.tensor(jnp.asarray([0.5, 0.5]))
    optimizer.step()
    saved = optimizer.state_dict()["state"][0]
    assert type(saved["exp_avg"]) is np.ndarray
    assert weight.device == cr.tensor(jnp.asarray(0.0)).device


OPTIMIZERS: dict[str, Callable[[list[Any]], optim.Optimizer]] = {
    "sgd": lambda params: optim.SGD(params, lr=0.1, weight_decay=0.01),
    "nesterov": lambda params: optim.SGD(params, lr=0.1, momentum=0.9, nesterov=True),
    "dampening": lambda params: optim.SGD(params, lr=0.1, momentum=0.9, dampening=0.5),
    "adam": lambda params: optim.Adam(params, lr=0.1, weight_decay=0.01),
    "adamw": lambda params: optim.AdamW(params, lr=0.1),
}


def _three_steps(optimizer: str, to_library: Callable[[np.ndarray], Any]) -> np.ndarray:
    rng = np.random.default_rng(3)
    param = cr.tensor(to_library(rng.normal(size=(3, 4))), requires_grad=True)
    stepper = OPTIMIZERS[optimizer]([param])
    for _ in range(3):
        param.grad = cr.tensor(to_library(rng.normal(size=(3, 4))))
        stepper.step()
    assert param.device == cr.tensor(to_library(np.zeros(1))).device
    return param.numpy()


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_optimizers_update_foreign_parameters_bit_for_bit_as_numpy_ones(optimizer: str) -> None:
    # array_api_strict computes with NumPy's arithmetic: the same operations in the same
    # order give the same bits.
    expected = _three_steps(optimizer, np.asarray)
    np.testing.assert_array_equal(_three_steps(optimizer, strict.asarray), expected)


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_optimizers_update_jax_parameters_as_numpy_ones_to_rounding(optimizer: str) -> None:
    # XLA divides by a scalar as a multiplication by its reciprocal: within an ulp or so.
    expected = _three_steps(optimizer, np.asarray)
    assert relative_error(_three_steps(optimizer, jnp.asarray), expected) <= 1e-15


@pytest.mark.parametrize(
    "change",
    [
        lambda t: t.add_(1.0),
        lambda t: t.mul_(2.0),
        lambda t: t.zero_(),
        lambda t: t.__setitem__(0, 2.0),
        lambda t: t.__isub__(0.5),
    ],
    ids=["add_", "mul_", "zero_", "setitem", "-="],
)
@pytest.mark.parametrize("library", ["array_api_strict", "jax"])
def test_in_place_change_of_a_foreign_tensor_is_refused_by_name(
    change: Callable[[Any], Any], library: str
) -> None:
    # found by fuzzing: an AttributeError ('Array' object has no attribute 'flags') came out
    values = strict.asarray(np.ones(3)) if library == "array_api_strict" else jnp.ones(3)
    t = cr.tensor(values)
    with pytest.raises(TypeError, match=rf"in-place changes need a NumPy .* live in {library}"):
        change(t)
    np.testing.assert_array_equal(t.numpy(), np.ones(3))


@pytest.mark.parametrize(
    "combine",
    [
        lambda numpy_tensor, x: numpy_tensor + x,
        lambda numpy_tensor, x: numpy_tensor * x,
        lambda numpy_tensor, x: cr.stack([numpy_tensor, x]),
        lambda numpy_tensor, x: cr.where(np.array([True, False]), numpy_tensor, x),
    ],
    ids=["add", "mul", "stack", "where"],
)
@pytest.mark.parametrize("library", ["array_api_strict", "jax"])
def test_a_numpy_tensor_first_beside_a_foreign_one_is_refused_naming_both(
    combine: Callable[[Any, Any], Any], library: str
) -> None:
    # found by fuzzing: with the NumPy tensor first, NumPy read the other through __array__
    # and the result silently moved to the CPU (the other order was refused, as documented)
    values = strict.asarray(np.ones(2)) if library == "array_api_strict" else jnp.ones(2)
    x = cr.tensor(values, requires_grad=True)
    with pytest.raises(TypeError, match=rf"expected all tensors on the same device.*{library}"):
        combine(cr.tensor(np.array([2.0, 1.0], dtype=np.float32)), x)


@pytest.mark.parametrize("order", ["int first", "bool first"])
def test_an_integer_beside_a_bool_tensor_on_array_api_strict_promotes_as_numpy(order: str) -> None:
    # found by fuzzing: array_api_strict has no arithmetic on bools, so int * bool raised its
    # own "Only numeric dtypes are allowed in __mul__"; NumPy and PyTorch give the integer
    flags = np.array([True, False, True])
    counts = np.array([3, 4, 5], dtype=np.int8)
    b = cr.tensor(strict.asarray(flags), dtype=np.bool_)
    i = cr.tensor(strict.asarray(counts), dtype=np.int8)
    out = i * b if order == "int first" else b * i
    assert out.dtype == np.int8
    assert out.device == cr.tensor(strict.asarray(counts), dtype=np.int8).device
    np.testing.assert_array_equal(out.numpy(), counts * flags)


@pytest.mark.parametrize(
    "device",
    [pytest.param(OTHER_DEVICE, id="array_api_strict-device1"), pytest.param(jnp, id="jax")],
)
def test_indices_masks_and_one_hot_rows_stay_on_the_inputs_device_as_torchs(device: Any) -> None:
    # They came back as NumPy tensors on the cpu, so `x.argmax(1) + x[:, 0]` or
    # `one_hot(t, 3) * x` was refused as a mix of devices; torch keeps them on x's device.
    values = np.array([[0.5, 3.0, 3.0, -1.0], [2.0, 0.0, 7.0, 7.0]])
    x = cr.tensor(values).to(device)
    there = x.data  # the targets built in x's library, on its device
    targets = cr.tensor(
        jnp.asarray([3, 1]) if device is jnp else strict.asarray([3, 1], device=there.device),
        dtype=np.int64,
    )
    results = {
        "argmax": (x.argmax(axis=1), np.argmax(values, axis=1)),
        "argmin": (x.argmin(), np.argmin(values)),
        "argsort": (x.argsort(axis=1, descending=True), [[1, 2, 0, 3], [2, 3, 0, 1]]),
        "topk": (x.topk(2)[1], [[1, 2], [2, 3]]),
        "any": (x.any(axis=1), np.any(values, axis=1)),
        "all": (x.all(), np.all(values)),
        "one_hot": (cr.one_hot(targets, 4), np.eye(4, dtype=np.float32)[[3, 1]]),
    }
    for name, (result, expected) in results.items():
        assert result.device == x.device, name
        np.testing.assert_array_equal(result.numpy(), np.asarray(expected), err_msg=name)
    np.testing.assert_array_equal((x.argmax(axis=1) + x[:, 0]).numpy(), [1.5, 4.0])
    np.testing.assert_array_equal((cr.one_hot(targets, 4) * x).numpy().sum(axis=1), [-1.0, 0.0])


@pytest.mark.parametrize("dtype", [np.int64, np.int8, np.bool_])
@pytest.mark.parametrize(
    "device",
    [pytest.param(OTHER_DEVICE, id="array_api_strict-device1"), pytest.param(jnp, id="jax")],
)
def test_to_and_cpu_keep_an_integer_or_bool_tensors_dtype_as_torch(device: Any, dtype: Any) -> None:
    # Moved arrays were wrapped as new data, whose integers Tensor() makes float32.
    values = np.array([3, 0, 1]).astype(dtype)
    moved = cr.tensor(values, dtype=dtype).to(device)
    assert moved.dtype == dtype
    back = moved.cpu()
    assert back.dtype == dtype
    np.testing.assert_array_equal(back.numpy(), values)


@pytest.mark.parametrize("loss", ["CrossEntropyLoss", "NLLLoss"])
def test_a_weighted_loss_module_moved_off_the_default_device_computes_as_torch(loss: str) -> None:
    # Module.to moves the class weights (a buffer) to device1, where np.asarray cannot read
    # them: the loss failed with array_api_strict's "Can't convert array" error.
    torch = pytest.importorskip("torch")
    values = np.random.default_rng(5).normal(size=(4, 3))
    targets = np.array([0, 1, 2, 0])
    module = getattr(nn, loss)(weight=np.array([1.0, 2.0, 0.5])).to(OTHER_DEVICE)
    x = cr.tensor(values).to(OTHER_DEVICE).requires_grad_()
    out = module(x, targets)
    out.backward()
    reference = getattr(torch.nn, loss)(weight=torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64))
    t = torch.tensor(values, requires_grad=True)
    expected = reference(t, torch.from_numpy(targets))
    expected.backward()
    assert out.device == x.device
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-12)
    assert x.grad is not None
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda f, x, t, p: f.cross_entropy(x, t), id="cross_entropy-indices"),
        pytest.param(lambda f, x, t, p: f.cross_entropy(x, p), id="cross_entropy-probabilities"),
        pytest.param(lambda f, x, t, p: f.nll_loss(x, t), id="nll_loss"),
        pytest.param(lambda f, x, t, p: f.embedding(t, x), id="embedding"),
    ],
)
def test_raw_targets_and_indices_on_device1_are_read_as_numpy_ones(call: Any) -> None:
    # np.asarray cannot read an array off array_api_strict's default device: plain arrays of
    # targets or indices there failed with "Can't convert array", where Tensors of them ran.
    from chainrule import functional

    values = np.random.default_rng(6).normal(size=(4, 3))
    indices, probabilities = np.array([0, 1, 2, 0]), np.full((4, 3), 1 / 3)
    x = cr.tensor(values).to(OTHER_DEVICE).requires_grad_()
    there = (
        strict.asarray(indices, device=OTHER_DEVICE),
        strict.asarray(probabilities, device=OTHER_DEVICE),
    )
    out = call(functional, x, *there)
    out.sum().backward()
    reference = cr.tensor(values, requires_grad=True)
    expected = call(functional, reference, indices, probabilities)
    expected.sum().backward()
    assert out.device == x.device
    np.testing.assert_allclose(out.numpy(), expected.numpy(), rtol=1e-12)
    assert x.grad is not None
    assert reference.grad is not None
    np.testing.assert_allclose(x.grad.numpy(), reference.grad.numpy(), rtol=1e-12)
