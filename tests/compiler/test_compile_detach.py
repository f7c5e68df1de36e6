"""`t.detach()` of a tensor the step computed (returning `loss.detach()`, a stop-gradient
target `out.detach()`): the detached tensor shares the array of the op's output but was made
without an op, so the trace took it for a NumPy constant and refused the step with a message
blaming NumPy code ("had other values on the step's second call", "has the shape of an
argument"). It now reads the op's slot at each replay, with no gradient flowing through it;
results equal eager's bit for bit (PyTorch's detach semantics: the values, cut from the
graph)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.compiler import compile


def _returns_detached_loss(model: nn.Module, x: cr.Tensor, y: np.ndarray) -> cr.Tensor:
    loss: cr.Tensor = nn.CrossEntropyLoss()(model(x), y)
    loss.backward()
    return loss.detach()


def _stop_gradient_target(model: nn.Module, x: cr.Tensor, y: np.ndarray) -> cr.Tensor:
    out = model(x)
    target = out.detach() * 0.5  # a target computed from the output, no gradient through it
    loss = ((out - target) ** 2).mean()
    loss.backward()
    return loss


def _returns_detached_activation(model: nn.Module, x: cr.Tensor, y: np.ndarray) -> cr.Tensor:
    hidden = model[0](x)
    loss: cr.Tensor = nn.CrossEntropyLoss()(model[2](model[1](hidden)), y)
    loss.backward()
    return hidden.detach()


STEPS: dict[str, Callable[[nn.Module, cr.Tensor, np.ndarray], cr.Tensor]] = {
    "return-loss.detach()": _returns_detached_loss,
    "stop-gradient-target": _stop_gradient_target,
    "return-hidden.detach()": _returns_detached_activation,
}


def _run(case: str, backend: str | None) -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    model = nn.Sequential(
        nn.Linear(4, 6, rng=rng, dtype=np.float64),
        nn.ReLU(),
        nn.Linear(6, 3, rng=rng, dtype=np.float64),
    )
    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    def step(x: np.ndarray, y: np.ndarray) -> cr.Tensor:
        optimizer.zero_grad()
        result = STEPS[case](model, cr.tensor(x), y)
        optimizer.step()
        return result

    run = step if backend is None else compile(step, backend=backend)
    data = np.random.default_rng(0)
    record = []
    for _ in range(5):
        result = run(data.standard_normal((5, 4)), data.integers(0, 3, 5))
        record.append(result.numpy().copy())
        for param in model.parameters():
            assert param.grad is not None
            record += [param.numpy().copy(), param.grad.numpy().copy()]
    return record


@pytest.mark.parametrize("backend", ["numpy", "xla"])
@pytest.mark.parametrize("case", list(STEPS))
def test_a_detached_tensor_computed_in_the_step_replays_as_eagerly(case: str, backend: str) -> None:
    if backend == "xla":
        from chainrule.compiler.xla import enable_float64

        enable_float64()
    expected = _run(case, None)
    got = _run(case, backend)
    for index, (value, reference) in enumerate(zip(got, expected, strict=True)):
        assert value.shape == reference.shape, index
        assert value.dtype == reference.dtype, index
        np.testing.assert_allclose(
            value, reference, rtol=0 if backend == "numpy" else 1e-12, err_msg=str(index)
        )


def _two_leaves_on_one_array() -> tuple[Callable[[np.ndarray], cr.Tensor], cr.Tensor, cr.Tensor]:
    values = np.array([1.0, -0.5, 2.0])
    first = cr.tensor(values, requires_grad=True)  # cr.tensor shares a float array
    second = cr.tensor(values, requires_grad=True)

    def step(x: np.ndarray) -> cr.Tensor:
        first.grad = None
        second.grad = None
        loss = (cr.tensor(x) * first).sum() + (cr.tensor(x) * second * 2.0).sum()
        loss.backward()
        return loss

    return step, first, second


@pytest.mark.parametrize("backend", ["numpy", "xla"])
def test_two_tensors_requiring_grad_on_one_array_each_get_their_gradient(backend: str) -> None:
    # Not a detach: two leaves made of one array. Each is a leaf of its own, as eagerly, and
    # receives its own gradient on every replay.
    if backend == "xla":
        from chainrule.compiler.xla import enable_float64

        enable_float64()
    step, first, second = _two_leaves_on_one_array()
    compiled = compile(step, backend=backend)
    x = np.array([1.0, 2.0, 3.0])
    for _ in range(4):
        compiled(x)
        assert first.grad is not None
        assert second.grad is not None
        np.testing.assert_array_equal(first.grad.numpy(), x)
        np.testing.assert_array_equal(second.grad.numpy(), 2.0 * x)
