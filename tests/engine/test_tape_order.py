"""Eager backward visits its nodes in the recording order reversed (a tape read backwards,
`chainrule.sweep.schedule`): the plain sweep finds that order as it goes, the generic sweep
and compiled replays sort the reachable nodes by it, so all three sum a value's gradients in
the same order (bit for bit), and a backward touches only the graph its root depends on."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import chainrule as cr


def _random_fan_out_loss(seed: int) -> Callable[[cr.Tensor], cr.Tensor]:
    """A graph of 12 ops, each reading two earlier values drawn at random (so a value has
    up to five readers, recorded far apart), plus every other value summed into the loss."""
    rng = np.random.default_rng(seed)
    picks = [
        (int(rng.integers(i + 1)), int(rng.integers(i + 1)), int(rng.integers(3)))
        for i in range(12)
    ]

    def loss_of(x: cr.Tensor) -> cr.Tensor:
        values = [x]
        for first, second, kind in picks:
            a, b = values[first], values[second]
            values.append(
                (a * b).tanh() if kind == 0 else a + b * 0.5 if kind == 1 else (a - b).sin()
            )
        total = values[-1].sum()
        for value in values[1:-1:2]:
            total = total + (value * 1.3).sum()
        return total

    return loss_of


@pytest.mark.parametrize("seed", range(40))
def test_a_plain_backward_sums_fan_out_gradients_in_the_generic_sweeps_order(seed: int) -> None:
    # float32 and readers recorded far apart: a different order of the additions shows in
    # the last bits (22 of these 40 graphs did, with the generic sweep in its former order).
    loss_of = _random_fan_out_loss(seed)
    values = np.random.default_rng(seed + 1000).standard_normal(5).astype(np.float32)
    plain = cr.tensor(values, requires_grad=True)
    loss_of(plain).backward()
    generic = cr.tensor(values, requires_grad=True)
    with cr.detect_anomaly():  # anomaly mode takes the generic sweep
        loss_of(generic).backward()
    assert plain.grad is not None
    assert generic.grad is not None
    np.testing.assert_array_equal(plain.grad.data, generic.grad.data)


def _interleaved(x: cr.Tensor, w: cr.Tensor) -> cr.Tensor:
    # x's readers are recorded before, inside and after a chain that reads x again at its
    # end; `unused` is recorded between them and is not part of the loss.
    first = x * w
    chain = first
    for _ in range(5):
        chain = (chain * 0.9).sin() + first
    unused = (x * 7.0).exp()
    last = (x @ w.T).tanh()
    del unused
    loss: cr.Tensor = (chain * x).sum() + last.sum() + (first * first).mean()
    return loss


def test_interleaved_readers_match_torch_and_central_differences(torch: ModuleType) -> None:
    rng = np.random.default_rng(5)
    x_values, w_values = rng.standard_normal((2, 3, 4))
    x = cr.tensor(x_values, requires_grad=True)
    w = cr.tensor(w_values, requires_grad=True)
    _interleaved(x, w).backward()
    assert x.grad is not None
    assert w.grad is not None
    assert x.grad.shape == (3, 4)
    assert x.grad.dtype == np.float64

    tx = torch.tensor(x_values, requires_grad=True)
    tw = torch.tensor(w_values, requires_grad=True)
    first = tx * tw
    chain = first
    for _ in range(5):
        chain = torch.sin(chain * 0.9) + first
    loss = (chain * tx).sum() + torch.tanh(tx @ tw.T).sum() + (first * first).mean()
    loss.backward()
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(w.grad.data, tw.grad.numpy(), rtol=1e-12, atol=1e-12)

    def loss_at(values: np.ndarray) -> float:
        with cr.no_grad():
            return float(_interleaved(cr.tensor(values), cr.tensor(w_values)).item())

    step = 1e-6
    numeric = np.zeros_like(x_values)
    for index in np.ndindex(x_values.shape):
        up, down = x_values.copy(), x_values.copy()
        up[index] += step
        down[index] -= step
        numeric[index] = (loss_at(up) - loss_at(down)) / (2 * step)
    np.testing.assert_allclose(x.grad.data, numeric, rtol=1e-6, atol=1e-7)


def test_a_backward_leaves_the_graph_of_another_loss_untouched() -> None:
    x = cr.tensor([0.5, -1.0, 2.0], dtype=np.float64, requires_grad=True)
    shared = x * 2.0
    other = shared.exp().sum()  # recorded between `shared` and the loss
    loss = (shared * 3.0).sum()
    later = (x * 5.0).sum()  # recorded after the loss
    loss.backward()
    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.data, [6.0, 6.0, 6.0])
    assert loss.grad_fn is not None
    assert loss.grad_fn.released
    assert shared.grad_fn is not None
    assert shared.grad_fn.released
    # Neither the other loss's own nodes nor the later ones were visited (nor freed).
    assert other.grad_fn is not None
    assert not other.grad_fn.released
    assert later.grad_fn is not None
    assert not later.grad_fn.released
    later.backward()
    np.testing.assert_array_equal(x.grad.data, [11.0, 11.0, 11.0])
    with pytest.raises(RuntimeError, match=r"graph through mul was already freed"):
        other.backward()  # through `shared`, which the first backward freed


def test_a_compiled_replay_sums_fan_out_gradients_as_eager_does_bit_for_bit() -> None:
    loss_of = _random_fan_out_loss(7)
    values = np.random.default_rng(3).standard_normal(5).astype(np.float32)
    eager = cr.tensor(values, requires_grad=True)
    loss_of(eager).backward()
    assert eager.grad is not None
    leaf = cr.tensor(values, requires_grad=True)

    @cr.compile
    def step(scale: cr.Tensor) -> cr.Tensor:
        leaf.grad = None
        loss = loss_of(leaf * scale)
        loss.backward()
        return loss

    one = cr.tensor(np.float32(1.0))
    for _ in range(4):  # traced, traced again to verify, then replayed
        step(one)
        assert leaf.grad is not None
        np.testing.assert_array_equal(leaf.grad.data, eager.grad.data)


_LOAD_AND_DIFFERENTIATE = """
import pickle, sys
import numpy as np
a, y = pickle.loads(sys.stdin.buffer.read())
z = y * 2.0 + y.exp()  # recorded here, in a process whose count starts again at 0
from chainrule.graph import gradients
for create_graph in (True, False):
    a.grad = None
    z.sum().backward(retain_graph=True, create_graph=create_graph)
    sys.stdout.write(repr(None if a.grad is None else a.grad.data.tolist()) + "\\n")
(grad,) = gradients(z.sum(), np.ones(()), [a], retain_graph=True, create_graph=False)
sys.stdout.write(repr(None if grad is None else grad.tolist()) + "\\n")
"""


def test_a_graph_unpickled_in_another_process_is_swept_after_its_new_consumers() -> None:
    # The recording places travel with a pickled Node; a fresh process numbers its own ops
    # from 0 again, so the loaded nodes would sort before the new ops reading their outputs.
    warm = cr.tensor(np.ones(1), requires_grad=True)
    for _ in range(300):
        warm = warm * 1.0  # this process's places are past the child's
    a = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = a * 3.0
    source = str(Path(cr.__file__).resolve().parents[1])
    child = subprocess.run(
        [sys.executable, "-c", _LOAD_AND_DIFFERENTIATE],
        input=pickle.dumps((a, y)),
        capture_output=True,
        env={**os.environ, "PYTHONPATH": source},
    )
    assert child.returncode == 0, child.stderr.decode()
    expected = (3.0 * (2.0 + np.exp(3.0 * np.array([1.0, 2.0])))).tolist()
    lines = child.stdout.decode().splitlines()
    assert len(lines) == 3, lines
    for line, options in zip(lines, ("create_graph", "plain", "gradients"), strict=True):
        assert line != "None", f"{options}: the loaded graph's leaf got no gradient"
        np.testing.assert_allclose(json.loads(line), expected, rtol=1e-15, err_msg=options)
