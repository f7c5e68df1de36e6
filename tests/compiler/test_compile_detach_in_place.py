"""A compiled step that detaches a computed tensor in place after using it replays eager's
steps bit for bit: the op recorded before keeps its graph, the use after sees a constant."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

import chainrule as cr
from chainrule.compiler import compile


def _setup() -> tuple[cr.nn.Linear, Callable[[cr.Tensor], cr.Tensor]]:
    layer = cr.nn.Linear(4, 3, rng=np.random.default_rng(3), dtype=np.float64)
    optimizer = cr.optim.SGD(layer.parameters(), lr=0.05)

    def step(x: cr.Tensor) -> cr.Tensor:
        optimizer.zero_grad()
        hidden = layer(x)
        recorded = hidden.exp().sum()  # exp saves its output, not hidden
        hidden.detach_()
        constant = (hidden * layer.bias).sum()  # reaches the bias only
        loss = recorded + constant
        loss.backward()
        optimizer.step()
        return loss

    return layer, step


def test_compiled_step_with_detach_in_place_matches_eager() -> None:
    x = np.random.default_rng(0).standard_normal((5, 4))
    runs = []
    for compiled in (False, True):
        layer, step = _setup()
        run = compile(step) if compiled else step
        losses = [run(cr.tensor(x)).item() for _ in range(4)]
        runs.append((losses, layer.weight.data.copy(), layer.bias.data.copy()))
    (eager_losses, eager_weight, eager_bias), (losses, weight, bias) = runs
    assert losses == eager_losses
    np.testing.assert_array_equal(weight, eager_weight)
    np.testing.assert_array_equal(bias, eager_bias)
    # The eager step's gradients, by hand: d/dW sum(exp(h)) = x^T exp(h); the bias also
    # gets exp(h) summed plus the detached h summed.
    layer, step = _setup()
    w0, b0 = layer.weight.data.copy(), layer.bias.data.copy()
    step(cr.tensor(x))
    h = x @ w0 + b0  # weight (in, out)
    np.testing.assert_allclose(layer.weight.data, w0 - 0.05 * x.T @ np.exp(h), rtol=1e-13)
    np.testing.assert_allclose(layer.bias.data, b0 - 0.05 * (np.exp(h) + h).sum(axis=0), rtol=1e-13)
