"""An adversarial user's review of compile(step, backend="xla")'s deferred write-back: paths
that reach a deferred object's state without a flushing attribute must give eager's values
(float32, rtol 2e-5) or refuse with an error naming the cause and the fix.
"""

from __future__ import annotations

import gc
import weakref
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import backends
from chainrule.compiler import CompileError, compile

pytest.importorskip("jax")

RTOL = 2e-5


def _aliased_sgd(backend: str | None) -> tuple[cr.nn.Parameter, cr.nn.Parameter, cr.Tensor, Any]:
    """Two parameters sharing memory (`view` is the first rows of `base`), both stepped."""
    rng = np.random.default_rng(0)
    base = cr.nn.Parameter(rng.standard_normal((4, 3)).astype(np.float32))
    view = cr.nn.Parameter(base.data[:2])
    optimizer = cr.optim.SGD([base, view], lr=0.1)
    x = cr.tensor(rng.standard_normal((5, 4)).astype(np.float32))

    def step(x: cr.Tensor) -> cr.Tensor:
        optimizer.zero_grad()
        loss = (x @ base).sum() + (view**2).sum()
        loss.backward()
        optimizer.step()
        return loss

    return base, view, x, step if backend is None else compile(step, backend=backend)


def _linear_adam(backend: str | None) -> tuple[cr.nn.Linear, cr.optim.Adam, Any, cr.Tensor]:
    model = cr.nn.Linear(5, 3, rng=np.random.default_rng(0), dtype=np.float32)
    optimizer = cr.optim.Adam(model.parameters(), lr=0.05)
    x = cr.tensor(np.random.default_rng(1).standard_normal((8, 5)).astype(np.float32))

    def step(x: cr.Tensor) -> cr.Tensor:
        optimizer.zero_grad()
        loss = (model(x) ** 2).mean()
        loss.backward()
        optimizer.step()
        return loss

    return model, optimizer, step if backend is None else compile(step, backend=backend), x


def test_a_stepped_parameter_sharing_memory_with_another_is_refused() -> None:
    # Eagerly (and in the NumPy replay) an update of `base` is seen through `view`; XLA
    # holds each as its own array, so the two would drift apart and the write-back of one
    # would overwrite the other's update.
    _, _, x, step = _aliased_sgd("xla")
    with pytest.raises(
        CompileError, match=r"shapes \(2, 3\) and \(4, 3\) that share memory.*copy\(\)"
    ):
        step(x)


def test_parameters_sharing_memory_still_train_in_the_numpy_replay_as_eager() -> None:
    eager_base, _, eager_x, eager_step = _aliased_sgd(None)
    base, _, x, step = _aliased_sgd("numpy")
    for _ in range(3):
        eager_step(eager_x)
        step(x)
    np.testing.assert_allclose(base.data, eager_base.data, rtol=RTOL)


def test_memory_shared_after_compiling_is_refused_at_the_next_call() -> None:
    model, _, step, x = _linear_adam("xla")
    step(x)
    step(x)
    model.bias.data = model.weight.data[0]  # now a view of the weight's first row
    with pytest.raises(CompileError, match="share memory"):
        step(x)


def test_a_deferred_parameter_computes_in_numpys_namespace() -> None:
    # Rules take `xp` from their inputs by exact type: the flushing subclass is a Tensor too.
    model, _, step, x = _linear_adam("xla")
    step(x)
    step(x)  # the verification trace
    step(x)
    assert type(model.weight) is not cr.nn.Parameter  # deferred
    assert backends.namespace(model.weight) is np
    assert backends.is_recording(model.weight)


def _trained_with(edit: Any, backend: str | None) -> list[np.ndarray]:
    """Three calls (a trace, its verification, a replay), `edit(optimizer)` (deferred under
    XLA), two more calls: the parameters. The NumPy replay reads the groups at each call;
    XLA traces the step again."""
    model, optimizer, step, x = _linear_adam(backend)
    step(x)
    step(x)
    step(x)
    edit(optimizer)
    step(x)
    step(x)
    return [param.data for param in model.parameters()]


def test_a_parameter_removed_from_param_groups_between_calls_stops_training() -> None:
    def remove_last(optimizer: cr.optim.Optimizer) -> None:
        optimizer.param_groups[0]["params"].pop()

    expected = _trained_with(remove_last, None)
    for got, want in zip(_trained_with(remove_last, "xla"), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=1e-6)


def test_a_parameter_moved_to_a_new_param_group_between_calls_steps_at_its_lr() -> None:
    def move_last(optimizer: cr.optim.Optimizer) -> None:
        optimizer.add_param_group(
            {"params": [optimizer.param_groups[0]["params"].pop()], "lr": 0.5}
        )

    expected = _trained_with(move_last, None)
    for got, want in zip(_trained_with(move_last, "xla"), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=1e-6)


def test_a_model_dropped_with_its_step_while_deferred_is_freed() -> None:
    model, optimizer, step, x = _linear_adam("xla")
    step(x)
    step(x)
    weight = weakref.ref(model.weight)
    del model, optimizer, step
    gc.collect()
    assert weight() is None


def test_dropping_the_step_while_deferred_writes_back_into_the_model() -> None:
    eager, _, eager_step, eager_x = _linear_adam(None)
    model, _, step, x = _linear_adam("xla")
    for _ in range(3):
        eager_step(eager_x)
        step(x)
    del step
    gc.collect()
    assert type(model.weight) is cr.nn.Parameter
    np.testing.assert_allclose(model.weight.data, eager.weight.data, rtol=RTOL, atol=1e-6)
    np.testing.assert_allclose(model.bias.grad.data, eager.bias.grad.data, rtol=RTOL, atol=1e-6)


def test_a_parameter_swapped_for_another_in_its_group_between_calls_stops_training() -> None:
    # The group keeps its length: only the identity of its entries tells the change.
    def swap_bias(optimizer: cr.optim.Optimizer) -> None:
        params = optimizer.param_groups[0]["params"]
        params[-1] = cr.nn.Parameter(np.zeros(params[-1].shape, dtype=np.float32))

    expected = _trained_with(swap_bias, None)
    for got, want in zip(_trained_with(swap_bias, "xla"), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=1e-6)


def _sgd_and_adam(backend: str | None) -> tuple[list[cr.nn.Linear], list[cr.optim.Optimizer], Any]:
    """Two layers, the first stepped by SGD with momentum, the second by Adam, in one step."""
    rng = np.random.default_rng(0)
    first = cr.nn.Linear(5, 4, rng=rng, dtype=np.float32)
    second = cr.nn.Linear(4, 3, rng=rng, dtype=np.float32)
    sgd = cr.optim.SGD(first.parameters(), lr=0.05, momentum=0.9)
    adam = cr.optim.Adam(second.parameters(), lr=0.05)
    x = rng.standard_normal((8, 5)).astype(np.float32)

    def step(x: Any) -> cr.Tensor:
        sgd.zero_grad()
        adam.zero_grad()
        loss = (second(first(cr.tensor(x)).relu()) ** 2).mean()
        loss.backward()
        sgd.step()
        adam.step()
        return loss

    run = step if backend is None else compile(step, backend=backend)
    for _ in range(5):
        run(x)
    return [first, second], [sgd, adam], run


def test_sgd_and_adam_in_one_step_train_and_count_adams_steps_as_eager() -> None:
    eager_layers, eager_optimizers, _ = _sgd_and_adam(None)
    layers, optimizers, _ = _sgd_and_adam("xla")
    for layer, eager_layer in zip(layers, eager_layers, strict=True):
        for param, eager_param in zip(layer.parameters(), eager_layer.parameters(), strict=True):
            np.testing.assert_allclose(param.data, eager_param.data, rtol=RTOL, atol=1e-6)
    adam, eager_adam = optimizers[1], eager_optimizers[1]
    pairs = zip(layers[1].parameters(), eager_layers[1].parameters(), strict=True)
    for param, eager_param in pairs:
        assert adam.state[param]["step"] == eager_adam.state[eager_param]["step"] == 5
    sgd, eager_sgd = optimizers[0], eager_optimizers[0]
    pairs = zip(layers[0].parameters(), eager_layers[0].parameters(), strict=True)
    for param, eager_param in pairs:
        assert "step" not in sgd.state[param]
        np.testing.assert_allclose(
            sgd.state[param]["momentum_buffer"],
            eager_sgd.state[eager_param]["momentum_buffer"],
            rtol=RTOL,
            atol=1e-6,
        )
