"""compile(step, backend="xla") sees every write made to the host arrays between calls.

A raw NumPy write into `.data`, a `.grad` or an optimizer's state does not count a version,
so a device copy kept by (array, version) would go on training the stale values: each write
path is checked here against eager execution and the NumPy replay (float32, rtol 2e-5).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.compiler import compile

pytest.importorskip("jax")

CALLS = 4
RTOL = 2e-5


def _linear_adam(seed: int = 0) -> tuple[cr.nn.Linear, cr.optim.Adam]:
    model = cr.nn.Linear(5, 3, rng=np.random.default_rng(seed), dtype=np.float32)
    return model, cr.optim.Adam(model.parameters(), lr=0.05)


def _batch() -> tuple[cr.Tensor, cr.Tensor]:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((8, 5)).astype(np.float32)
    y = rng.standard_normal((8, 3)).astype(np.float32)
    return cr.tensor(x), cr.tensor(y)


def _train(
    backend: str | None,
    between: Callable[[cr.nn.Linear, cr.optim.Adam, int], None],
) -> dict[str, np.ndarray]:
    """CALLS training steps (eager when `backend` is None), `between(model, optimizer, call)`
    after each; the parameters and Adam's moments at the end."""
    model, optimizer = _linear_adam()

    def step(x: cr.Tensor, y: cr.Tensor) -> cr.Tensor:
        optimizer.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        optimizer.step()
        return loss

    run = step if backend is None else compile(step, backend=backend)
    x, y = _batch()
    for call in range(CALLS):
        run(x, y)
        between(model, optimizer, call)
    result = {name: np.array(value) for name, value in model.state_dict().items()}
    for position, param in enumerate(model.parameters()):
        for name in ("exp_avg", "exp_avg_sq"):
            result[f"{position}.{name}"] = np.array(optimizer.state[param][name])
    return result


def _assert_backends_agree(between: Callable[[cr.nn.Linear, cr.optim.Adam, int], None]) -> None:
    expected = _train(None, between)
    for backend in ("numpy", "xla"):
        got = _train(backend, between)
        assert got.keys() == expected.keys()
        for name, value in expected.items():
            assert got[name].shape == value.shape
            assert got[name].dtype == value.dtype
            np.testing.assert_allclose(got[name], value, rtol=RTOL, atol=1e-6, err_msg=name)


def test_clipping_a_bias_in_place_with_np_clip_out_is_seen() -> None:
    def clip(model: cr.nn.Linear, optimizer: cr.optim.Adam, call: int) -> None:
        bias = model.bias.data
        np.clip(bias, -0.01, 0.01, out=bias)

    _assert_backends_agree(clip)


def test_zeroing_a_bias_through_data_is_seen() -> None:
    def zero(model: cr.nn.Linear, optimizer: cr.optim.Adam, call: int) -> None:
        model.bias.data[...] = 0

    _assert_backends_agree(zero)


def test_zeroing_adams_first_moment_in_place_is_seen() -> None:
    def reset(model: cr.nn.Linear, optimizer: cr.optim.Adam, call: int) -> None:
        optimizer.state[model.weight]["exp_avg"][...] = 0

    _assert_backends_agree(reset)


def test_loading_a_model_state_dict_is_seen() -> None:
    saved: dict[str, Any] = {}

    def reload(model: cr.nn.Linear, optimizer: cr.optim.Adam, call: int) -> None:
        if call == 0:
            saved.update({name: np.array(value) for name, value in model.state_dict().items()})
        else:
            model.load_state_dict(saved)  # np.copyto into .data: no new array

    _assert_backends_agree(reload)


def test_loading_an_optimizer_state_dict_is_seen() -> None:
    saved: dict[str, Any] = {}

    def reload(model: cr.nn.Linear, optimizer: cr.optim.Adam, call: int) -> None:
        if call == 0:
            saved.update(copy.deepcopy(optimizer.state_dict()))
        else:
            optimizer.load_state_dict(saved)

    _assert_backends_agree(reload)


def test_a_learning_rate_set_through_param_groups_is_seen() -> None:
    def slow_down(model: cr.nn.Linear, optimizer: cr.optim.Adam, call: int) -> None:
        optimizer.param_groups[0]["lr"] *= 0.5

    _assert_backends_agree(slow_down)
