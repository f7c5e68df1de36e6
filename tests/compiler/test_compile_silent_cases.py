"""A compiled step takes exactly eager's steps or refuses with a CompileError: the paths of a
PyTorch training loop ported to chainrule.compile that used to replay a stale value silently.

Python state the step reads without being passed it (a closure or global number, a module's
mode or parameters, the optimizer a variable names) is guarded as by torch.compile: changed
between calls, the step is traced again. Python state the step itself changes (a counter, a
list, `model.train()`) is refused, since a replay repeats no Python code. Each case compares
eager and compiled runs from the same initial values: the NumPy replay bit for bit, the XLA
program to 1e-12 (float64, as in test_compile_xla.py).
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
CALLS = 4  # a trace, its verification (each signature's second call), two replays


def _model(seed: int = 3) -> cr.nn.Sequential:
    rng = np.random.default_rng(seed)
    return cr.nn.Sequential(
        cr.nn.Linear(4, 6, rng=rng, dtype=np.float64),
        cr.nn.ReLU(),
        cr.nn.Linear(6, 3, rng=rng, dtype=np.float64),
    )


def _batches() -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    return [(rng.standard_normal((8, 4)), rng.integers(0, 3, 8)) for _ in range(CALLS)]


Setup = Callable[[], tuple[cr.nn.Module, Callable[..., Any], Callable[[int], None]]]


def _assert_compiled_equals_eager(setup: Setup, backend: str) -> None:
    """Run `setup()`'s step CALLS times eagerly and compiled, calling its `between(i)` before
    each call; the losses and final parameters must agree."""
    if backend == "xla":
        from chainrule.compiler.xla import enable_float64

        enable_float64()  # float64 on JAX, as test_compile_xla.py
    runs = []
    for compiled in (False, True):
        model, step, between = setup()
        run = compile(step, backend=backend) if compiled else step
        losses = []
        for index, (x, y) in enumerate(_batches()):
            between(index)
            losses.append(run(x, y).numpy().copy())
        runs.append((losses, [p.numpy().copy() for p in model.parameters()]))
    (eager_losses, eager_params), (losses, params) = runs
    for got, expected in zip(losses + params, eager_losses + eager_params, strict=True):
        assert_same(got, expected, backend)


def _training_step(
    model: cr.nn.Module, optimizer: cr.optim.Optimizer, scale: Callable[[], Any] = lambda: 1.0
) -> Callable[[np.ndarray, np.ndarray], cr.Tensor]:
    def step(x: np.ndarray, y: np.ndarray) -> cr.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y) * scale()
        loss.backward()
        optimizer.step()
        return loss

    return step


# ------------------------------------------------------------------ Python values read
LOSS_WEIGHT = 1.0  # a module-level setting the step reads, changed between calls


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_global_float_changed_between_calls_is_used_by_the_next_call(backend: str) -> None:
    # PyTorch's test/dynamo/test_global.py reads module globals in compiled functions; a
    # change is caught by a guard and recompiles. (jax.jit keeps the first value.)
    def setup() -> tuple[cr.nn.Module, Callable[..., Any], Callable[[int], None]]:
        model = _model()
        optimizer = cr.optim.SGD(model.parameters(), lr=0.1)

        def step(x: np.ndarray, y: np.ndarray) -> cr.Tensor:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y) * LOSS_WEIGHT
            loss.backward()
            optimizer.step()
            return loss

        def between(index: int) -> None:
            global LOSS_WEIGHT
            LOSS_WEIGHT = 2.0 if index >= 1 else 1.0

        return model, step, between

    _assert_compiled_equals_eager(setup, backend)


@pytest.mark.parametrize("backend", ["numpy"])
def test_a_closure_float_rebound_between_calls_is_used_by_the_next_call(backend: str) -> None:
    def setup() -> tuple[cr.nn.Module, Callable[..., Any], Callable[[int], None]]:
        model = _model()
        optimizer = cr.optim.SGD(model.parameters(), lr=0.1)
        weight = 1.0

        def between(index: int) -> None:
            nonlocal weight
            weight = 0.5 * (index + 1)

        return model, _training_step(model, optimizer, lambda: weight), between

    _assert_compiled_equals_eager(setup, backend)


@pytest.mark.parametrize("backend", ["numpy"])
def test_a_closed_over_array_rebound_between_calls_is_used_by_the_next_call(
    backend: str,
) -> None:
    def setup() -> tuple[cr.nn.Module, Callable[..., Any], Callable[[int], None]]:
        model = _model()
        optimizer = cr.optim.SGD(model.parameters(), lr=0.1)
        settings = {"class_weights": np.ones(3)}

        def step(x: np.ndarray, y: np.ndarray) -> cr.Tensor:
            optimizer.zero_grad()
            loss = (model(x) * settings["class_weights"]).sum()
            loss.backward()
            optimizer.step()
            return loss

        def between(index: int) -> None:
            settings["class_weights"] = np.full(3, 1.0 + index)

        return model, step, between

    _assert_compiled_equals_eager(setup, backend)


class _Scaled(cr.nn.Module):
    """Halves its input in training mode only: a module whose forward reads `self.training`."""

    def forward(self, x: cr.Tensor) -> cr.Tensor:
        return x * 0.5 if self.training else x


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_module_switched_between_train_and_eval_between_calls_follows_the_mode(
    backend: str,
) -> None:
    # torch.compile guards on nn.Module.training: model.eval() / model.train() recompile.
    def setup() -> tuple[cr.nn.Module, Callable[..., Any], Callable[[int], None]]:
        model = cr.nn.Sequential(_model(), _Scaled())
        optimizer = cr.optim.SGD(model.parameters(), lr=0.1)

        def between(index: int) -> None:
            model.train(index != 1)

        return model, _training_step(model, optimizer), between

    _assert_compiled_equals_eager(setup, backend)


def test_dropout_put_back_in_training_mode_after_an_eval_trace_is_refused() -> None:
    """Traced in eval mode Dropout is the identity; in training mode its mask cannot be
    replayed, so the next call after model.train() refuses instead of skipping dropout."""
    model = cr.nn.Sequential(_model(), cr.nn.Dropout(0.5, rng=np.random.default_rng(1)))
    optimizer = cr.optim.SGD(model.parameters(), lr=0.1)
    step = compile(_training_step(model, optimizer))
    (x, y), *_ = _batches()
    model.eval()
    step(x, y)
    model.train()
    with pytest.raises(CompileError, match="Dropout in training mode"):
        step(x, y)


@pytest.mark.parametrize("backend", ["numpy"])
def test_a_parameter_replaced_in_its_module_between_calls_matches_eager(backend: str) -> None:
    """The module uses the new Parameter; the optimizer still steps the old one (as in
    PyTorch): the new weight is used, untrained, on every later call."""

    def setup() -> tuple[cr.nn.Module, Callable[..., Any], Callable[[int], None]]:
        model = _model()
        optimizer = cr.optim.SGD(model.parameters(), lr=0.1)

        def between(index: int) -> None:
            if index == 1:
                model[0].weight = cr.nn.Parameter(model[0].weight.numpy() * 0.5)

        return model, _training_step(model, optimizer), between

    _assert_compiled_equals_eager(setup, backend)


def test_a_bias_removed_from_its_module_between_calls_matches_eager() -> None:
    """`module.bias = None` (as in PyTorch) drops the bias: the next call runs without it."""

    def setup() -> tuple[cr.nn.Module, Callable[..., Any], Callable[[int], None]]:
        model = _model()
        optimizer = cr.optim.SGD(model.parameters(), lr=0.1)

        def between(index: int) -> None:
            if index == 1:
                model[2].bias = None

        return model, _training_step(model, optimizer), between

    _assert_compiled_equals_eager(setup, "numpy")


@pytest.mark.parametrize("backend", ["numpy"])
def test_an_optimizer_replaced_between_calls_is_the_one_stepped(backend: str) -> None:
    def setup() -> tuple[cr.nn.Module, Callable[..., Any], Callable[[int], None]]:
        model = _model()
        training = {"optimizer": cr.optim.SGD(model.parameters(), lr=0.1)}

        def step(x: np.ndarray, y: np.ndarray) -> cr.Tensor:
            optimizer = training["optimizer"]
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            return loss

        def between(index: int) -> None:
            if index == 1:
                training["optimizer"] = cr.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)

        return model, step, between

    _assert_compiled_equals_eager(setup, backend)


class _Classifier:
    """A step written as methods: `step` calls `weighted_loss`, which reads a global."""

    def __init__(self) -> None:
        self.model = _model()
        self.optimizer = cr.optim.SGD(self.model.parameters(), lr=0.1)
        self.calls = 0  # kept by the loop, never read by the step

    def weighted_loss(self, x: np.ndarray, y: np.ndarray) -> cr.Tensor:
        return F.cross_entropy(self.model(x), y) * LOSS_WEIGHT

    def step(self, x: np.ndarray, y: np.ndarray) -> cr.Tensor:
        self.optimizer.zero_grad()
        loss = self.weighted_loss(x, y)
        loss.backward()
        self.optimizer.step()
        return loss


def test_a_global_read_by_a_method_the_bound_step_calls_is_guarded() -> None:
    global LOSS_WEIGHT
    classifier = _Classifier()
    step = compile(classifier.step)
    (x, y), *_ = _batches()
    LOSS_WEIGHT = 1.0
    first = step(x, y).item()
    LOSS_WEIGHT = 3.0
    try:
        assert step(x, y).item() == pytest.approx(3.0 * first, rel=0.2)
    finally:
        LOSS_WEIGHT = 1.0


def test_an_attribute_the_step_never_names_changing_between_calls_does_not_retrace() -> None:
    classifier = _Classifier()
    step = compile(classifier.step)
    (x, y), *_ = _batches()
    step(x, y)
    step(x, y)  # the verification trace
    (traced,) = step.programs.values()
    for _ in range(3):
        classifier.calls += 1
        step(x, y)
    assert step.programs.popitem()[1] is traced


# ------------------------------------------------------------------ Python state changed
class _Trainer:
    def __init__(self) -> None:
        self.model = _model()
        self.optimizer = cr.optim.SGD(self.model.parameters(), lr=0.1)
        self.steps = 0
        self.history: list[cr.Tensor] = []


# PyTorch's test/dynamo/test_global.py changes a global counter and global containers inside
# compiled functions (torch.compile repeats those effects); a replay here repeats no Python
# code, so each is refused while tracing, naming what changed.
PYTHON_EFFECTS: dict[str, tuple[Callable[[_Trainer, cr.Tensor], None], str]] = {
    "a counter": (lambda trainer, loss: setattr(trainer, "steps", trainer.steps + 1), "steps"),
    "a list appended to": (lambda trainer, loss: trainer.history.append(loss), "history"),
    "a new attribute": (lambda trainer, loss: setattr(trainer, "last", loss), "attributes"),
    "the model's mode": (lambda trainer, loss: trainer.model.eval(), "training"),
}


@pytest.mark.parametrize(("effect", "named"), PYTHON_EFFECTS.values(), ids=PYTHON_EFFECTS)
def test_python_state_changed_inside_the_step_is_refused_naming_it(
    effect: Callable[[_Trainer, cr.Tensor], None], named: str
) -> None:
    trainer = _Trainer()

    def step(x: np.ndarray, y: np.ndarray) -> cr.Tensor:
        trainer.optimizer.zero_grad()
        loss = F.cross_entropy(trainer.model(x), y)
        loss.backward()
        trainer.optimizer.step()
        effect(trainer, loss)
        return loss

    (x, y), *_ = _batches()
    with pytest.raises(CompileError, match=f"changed .*{named}.*outside the compiled step"):
        compile(step)(x, y)


def test_model_train_inside_the_step_of_a_model_already_training_is_allowed() -> None:
    """The common `model.train()` at the top of a step changes nothing while the model is
    training, so the step compiles (and replays exactly)."""

    def setup() -> tuple[cr.nn.Module, Callable[..., Any], Callable[[int], None]]:
        model = _model()
        optimizer = cr.optim.SGD(model.parameters(), lr=0.1)
        inner = _training_step(model, optimizer)

        def step(x: np.ndarray, y: np.ndarray) -> cr.Tensor:
            model.train()
            return inner(x, y)

        return model, step, lambda index: None

    _assert_compiled_equals_eager(setup, "numpy")


# ------------------------------------------------------------------ NumPy writes into parameters
# WGAN's weight clipping, as PyTorch code writes it (`p.data.clamp_(-c, c)` after the
# optimizer's step), ported with NumPy: eagerly it clips every call, a replay never would.
NUMPY_WRITES: dict[str, Callable[[cr.Tensor], None]] = {
    "np.clip(out=p.data)": lambda p: np.clip(p.data, -0.05, 0.05, out=p.data),
    "p.numpy()[...] *=": lambda p: p.numpy().__imul__(0.99),
    "p.data[...] =": lambda p: p.data.__setitem__(..., 0.0),
}


@pytest.mark.parametrize("write", NUMPY_WRITES.values(), ids=NUMPY_WRITES)
def test_a_numpy_write_into_a_parameter_inside_the_step_is_refused(
    write: Callable[[cr.Tensor], None],
) -> None:
    model = _model()
    optimizer = cr.optim.SGD(model.parameters(), lr=0.1)
    inner = _training_step(model, optimizer)

    def step(x: np.ndarray, y: np.ndarray) -> cr.Tensor:
        loss = inner(x, y)  # the optimizer's own update still writes the arrays
        for parameter in model.parameters():
            write(parameter)
        return loss

    (x, y), *_ = _batches()
    with pytest.raises(CompileError, match=r"NumPy code in the step.*outside the compiled step"):
        compile(step)(x, y)
    assert all(p.numpy().flags.writeable for p in model.parameters())


# ------------------------------------------------------------------ NumPy views of arguments
# PyTorch code flattens images in the step (`x.view(x.size(0), -1)`); ported with NumPy on the
# raw argument, the view made while tracing would be read on every replay.
ARGUMENT_VIEWS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "reshape": lambda x: x.reshape(len(x), -1),
    "slice": lambda x: x[:, :4],
    "transpose": lambda x: x.T,
}


@pytest.mark.parametrize("view", ARGUMENT_VIEWS.values(), ids=ARGUMENT_VIEWS)
def test_a_numpy_view_of_an_argument_made_in_the_step_is_refused(
    view: Callable[[np.ndarray], np.ndarray],
) -> None:
    model = _model()
    optimizer = cr.optim.SGD(model.parameters(), lr=0.1)
    inner = _training_step(model, optimizer)
    (x, y), *_ = _batches()
    shaped = {"reshape": x.reshape(8, 2, 2), "slice": np.hstack([x, x]), "transpose": x.T.copy()}

    def step(raw: np.ndarray, labels: np.ndarray) -> cr.Tensor:
        return inner(view(raw), labels)

    argument = next(a for a in shaped.values() if view(a).shape == x.shape)
    with pytest.raises(CompileError, match=r"NumPy view of argument 0.*chainrule ops"):
        compile(step)(argument, y)


def test_the_same_view_made_with_chainrule_ops_replays_each_calls_values() -> None:
    def setup() -> tuple[cr.nn.Module, Callable[..., Any], Callable[[int], None]]:
        model = _model()
        inner = _training_step(model, cr.optim.SGD(model.parameters(), lr=0.1))

        def step(x: np.ndarray, y: np.ndarray) -> cr.Tensor:
            return inner(cr.tensor(x).reshape(8, 2, 2).reshape(8, -1), y)

        return model, step, lambda index: None

    _assert_compiled_equals_eager(setup, "numpy")


# ------------------------------------------------------------------ arguments
def test_a_tensor_argument_that_requires_grad_is_refused() -> None:
    """Eagerly backward sets the argument's .grad; a replay computes no gradient for an
    argument, so its .grad would stay unset (and an optimizer over it would skip it)."""
    model = _model()
    optimizer = cr.optim.SGD(model.parameters(), lr=0.1)
    step = compile(_training_step(model, optimizer))
    (x, y), *_ = _batches()
    with pytest.raises(CompileError, match=r"argument 0 .*requires grad.*t\.detach\(\)"):
        step(cr.tensor(x, requires_grad=True), y)


@pytest.mark.parametrize("backend", ["numpy"])
def test_a_loss_modules_setting_changed_between_calls_is_used_by_the_next_call(
    backend: str,
) -> None:
    def setup() -> tuple[cr.nn.Module, Callable[..., Any], Callable[[int], None]]:
        model = _model()
        optimizer = cr.optim.SGD(model.parameters(), lr=0.1)
        loss_fn = cr.nn.CrossEntropyLoss()

        def step(x: np.ndarray, y: np.ndarray) -> cr.Tensor:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            return loss

        def between(index: int) -> None:
            if index == 1:
                loss_fn.label_smoothing = 0.2

        return model, step, between

    _assert_compiled_equals_eager(setup, backend)


def test_a_list_of_penalty_tensors_extended_between_calls_is_used_by_the_next_call() -> None:
    def setup() -> tuple[cr.nn.Module, Callable[..., Any], Callable[[int], None]]:
        model = _model()
        optimizer = cr.optim.SGD(model.parameters(), lr=0.1)
        penalties: list[cr.Tensor] = []

        def step(x: np.ndarray, y: np.ndarray) -> cr.Tensor:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            for penalty in penalties:
                loss = loss + (model[0].weight * penalty).sum()
            loss.backward()
            optimizer.step()
            return loss

        def between(index: int) -> None:
            if index == 1:
                penalties.append(cr.tensor(np.full((4, 6), 0.01)))

        return model, step, between

    _assert_compiled_equals_eager(setup, "numpy")


# ------------------------------------------------------------------ XLA
# Found by the audit while compiler/xla.py was rewritten; the deferred backend passes them
# (a change of the groups makes the next call a trace and the one after it its check).
@NEEDS_JAX
def test_xla_a_param_group_added_between_calls_matches_eager() -> None:
    def setup() -> tuple[cr.nn.Module, Callable[..., Any], Callable[[int], None]]:
        model = _model()
        first, *rest = model.children()
        optimizer = cr.optim.SGD(first.parameters(), lr=0.1)

        def between(index: int) -> None:
            if index == 1:
                optimizer.add_param_group({"params": [p for m in rest for p in m.parameters()]})

        return model, _training_step(model, optimizer), between

    _assert_compiled_equals_eager(setup, "xla")


@NEEDS_JAX
def test_xla_a_parameter_removed_from_its_param_group_between_calls_is_no_longer_updated() -> None:
    def setup() -> tuple[cr.nn.Module, Callable[..., Any], Callable[[int], None]]:
        model = _model()
        optimizer = cr.optim.SGD(model.parameters(), lr=0.1)

        def between(index: int) -> None:
            if index == 1:
                group = optimizer.param_groups[0]
                group["params"] = group["params"][:2]

        return model, _training_step(model, optimizer), between

    _assert_compiled_equals_eager(setup, "xla")


def _closed_over_weights_setup(
    write: Callable[[np.ndarray, int], None], shape: tuple[int, ...] = (3,)
) -> Callable[[], tuple[cr.nn.Module, Callable[..., Any], Callable[[int], None]]]:
    def setup() -> tuple[cr.nn.Module, Callable[..., Any], Callable[[int], None]]:
        model = _model()
        optimizer = cr.optim.SGD(model.parameters(), lr=0.1)
        class_weights = np.ones(shape)

        def step(x: np.ndarray, y: np.ndarray) -> cr.Tensor:
            optimizer.zero_grad()
            loss = (model(x) * class_weights).sum()
            loss.backward()
            optimizer.step()
            return loss

        return model, step, lambda index: write(class_weights, index)

    return setup


@pytest.mark.parametrize("backend", ["numpy", pytest.param("xla", marks=NEEDS_JAX)])
def test_a_large_closed_over_array_written_in_place_between_calls_is_used(backend: str) -> None:
    # The guards compare an array's values at each call whatever its size (1200 weights,
    # more than the 1024 they once stopped at): the write traces it again.
    def write(weights: np.ndarray, index: int) -> None:
        weights[...] = 1.0 + index

    _assert_compiled_equals_eager(_closed_over_weights_setup(write, (400, 1, 3)), backend)


@NEEDS_JAX
def test_xla_a_small_closed_over_array_written_in_place_between_calls_is_used() -> None:
    # The guards compare a small array's values at each call: the write traces it again.
    def write(weights: np.ndarray, index: int) -> None:
        weights[...] = 1.0 + index

    _assert_compiled_equals_eager(_closed_over_weights_setup(write), "xla")


@NEEDS_JAX
def test_xla_a_closed_over_array_written_after_a_flush_is_used_by_the_next_call() -> None:
    from chainrule.compiler.xla import flush

    def write(weights: np.ndarray, index: int) -> None:
        flush()
        weights[...] = 1.0 + index

    _assert_compiled_equals_eager(_closed_over_weights_setup(write), "xla")
