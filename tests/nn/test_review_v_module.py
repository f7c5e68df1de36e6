"""Review v: the Module API where it differed from torch.nn.Module without saying so."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from chainrule import nn


class FrozenBatchNorm(nn.BatchNorm1d):
    """A common pattern (detection backbones): a norm layer that stays in eval mode."""

    def train(self, mode: bool = True) -> FrozenBatchNorm:
        return super().train(False)


def test_train_on_a_parent_calls_each_childs_own_train() -> None:
    model = nn.Sequential(nn.Linear(3, 3), nn.Sequential(FrozenBatchNorm(3)))
    model.train()
    frozen = model[1][0]
    assert model.training
    assert model[1].training
    assert not frozen.training  # torch: the override is called, the flag stays False
    before = frozen.running_mean.copy()
    model(np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32))
    np.testing.assert_array_equal(frozen.running_mean, before)


def test_eval_then_train_reaches_every_module_through_overrides() -> None:
    calls: list[bool] = []

    class Recording(nn.Module):
        def train(self, mode: bool = True) -> Recording:
            calls.append(mode)
            return super().train(mode)

    model = nn.Sequential(nn.Sequential(Recording()), Recording())
    model.eval()
    model.train()
    assert calls == [False, False, True, True]
    assert all(module.training for module in model.modules())


def test_a_slice_of_sequential_keeps_the_names_of_its_modules() -> None:
    rng = np.random.default_rng(1)
    full = nn.Sequential(*(nn.Linear(3, 3, rng=rng) for _ in range(3)))
    tail = full[1:]
    # torch keeps the keys: "1.weight" of the slice is "1.weight" of the whole model
    assert [name for name, _ in tail.named_parameters()] == [
        "1.weight",
        "1.bias",
        "2.weight",
        "2.bias",
    ]
    fresh = nn.Sequential(*(nn.Linear(3, 3, rng=rng) for _ in range(3)))
    fresh[1:].load_state_dict(full.state_dict(), strict=False)
    np.testing.assert_array_equal(fresh[1].weight.data, full[1].weight.data)
    np.testing.assert_array_equal(fresh[2].weight.data, full[2].weight.data)
    assert not np.array_equal(fresh[0].weight.data, full[0].weight.data)
    assert tail[0] is full[1]
    assert len(full[::2]) == 2
    assert [name for name, _ in full[::-2].named_parameters()] == [
        "2.weight",
        "2.bias",
        "0.weight",
        "0.bias",
    ]


def test_load_state_dict_refuses_values_the_cast_would_lose() -> None:
    layer = nn.Linear(2, 2)
    before = layer.state_dict()
    huge = {"weight": np.full((2, 2), 1e300), "bias": np.zeros(2)}
    # torch's copy_ makes them inf silently; a float32 parameter cannot hold 1e300
    with pytest.raises(ValueError, match=r"weight holds 1e\+300, which float32 cannot hold"):
        layer.load_state_dict(huge)
    np.testing.assert_array_equal(layer.weight.data, before["weight"])
    norm = nn.BatchNorm1d(3)
    fractional = {**norm.state_dict(), "num_batches_tracked": np.array(2.7)}
    message = r"num_batches_tracked holds 2\.7, which int64 cannot hold"
    with pytest.raises(ValueError, match=message):
        norm.load_state_dict(fractional)
    assert int(norm.num_batches_tracked) == 0


def test_load_state_dict_still_rounds_float64_into_float32_and_loads_infinities() -> None:
    layer = nn.Linear(2, 2)
    values = np.array([[0.1, -np.inf], [np.nan, 3.0]])
    layer.load_state_dict({"weight": values, "bias": np.zeros(2)})
    np.testing.assert_array_equal(layer.weight.data, values.astype(np.float32))
    norm = nn.BatchNorm1d(3)
    norm.load_state_dict({**norm.state_dict(), "num_batches_tracked": np.array(5.0)})
    assert int(norm.num_batches_tracked) == 5


_JAX_DOUBLE = """
import numpy as np, jax
from chainrule import nn
assert not jax.config.jax_enable_x64
model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2)).to(jax.numpy)
try:
    model.double()
except TypeError as error:
    print(error)
print(model[0].weight.dtype)
"""


def test_double_on_jax_without_x64_refuses_instead_of_staying_float32() -> None:
    # A fresh interpreter: another test module turns jax_enable_x64 on for this process.
    pytest.importorskip("jax")
    result = subprocess.run(
        [sys.executable, "-c", _JAX_DOUBLE], capture_output=True, text=True, check=True
    )
    message, dtype = result.stdout.strip().splitlines()
    assert message.startswith("double: jax keeps this float64 array as float32")
    assert "jax_enable_x64" in message
    assert dtype == "float32"  # nothing was converted


def test_double_and_float_convert_array_api_strict_parameters_and_buffers() -> None:
    xp = pytest.importorskip("array_api_strict")
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2)).to(xp)
    model.double()
    assert model[0].weight.dtype == np.float64
    assert model[1].running_var.dtype == xp.float64
    assert model[1].num_batches_tracked.dtype == xp.int64
    model.float()
    assert model[1].running_mean.dtype == xp.float32


_JAX_TO = """
import numpy as np, jax
from chainrule import nn
assert not jax.config.jax_enable_x64
model = nn.Sequential(nn.Linear(3, 2, dtype=np.float64), nn.BatchNorm1d(2, dtype=np.float64))
try:
    model.to(jax.numpy)
except TypeError as error:
    print(error)
print(type(model[0].weight.data).__name__, model[0].weight.dtype)
"""


def test_to_jax_without_x64_refuses_a_float64_model_instead_of_truncating() -> None:
    pytest.importorskip("jax")
    result = subprocess.run(
        [sys.executable, "-c", _JAX_TO], capture_output=True, text=True, check=True
    )
    message, placed = result.stdout.strip().splitlines()
    assert message.startswith("to: jax keeps this float64 array as float32")
    assert "jax_enable_x64" in message
    assert placed == "ndarray float64"  # nothing was moved
