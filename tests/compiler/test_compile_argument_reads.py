"""Python code in a compiled step that reads an array argument's values (`if x.mean() > 0`,
`for _ in range(int(y.max()))`, `if y[0] == 1`) took its path from the traced call's batch;
a replay would take that path on every later batch. Such a trace holds for its arguments'
bytes only: replayed on the same batch, traced again (eagerly) on another. Each case runs the
step eagerly and compiled from the same weights over batches whose values change the path
after the trace and its check (the third and later calls): every loss and the final weights
must agree (bit for bit on the NumPy replay, to 1e-12 in float64 on XLA).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import functional as F
from chainrule.compiler import CompileError, compile

NEEDS_JAX = pytest.mark.skipif(
    importlib.util.find_spec("jax") is None, reason="backend='xla' needs jax"
)
BACKENDS = ["numpy", pytest.param("xla", marks=NEEDS_JAX)]
Batch = tuple[np.ndarray, np.ndarray]
Step = Callable[[np.ndarray, np.ndarray], cr.Tensor]


def _model() -> cr.nn.Sequential:
    rng = np.random.default_rng(3)
    return cr.nn.Sequential(
        cr.nn.Linear(4, 6, rng=rng, dtype=np.float64),
        cr.nn.ReLU(),
        cr.nn.Linear(6, 3, rng=rng, dtype=np.float64),
    )


def _batches(flip_at: int = 3, calls: int = 6) -> list[Batch]:
    """Batches whose inputs are positive and whose labels start with 0 and top out at 1
    before call `flip_at`, negative with first label 1 and top label 2 from it on."""
    rng = np.random.default_rng(0)
    batches = []
    for index in range(calls):
        x = np.abs(rng.standard_normal((8, 4)))
        y = rng.integers(0, 2, 8)
        y[0] = 0
        if index >= flip_at:
            x, y = -x, np.minimum(y + 1, 2)
        batches.append((x, y))
    return batches


def _assert_same(got: np.ndarray, expected: np.ndarray, backend: str) -> None:
    assert got.shape == expected.shape
    assert got.dtype == expected.dtype
    if backend == "numpy":
        np.testing.assert_array_equal(got, expected)
    else:
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max())


def _compare(
    make: Callable[[cr.nn.Module, cr.optim.Optimizer], Step], backend: str, batches: list[Batch]
) -> Any:
    """Run make(model, optimizer)'s step eagerly and compiled over `batches`; return the
    compiled step after checking every loss and the final weights."""
    if backend == "xla":
        from chainrule.compiler.xla import enable_float64

        enable_float64()
    runs = []
    compiled_step = None
    for compiled in (False, True):
        model = _model()
        step = make(model, cr.optim.SGD(model.parameters(), lr=0.1))
        if compiled:
            step = compiled_step = compile(step, backend=backend)
        losses = [step(x, y).numpy().copy() for x, y in batches]
        runs.append((losses, [p.numpy().copy() for p in model.parameters()]))
    (eager_losses, eager_params), (losses, params) = runs
    for got, expected in zip(losses + params, eager_losses + eager_params, strict=True):
        _assert_same(got, expected, backend)
    return compiled_step


def _trained(
    model: cr.nn.Module,
    optimizer: cr.optim.Optimizer,
    loss_of: Callable[[np.ndarray, np.ndarray], cr.Tensor],
) -> Step:
    def step(x: np.ndarray, y: np.ndarray) -> cr.Tensor:
        optimizer.zero_grad()
        loss = loss_of(x, y)
        loss.backward()
        optimizer.step()
        return loss

    return step


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_loop_whose_length_is_read_from_the_labels_follows_each_batch(backend: str) -> None:
    def make(model: cr.nn.Module, optimizer: cr.optim.Optimizer) -> Step:
        def loss_of(x: np.ndarray, y: np.ndarray) -> cr.Tensor:
            loss = F.cross_entropy(model(x), y)
            for _ in range(int(y.max())):
                loss = loss + (model(x) ** 2).mean()
            return loss

        return _trained(model, optimizer, loss_of)

    _compare(make, backend, _batches())


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_branch_on_a_reduction_of_the_inputs_follows_each_batch(backend: str) -> None:
    def make(model: cr.nn.Module, optimizer: cr.optim.Optimizer) -> Step:
        def loss_of(x: np.ndarray, y: np.ndarray) -> cr.Tensor:
            loss = F.cross_entropy(model(x), y)
            return loss * 2.0 if x.mean() > 0 else loss

        return _trained(model, optimizer, loss_of)

    _compare(make, backend, _batches())


@pytest.mark.parametrize(
    "read",
    [
        lambda y: y[0] == 1,  # an element compared
        lambda y: np.any(y == 2),  # a NumPy function of the labels
        lambda y: sum(int(label) for label in y) > 8,  # iterated into Python ints
        lambda y: y.tolist()[0] == 1,
        lambda y: y.sum().item() > 8,
        lambda y: float(np.abs(y).max()) > 1.5,
    ],
    ids=["element", "np.any", "iteration", "tolist", "item", "float"],
)
def test_each_way_of_reading_the_labels_into_python_follows_each_batch(
    read: Callable[[np.ndarray], Any],
) -> None:
    def make(model: cr.nn.Module, optimizer: cr.optim.Optimizer) -> Step:
        def loss_of(x: np.ndarray, y: np.ndarray) -> cr.Tensor:
            loss = F.cross_entropy(model(x), y)
            return loss * 3.0 if read(y) else loss

        return _trained(model, optimizer, loss_of)

    _compare(make, "numpy", _batches())


def test_a_step_reading_its_batch_replays_while_the_batch_is_the_same() -> None:
    def make(model: cr.nn.Module, optimizer: cr.optim.Optimizer) -> Step:
        def loss_of(x: np.ndarray, y: np.ndarray) -> cr.Tensor:
            loss = F.cross_entropy(model(x), y)
            return loss * 2.0 if x.mean() > 0 else loss

        return _trained(model, optimizer, loss_of)

    batch = _batches()[0]
    # Full-batch training: a trace, its check, then replays on the same bytes.
    assert _compare(make, "numpy", [batch] * 5).traces == 2
    # Other values in each call: each call is traced (run eagerly), none replayed.
    assert _compare(make, "numpy", _batches(flip_at=3)).traces == 6


def test_a_step_whose_only_reads_are_chainrules_own_checks_replays_every_batch() -> None:
    # cross_entropy checks its labels' range in Python; the replay repeats that check, so it
    # does not tie the trace to the batch.
    def make(model: cr.nn.Module, optimizer: cr.optim.Optimizer) -> Step:
        return _trained(model, optimizer, lambda x, y: F.cross_entropy(model(x), y))

    assert _compare(make, "numpy", _batches()).traces == 2


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("alias", ["same object", "same view"])
def test_one_array_passed_as_two_arguments_binds_each_argument_apart(
    backend: str, alias: str
) -> None:
    # Traced with the same batch as both arguments, the two must stay two inputs: a later
    # call passing two different arrays uses each where the step put it.
    if backend == "xla":
        from chainrule.compiler.xla import enable_float64

        enable_float64()
    batches = _batches()
    runs = []
    for compiled in (False, True):
        model = _model()
        step = _two_input_step(model, cr.optim.SGD(model.parameters(), lr=0.1))
        run = compile(step, backend=backend) if compiled else step
        losses = []
        for index, (x, y) in enumerate(batches):
            second = x if alias == "same object" else x.view()
            if index >= 3:
                second = batches[0][0]
            losses.append(run(x, second, y).numpy().copy())
        runs.append((losses, [p.numpy().copy() for p in model.parameters()]))
    (eager_losses, eager_params), (losses, params) = runs
    for got, expected in zip(losses + params, eager_losses + eager_params, strict=True):
        _assert_same(got, expected, backend)


def _two_input_step(
    model: cr.nn.Module, optimizer: cr.optim.Optimizer
) -> Callable[[np.ndarray, np.ndarray, np.ndarray], cr.Tensor]:
    def step(a: np.ndarray, b: np.ndarray, y: np.ndarray) -> cr.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(a), y) + 2.0 * F.cross_entropy(model(b), y)
        loss.backward()
        optimizer.step()
        return loss

    return step


def _tensor_batches() -> list[Any]:
    return [(cr.tensor(x), y) for x, y in _batches()]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_branch_on_a_tensor_arguments_numpy_values_follows_each_batch(backend: str) -> None:
    def make(model: cr.nn.Module, optimizer: cr.optim.Optimizer) -> Step:
        def loss_of(x: Any, y: np.ndarray) -> cr.Tensor:
            loss = F.cross_entropy(model(x), y)
            return loss * 2.0 if x.numpy().mean() > 0 else loss

        return _trained(model, optimizer, loss_of)

    _compare(make, backend, _tensor_batches())


@pytest.mark.parametrize(
    "read",
    [
        lambda loss: loss.numpy() > 1.0,
        lambda loss: float(loss.numpy()) > 1.0,
        lambda loss: loss.numpy().tolist() > 1.0,
        lambda loss: loss.data > 1.0,
        lambda loss: float(loss.data) > 1.0,
    ],
    ids=["compared", "float", "tolist", "data", "float of data"],
)
def test_a_python_read_of_a_traced_tensors_numpy_values_is_refused(
    read: Callable[[cr.Tensor], Any],
) -> None:
    # Not an argument: its values change at every call, so no condition can pin the path.
    model = _model()
    optimizer = cr.optim.SGD(model.parameters(), lr=0.1)

    def loss_of(x: np.ndarray, y: np.ndarray) -> cr.Tensor:
        loss = F.cross_entropy(model(x), y)
        return loss * 2.0 if read(loss) else loss

    step = compile(_trained(model, optimizer, loss_of))
    x, y = _batches()[0]
    with pytest.raises(CompileError, match=r"\.numpy\(\) of a traced tensor of shape \(\)"):
        step(x, y)


def test_numpy_values_of_a_traced_tensor_used_in_ops_still_trace() -> None:
    # No Python read: a constant computed from them is checked by the verification trace.
    model = _model()
    optimizer = cr.optim.SGD(model.parameters(), lr=0.1)

    def loss_of(x: np.ndarray, y: np.ndarray) -> cr.Tensor:
        logits = model(x)
        return F.cross_entropy(logits, y) + (logits * 0.0).sum() * logits.numpy().shape[0]

    step = compile(_trained(model, optimizer, loss_of))
    for x, y in _batches():
        step(x, y)
    assert step.traces == 2


def test_a_branch_on_a_parameters_data_is_refused() -> None:
    # w.data is w.numpy(): the optimizer changes it at every call, so the branch the trace
    # took would be replayed after the values crossed the threshold.
    w = cr.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    optimizer = cr.optim.SGD([w], lr=0.1)

    @compile
    def step(x: np.ndarray) -> cr.Tensor:
        optimizer.zero_grad()
        loss = (cr.tensor(x) * w).sum() if w.data[0] > 0.75 else (cr.tensor(x) * w * w).sum()
        loss.backward()
        optimizer.step()
        return loss

    with pytest.raises(CompileError, match=r"\.numpy\(\) of a traced tensor of shape \(3,\)"):
        step(np.ones(3))


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_branch_on_a_tensor_arguments_data_follows_each_batch(backend: str) -> None:
    def make(model: cr.nn.Module, optimizer: cr.optim.Optimizer) -> Step:
        def loss_of(x: Any, y: np.ndarray) -> cr.Tensor:
            loss = F.cross_entropy(model(x), y)
            return loss * 2.0 if x.data.mean() > 0 else loss

        return _trained(model, optimizer, loss_of)

    _compare(make, backend, _tensor_batches())


@pytest.mark.parametrize(
    "read",
    [
        lambda x: np.take(x, 0) > 0,
        lambda x: np.einsum("ij->", x) > 0,
        lambda x: np.where(x > 0, 1, 0).sum() > 0,
        lambda x: np.flatnonzero(x > 0).sum() > 0,
        lambda x: np.histogram(x, bins=2, range=(-100, 100))[0][1] > 0,
    ],
    ids=["take", "einsum", "where", "nonzero", "histogram"],
)
def test_a_branch_on_a_numpy_function_of_an_argument_follows_each_batch(
    read: Callable[[np.ndarray], Any],
) -> None:
    # NumPy functions other than ufuncs (__array_function__) keep their results marked too.
    def make(model: cr.nn.Module, optimizer: cr.optim.Optimizer) -> Step:
        def loss_of(x: np.ndarray, y: np.ndarray) -> cr.Tensor:
            loss = F.cross_entropy(model(x), y)
            return loss * 2.0 if read(x) else loss

        return _trained(model, optimizer, loss_of)

    _compare(make, "numpy", _batches())
