"""Python code in a compiled step that reads an array argument's values (`if x.mean() > 0`,
`for _ in range(int(y.max()))`, `if y[0] == 1`) took its path from the traced call's batch;
a replay would take that path on every later batch. Such a trace holds for its arguments'
bytes only: replayed on the same batch, traced again (eagerly) on another. Each case runs the
step eagerly and compiled from the same weights over batches whose values change the path
after the trace and its check (the third and later calls): every loss and the final weights
must agree (bit for bit on the NumPy replay, to 1e-12 in float64 on XLA). The same holds
for reads made through NumPy: conversions to a plain array (`np.asarray`, `.view(np.ndarray)`),
NumPy functions whose results are new arrays or Python values, `out=` writes into plain
arrays, raw bytes, and shapes that come from the values (`np.unique`, a boolean mask); arrays
only converted and used in ops still replay. A batch passed as one tuple, list or dict is
refused.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from replay_checks import assert_same

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
        assert_same(got, expected, backend)
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
        assert_same(got, expected, backend)


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


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_branch_on_a_tensor_arguments_data_follows_each_batch(backend: str) -> None:
    def make(model: cr.nn.Module, optimizer: cr.optim.Optimizer) -> Step:
        def loss_of(x: Any, y: np.ndarray) -> cr.Tensor:
            loss = F.cross_entropy(model(x), y)
            return loss * 2.0 if x.data.mean() > 0 else loss

        return _trained(model, optimizer, loss_of)

    _compare(make, backend, _tensor_batches())


def test_a_python_read_of_a_parameters_data_is_refused() -> None:
    # Its values change at every update: a branch on them would be frozen at the first's.
    model = _model()
    optimizer = cr.optim.SGD(model.parameters(), lr=0.1)
    weight = next(iter(model.parameters()))

    def loss_of(x: np.ndarray, y: np.ndarray) -> cr.Tensor:
        loss = F.cross_entropy(model(x), y)
        return loss * 2.0 if weight.data.max() > 0.5 else loss

    with pytest.raises(CompileError, match=r"traced tensor of shape \(4, 6\) \(or its \.data\)"):
        compile(_trained(model, optimizer, loss_of))(*_batches()[0])


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


# Reads made through NumPy.

Read = Callable[[np.ndarray, np.ndarray], Any]


def _out_of_max(y: np.ndarray) -> np.ndarray:
    out = np.zeros((), y.dtype)
    np.max(y, out=out)
    return out


def _copied_with_copyto(y: np.ndarray) -> np.ndarray:
    buffer = np.zeros_like(y.view(np.ndarray))
    np.copyto(np.asarray(buffer).view(np.ndarray), y)
    return buffer


# Each read is False on the batches before the flip (labels 0/1, first label 0, inputs > 0)
# and True from it on (labels 1/2, first label 1, inputs < 0).
READS: dict[str, Read] = {
    "np.asarray": lambda x, y: np.asarray(y)[0] == 1,
    "np.array": lambda x, y: np.array(y)[0] == 1,
    "view(np.ndarray)": lambda x, y: y.view(np.ndarray)[0] == 1,
    "np.ascontiguousarray": lambda x, y: np.ascontiguousarray(y)[0] == 1,
    "np.asarray of the inputs": lambda x, y: np.asarray(x).mean() < 0,
    "tobytes": lambda x, y: y.tobytes()[0] == 1,
    ".data": lambda x, y: y.data[0] == 1,
    "len(np.unique)": lambda x, y: len(np.unique(np.concatenate([y, [0]]))) > 2,
    "np.flatnonzero": lambda x, y: len(np.flatnonzero(y == 2)) > 0,
    "len of a mask": lambda x, y: len(y[y == 2]) > 0,
    "shape of a mask": lambda x, y: y[y == 2].shape[0] > 0,
    "size of a mask": lambda x, y: x[x < 0].size > 0,
    "range(max)": lambda x, y: sum(1 for _ in range(y.max())) > 1,
    "np.sort": lambda x, y: np.sort(y)[-1] == 2,
    "np.argsort": lambda x, y: y[np.argsort(y)][-1] == 2,
    "np.bincount": lambda x, y: np.bincount(y, minlength=3)[2] > 0,
    "shape of np.bincount": lambda x, y: np.bincount(y).shape[0] > 2,
    "reduction with out=": lambda x, y: _out_of_max(y) == 2,
    "np.copyto": lambda x, y: _copied_with_copyto(y)[0] == 1,
    "np.take": lambda x, y: np.take(y, 0) == 1,
    "np.copy": lambda x, y: np.copy(y)[0] == 1,
    "np.count_nonzero": lambda x, y: np.count_nonzero(y == 2) > 0,
    "np.array_equal": lambda x, y: not np.array_equal(y, np.minimum(y, 1)),
    "fancy index": lambda x, y: y[[0, 1]][0] == 1,
    "np.nonzero": lambda x, y: np.nonzero(y == 2)[0].size > 0,
    "np.where": lambda x, y: np.where(y == 2)[0].size > 0,
    "np.split": lambda x, y: np.split(y, 2)[0][0] == 1,
    "astype": lambda x, y: y.astype(np.float64)[0] == 1.0,
    "np.shape of a mask": lambda x, y: np.shape(y[y == 2])[0] > 0,
    "np.size of np.unique": lambda x, y: np.size(np.unique(np.concatenate([y, [0]]))) > 2,
    ".nonzero()": lambda x, y: len((y == 2).nonzero()[0]) > 0,
    ".compress()": lambda x, y: len(y.compress(y == 2)) > 0,
    ".dot()": lambda x, y: y.dot(y) > 12,
    ".searchsorted()": lambda x, y: np.sort(y).searchsorted(2) < 8,
    ".trace()": lambda x, y: x.trace() < 0,
    ".argmax() as a range": lambda x, y: sum(1 for _ in range((y == 2).argmax())) > 0,
    "str()": lambda x, y: "2" in str(y),
    "f-string": lambda x, y: "2" in f"{y}",
}


def _branching(read: Read) -> Callable[[cr.nn.Module, cr.optim.Optimizer], Step]:
    def make(model: cr.nn.Module, optimizer: cr.optim.Optimizer) -> Step:
        def loss_of(x: np.ndarray, y: np.ndarray) -> cr.Tensor:
            loss = F.cross_entropy(model(x), y)
            return loss * 3.0 if read(x, y) else loss

        return _trained(model, optimizer, loss_of)

    return make


@pytest.mark.parametrize("name", list(READS))
def test_each_numpy_route_to_a_python_read_follows_each_batch(name: str) -> None:
    batches = _batches()
    read = READS[name]
    # The read does change with the batch (else the test could not fail).
    assert not read(*batches[0])
    assert read(*batches[-1])
    step = _compare(_branching(read), "numpy", batches)
    assert step.traces == len(batches)  # each batch traced (run eagerly), none replayed


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["np.asarray", "len(np.unique)", "np.bincount", "tobytes"])
def test_numpy_routes_to_a_read_follow_each_batch_on_each_backend(backend: str, name: str) -> None:
    _compare(_branching(READS[name]), backend, _batches())


@pytest.mark.parametrize("backend", BACKENDS)
def test_arguments_converted_but_not_read_still_replay_every_batch(backend: str) -> None:
    # np.asarray and friends of an argument give that argument: used in ops (and its shape,
    # fixed by the signature, read), the trace holds for every batch.
    def make(model: cr.nn.Module, optimizer: cr.optim.Optimizer) -> Step:
        def loss_of(x: np.ndarray, y: np.ndarray) -> cr.Tensor:
            inputs = np.ascontiguousarray(np.asarray(x).view(np.ndarray))
            loss = F.cross_entropy(model(inputs), np.asarray(y))
            return loss * (len(np.asarray(y)) / inputs.shape[0] / np.shape(y)[0] * np.ndim(x))

        return _trained(model, optimizer, loss_of)

    assert _compare(make, backend, _batches()).traces == 2


def test_conversions_are_restored_after_the_trace() -> None:
    originals = (np.asarray, np.array, np.ascontiguousarray)
    step = compile(
        _trained(
            model := _model(),
            cr.optim.SGD(model.parameters(), lr=0.1),
            lambda x, y: F.cross_entropy(model(np.asarray(x)), y),
        )
    )
    step(*_batches()[0])
    assert (np.asarray, np.array, np.ascontiguousarray) == originals


@pytest.mark.parametrize(
    "batch",
    [
        lambda x, y: (x, y),
        lambda x, y: [x, y],
        lambda x, y: {"x": x, "y": y},
        lambda x, y: (cr.tensor(x), cr.tensor(y)),
        lambda x, y: ("name", (x,)),
    ],
    ids=["tuple", "list", "dict", "tuple of Tensors", "nested"],
)
def test_a_batch_passed_as_one_container_is_refused(batch: Callable[..., Any]) -> None:
    model = _model()

    def step(inputs: Any) -> cr.Tensor:
        return model(cr.tensor(np.zeros((2, 4)))).sum()

    x, y = _batches()[0]
    with pytest.raises(CompileError, match=r"argument 0 is a \w+ holding arrays or Tensors"):
        compile(step)(batch(x, y))


@pytest.mark.parametrize(
    "read",
    [
        lambda scale: float(np.asarray(scale)) > 0.5,
        lambda scale: float(np.copy(scale)) > 0.5,
        lambda scale: float(scale.view(np.ndarray)) > 0.5,
        lambda scale: scale.tobytes() != b"",
        lambda scale: scale * 1.0 > 0.5,
        lambda scale: np.asarray(scale).tolist() > 0.5,
    ],
    ids=["np.asarray", "np.copy", "view", "tobytes", "product", "tolist"],
)
def test_a_0d_float_argument_read_through_numpy_is_refused_naming_it(
    read: Callable[[np.ndarray], Any],
) -> None:
    # A 0-d float array is data replayed with each call's value; a read of it, however made,
    # would freeze the first call's value: refused, as float(scale) is.
    model = _model()
    optimizer = cr.optim.SGD(model.parameters(), lr=0.1)

    def step(x: np.ndarray, y: np.ndarray, scale: np.ndarray) -> cr.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss = loss * 3.0 if read(scale) else loss
        loss.backward()
        optimizer.step()
        return loss

    x, y = _batches()[0]
    with pytest.raises(CompileError, match=r"0-d array argument 2 to a Python value"):
        compile(step)(x, y, np.array(0.9))


# Found by fix/review-k (the same session), kept beside the cases above.


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
