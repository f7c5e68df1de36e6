"""The hand-derived gradients against PyTorch autograd on the same network (the reference)."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest

from chainrule import manual
from chainrule.check import compare

pytestmark = pytest.mark.torch

ALL_GRADS = ("x", "w1", "b1", "w2", "b2", "u1", "u2", "u3", "u4")


def torch_grads(torch: ModuleType, x, y, params) -> dict[str, np.ndarray]:
    """dloss/d(name) from autograd for the network written in PyTorch, intermediates included."""
    leaves = {
        name: torch.tensor(value, requires_grad=True) for name, value in {"x": x, **params}.items()
    }
    u1 = leaves["x"] @ leaves["w1"] + leaves["b1"]
    u2 = torch.relu(u1)
    u3 = u2 @ leaves["w2"] + leaves["b2"]
    u4 = torch.tensor(y) - u3
    loss = (u4**2).mean()
    intermediates = {"u1": u1, "u2": u2, "u3": u3, "u4": u4}
    for tensor in intermediates.values():
        tensor.retain_grad()
    loss.backward()
    return {name: tensor.grad.numpy() for name, tensor in {**leaves, **intermediates}.items()}


def assert_all_close(got, expected, *, rtol: float, atol_scale: float) -> None:
    for name in ALL_GRADS:
        scale = float(np.abs(expected[name]).max())
        result = compare(name, got[name], expected[name], rtol=rtol, atol=atol_scale * scale)
        assert result.close, str(result)


@pytest.mark.parametrize(
    ("n_examples", "n_in", "n_hidden", "n_out"),
    [(1, 4, 3, 1), (32, 10, 8, 1), (20, 6, 5, 3), (16, 4, 1, 2)],
)
def test_float64_gradients_match_autograd_to_rounding(
    torch: ModuleType, make_network, n_examples: int, n_in: int, n_hidden: int, n_out: int
) -> None:
    x, y, params = make_network(n_examples, n_in, n_hidden, n_out)
    grads = manual.backward(manual.forward(x, y, params)[1])
    assert_all_close(grads, torch_grads(torch, x, y, params), rtol=1e-10, atol_scale=1e-13)


def test_float32_gradients_match_autograd_at_float32_precision(
    torch: ModuleType, make_network
) -> None:
    x, y, params = make_network(200, 30, 20, 2, dtype=np.float32)
    grads = manual.backward(manual.forward(x, y, params)[1])
    reference = torch_grads(torch, x, y, params)
    assert {grad.dtype for grad in reference.values()} == {np.dtype(np.float32)}
    assert_all_close(grads, reference, rtol=1e-4, atol_scale=1e-5)


def test_loss_matches_autograd_forward(torch: ModuleType, make_network) -> None:
    x, y, params = make_network(12, 5, 4, 2)
    t = {name: torch.tensor(value) for name, value in params.items()}
    expected = (
        (
            (
                torch.tensor(y)
                - (torch.relu(torch.tensor(x) @ t["w1"] + t["b1"]) @ t["w2"] + t["b2"])
            )
            ** 2
        )
        .mean()
        .item()
    )
    assert manual.forward(x, y, params)[0] == pytest.approx(expected, rel=1e-14)


@pytest.mark.slow
def test_tutorial_size_float32_gradients_match_autograd(torch: ModuleType) -> None:
    rng = np.random.default_rng(7)
    x = rng.random((50000, 784), dtype=np.float32)
    y = rng.integers(0, 10, size=(50000, 1)).astype(np.float32)
    params = manual.init_params(784, 50, 1, rng=rng, dtype=np.float32)
    grads = manual.backward(manual.forward(x, y, params)[1])
    assert_all_close(grads, torch_grads(torch, x, y, params), rtol=1e-3, atol_scale=1e-4)


@pytest.mark.parametrize(
    ("n_examples", "n_in", "n_hidden", "n_out"), [(7, 3, 1, 1), (1, 5, 1, 3), (33, 4, 2, 1)]
)
def test_float32_odd_batches_and_one_hidden_unit_match_autograd_in_float32(
    torch: ModuleType, make_network, n_examples: int, n_in: int, n_hidden: int, n_out: int
) -> None:
    x, y, params = make_network(n_examples, n_in, n_hidden, n_out, dtype=np.float32)
    grads = manual.backward(manual.forward(x, y, params)[1])
    assert {name: grads[name].dtype for name in ALL_GRADS} == dict.fromkeys(
        ALL_GRADS, np.dtype(np.float32)
    )
    assert_all_close(grads, torch_grads(torch, x, y, params), rtol=1e-4, atol_scale=1e-5)
