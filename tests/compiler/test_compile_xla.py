"""compile(step, backend="xla"): the traced step as one jitted JAX function, with chainrule's
own rules, equal to eager execution (to float32 rounding in float32; in float64 to 1e-12,
as XLA's matrix products sum in another order than OpenBLAS's), keeping the parameters and
the optimizer state the user sees up to date.

The compile-vs-eager checks of test_compile.py and test_compile_stale_values.py are run
here on both backends: the NumPy replay bit for bit, the XLA program to the tolerances above.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import functional as F
from chainrule.compiler import CompileError, compile
from chainrule.modes import record_effect

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)  # the float64 checks; float32 stays float32
jnp = pytest.importorskip("jax.numpy")

BACKENDS = ["numpy", "xla"]
STEPS = 20

# Relative tolerance of XLA against eager, per dtype: the products sum in another order, and
# exp/log are XLA's own; 20 optimizer steps compound the rounding.
RTOL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 2e-5}


def _assert_close(got: Any, expected: Any, backend: str) -> None:
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.shape == expected.shape
    assert got.dtype == expected.dtype
    if backend == "numpy":
        assert np.array_equal(got, expected)
        return
    rtol = RTOL[expected.dtype]
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol * np.abs(expected).max())


def _mlp(sizes: list[int], dtype: Any, seed: int = 3) -> cr.nn.Module:
    rng = np.random.default_rng(seed)
    layers: list[cr.nn.Module] = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        layers += [cr.nn.Linear(fan_in, fan_out, rng=rng, dtype=dtype), cr.nn.ReLU()]
    return cr.nn.Sequential(*layers[:-1])


OPTIMIZERS: dict[str, Callable[[Any], cr.optim.Optimizer]] = {
    "sgd-momentum": lambda params: cr.optim.SGD(params, lr=0.05, momentum=0.9),
    "sgd-nesterov-decay": lambda params: cr.optim.SGD(
        params, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-2
    ),
    "sgd-dampening": lambda params: cr.optim.SGD(params, lr=0.05, momentum=0.5, dampening=0.3),
    "adam": lambda params: cr.optim.Adam(params, lr=1e-2),
    "adamw": lambda params: cr.optim.AdamW(params, lr=1e-2, weight_decay=0.1),
}

LOSSES: dict[str, Callable[[cr.Tensor, Any], cr.Tensor]] = {
    "mse": F.mse_loss,
    "cross-entropy": F.cross_entropy,
}


def _batches(
    rng: np.random.Generator, loss: str, dtype: Any, sizes: list[int], count: int = STEPS
) -> list[tuple[np.ndarray, np.ndarray]]:
    batches = []
    for _ in range(count):
        x = rng.standard_normal((8, sizes[0])).astype(dtype)
        if loss == "mse":
            target = rng.standard_normal((8, sizes[-1])).astype(dtype)
        else:
            target = rng.integers(0, sizes[-1], 8)
        batches.append((x, target))
    return batches


def _train(
    backend: str | None,
    make_optimizer: Callable[[Any], cr.optim.Optimizer],
    loss_fn: Callable[[cr.Tensor, Any], cr.Tensor],
    batches: list[tuple[np.ndarray, np.ndarray]],
    dtype: Any,
    sizes: list[int],
    flat: bool = False,
) -> tuple[list[np.ndarray], cr.nn.Module, cr.optim.Optimizer]:
    """Train a fresh MLP on `batches`, eagerly (backend None) or compiled; with `flat`, its
    parameters in one flat buffer."""
    model = _mlp(sizes, dtype)
    if flat:
        model.flatten_parameters()
    optimizer = make_optimizer(model.parameters())

    def step(x: np.ndarray, target: np.ndarray) -> cr.Tensor:
        optimizer.zero_grad()
        loss = loss_fn(model(cr.tensor(x)), target)
        loss.backward()
        optimizer.step()
        return loss

    run = step if backend is None else compile(step, backend=backend)
    losses = [run(x, target).numpy().copy() for x, target in batches]
    return losses, model, optimizer


def _compare_training(
    backend: str,
    optimizer: str,
    loss: str,
    dtype: Any,
    rng: np.random.Generator,
    sizes: list[int] | None = None,
    flat: bool = False,
) -> None:
    sizes = sizes or [5, 16, 12, 3]
    batches = _batches(rng, loss, dtype, sizes)
    make, loss_fn = OPTIMIZERS[optimizer], LOSSES[loss]
    eager_losses, eager_model, eager_optimizer = _train(
        None, make, loss_fn, batches, dtype, sizes, flat
    )
    losses, model, compiled_optimizer = _train(backend, make, loss_fn, batches, dtype, sizes, flat)
    for got, expected in zip(losses, eager_losses, strict=True):
        _assert_close(got, expected, backend)
    for got, expected in zip(model.parameters(), eager_model.parameters(), strict=True):
        _assert_close(got.data, expected.data, backend)
        assert got.grad is not None
        assert expected.grad is not None
        _assert_close(got.grad.data, expected.grad.data, backend)
    got_state = compiled_optimizer.state_dict()["state"]
    expected_state = eager_optimizer.state_dict()["state"]
    assert got_state.keys() == expected_state.keys()
    for index, entries in expected_state.items():
        assert got_state[index].keys() == entries.keys()
        for name, value in entries.items():
            if isinstance(value, np.ndarray):
                _assert_close(got_state[index][name], value, backend)
            else:
                assert got_state[index][name] == value


# ------------------------------------------------------------------ equal to eager
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("optimizer", ["sgd-momentum", "adam"])
def test_xla_mlp_training_equals_eager_to_float32_rounding(
    rng: np.random.Generator, optimizer: str, loss: str
) -> None:
    _compare_training("xla", optimizer, loss, np.float32, rng)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("optimizer", ["sgd-nesterov-decay", "sgd-dampening", "adamw"])
def test_compiled_training_equals_eager_in_float64(
    rng: np.random.Generator, backend: str, optimizer: str
) -> None:
    _compare_training(backend, optimizer, "cross-entropy", np.float64, rng)


@pytest.mark.parametrize("optimizer", ["sgd-nesterov-decay", "adamw"])
def test_xla_training_of_parameters_in_a_flat_buffer_equals_eager(
    rng: np.random.Generator, optimizer: str
) -> None:
    _compare_training("xla", optimizer, "mse", np.float64, rng, flat=True)


@pytest.mark.parametrize("backend", BACKENDS)
def test_new_batch_size_retraces_and_matches_eager(rng: np.random.Generator, backend: str) -> None:
    sizes = [4, 6, 3]
    batches = [(rng.standard_normal((n, 4)), rng.integers(0, 3, n)) for n in (5, 5, 3, 3, 5, 3)]
    make, loss_fn = OPTIMIZERS["sgd-momentum"], LOSSES["cross-entropy"]
    eager, *_ = _train(None, make, loss_fn, batches, np.float64, sizes)
    model = _mlp(sizes, np.float64)
    optimizer = make(model.parameters())

    def step(x: np.ndarray, target: np.ndarray) -> cr.Tensor:
        optimizer.zero_grad()
        loss = loss_fn(model(cr.tensor(x)), target)
        loss.backward()
        optimizer.step()
        return loss

    compiled = compile(step, backend=backend)
    for (x, target), expected in zip(batches, eager, strict=True):
        _assert_close(compiled(x, target).numpy(), expected, backend)
    assert compiled.trace_count == 2


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradients_accumulate_when_the_step_does_not_zero_them(
    rng: np.random.Generator, backend: str
) -> None:
    weight = cr.tensor(rng.standard_normal((3, 2)), requires_grad=True)

    def step(x: np.ndarray) -> cr.Tensor:
        loss = (cr.tensor(x) @ weight).sum()
        loss.backward()
        return loss

    compiled = compile(step, backend=backend)
    x = rng.standard_normal((4, 3))
    for _ in range(3):
        compiled(x)
    assert weight.grad is not None
    expected = 3 * np.broadcast_to(x.sum(axis=0)[:, None], (3, 2))
    np.testing.assert_allclose(weight.grad.numpy(), expected, rtol=1e-12)


# ------------------------------------------------------------------ schedules
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_scheduler_stepped_outside_the_step_changes_lr_without_a_retrace(
    rng: np.random.Generator, backend: str
) -> None:
    sizes = [4, 6, 3]
    batches = _batches(rng, "cross-entropy", np.float64, sizes, count=6)
    histories = []
    for compiled in (False, True):
        model = _mlp(sizes, np.float64)
        optimizer = cr.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
        scheduler = cr.optim.StepLR(optimizer, step_size=1, gamma=0.5)

        def step(
            x: np.ndarray, target: np.ndarray, model: Any = model, optimizer: Any = optimizer
        ) -> cr.Tensor:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(cr.tensor(x)), target)
            loss.backward()
            optimizer.step()
            return loss

        run = compile(step, backend=backend) if compiled else step
        losses = []
        for x, target in batches:
            losses.append(run(x, target).numpy().copy())
            scheduler.step()
        histories.append(losses)
        if compiled:
            assert run.trace_count == 1
    for got, expected in zip(*reversed(histories), strict=True):
        _assert_close(got, expected, backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_scheduler_stepped_inside_the_step_is_replayed(
    rng: np.random.Generator, backend: str
) -> None:
    sizes = [4, 6, 3]
    batches = _batches(rng, "cross-entropy", np.float64, sizes, count=6)
    histories = []
    for compiled in (False, True):
        model = _mlp(sizes, np.float64)
        optimizer = cr.optim.Adam(model.parameters(), lr=0.1)
        scheduler = cr.optim.CosineAnnealingLR(optimizer, T_max=4)

        def step(
            x: np.ndarray,
            target: np.ndarray,
            model: Any = model,
            optimizer: Any = optimizer,
            scheduler: Any = scheduler,
        ) -> cr.Tensor:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(cr.tensor(x)), target)
            loss.backward()
            optimizer.step()
            scheduler.step()
            return loss

        run = compile(step, backend=backend) if compiled else step
        losses = [run(x, target).numpy().copy() for x, target in batches]
        histories.append((losses, scheduler.get_last_lr()))
    (eager, eager_lr), (replayed, replayed_lr) = histories
    assert replayed_lr == eager_lr
    for got, expected in zip(replayed, eager, strict=True):
        _assert_close(got, expected, backend)


def test_a_scheduler_stepped_before_the_optimizer_step_is_refused(
    rng: np.random.Generator,
) -> None:
    model = _mlp([4, 3], np.float64)
    optimizer = cr.optim.SGD(model.parameters(), lr=0.1)
    scheduler = cr.optim.StepLR(optimizer, step_size=1)

    def step(x: np.ndarray) -> cr.Tensor:
        optimizer.zero_grad()
        loss = model(cr.tensor(x)).sum()
        loss.backward()
        scheduler.step()
        optimizer.step()
        return loss

    with pytest.raises(CompileError, match=r"scheduler.*before.*backend='numpy'"):
        compile(step, backend="xla")(rng.standard_normal((2, 4)))


# ------------------------------------------------------------------ refusals
class HandSGD:
    """An optimizer of the user's own: its step is Python the XLA program cannot run."""

    def __init__(self, params: list[cr.Tensor]) -> None:
        self.params = params

    def step(self) -> None:
        record_effect(self.step)
        for param in self.params:
            assert param.grad is not None
            param.data -= 0.1 * param.grad.data


def test_an_effect_the_xla_backend_cannot_express_is_refused_naming_it(
    rng: np.random.Generator,
) -> None:
    weight = cr.tensor(rng.standard_normal((3, 2)), requires_grad=True)
    optimizer = HandSGD([weight])

    def step(x: np.ndarray) -> cr.Tensor:
        loss = (cr.tensor(x) @ weight).sum()
        loss.backward()
        optimizer.step()
        return loss

    with pytest.raises(CompileError, match=r"HandSGD\.step.*backend='numpy' \(the default\)"):
        compile(step, backend="xla")(rng.standard_normal((4, 3)))


def test_an_optimizer_with_step_hooks_is_refused(rng: np.random.Generator) -> None:
    model = _mlp([4, 3], np.float64)
    optimizer = cr.optim.SGD(model.parameters(), lr=0.1)
    optimizer.register_step_post_hook(lambda _: None)

    def step(x: np.ndarray) -> cr.Tensor:
        optimizer.zero_grad()
        loss = model(cr.tensor(x)).sum()
        loss.backward()
        optimizer.step()
        return loss

    with pytest.raises(CompileError, match=r"SGD has step hooks.*backend='numpy'"):
        compile(step, backend="xla")(rng.standard_normal((2, 4)))


def test_an_unknown_backend_is_refused() -> None:
    with pytest.raises(ValueError, match=r"backend must be 'numpy' or 'xla', got 'tpu'"):
        compile(lambda: None, backend="tpu")


def test_float64_without_jax_x64_is_refused_with_the_fix(rng: np.random.Generator) -> None:
    weight = cr.tensor(rng.standard_normal((3, 2)), requires_grad=True)
    compiled = compile(lambda x: (cr.tensor(x) @ weight).sum(), backend="xla")
    with jax.enable_x64(False), pytest.raises(CompileError, match="jax_enable_x64"):
        compiled(rng.standard_normal((4, 3)))


# ------------------------------------------------------------------ chainrule's own rules
def test_the_program_calls_no_jax_autodiff(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("JAX autodiff was called")

    for name in ("grad", "value_and_grad", "vjp", "jvp", "linearize", "jacrev", "jacfwd"):
        monkeypatch.setattr(jax, name, refuse)
    _compare_training("xla", "adam", "cross-entropy", np.float64, rng, sizes=[4, 6, 3])


# ------------------------------------------------------------------ state
def _sgd_setup(
    rng: np.random.Generator,
) -> tuple[cr.nn.Module, cr.optim.Optimizer, Callable[..., cr.Tensor]]:
    model = _mlp([4, 6, 3], np.float64)
    model.flatten_parameters()  # the fast path, which a changed parameter leaves
    optimizer = cr.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    def step(x: np.ndarray, target: np.ndarray) -> cr.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(cr.tensor(x)), target)
        loss.backward()
        optimizer.step()
        return loss

    return model, optimizer, step


@pytest.mark.parametrize(
    "change",
    [
        lambda p: setattr(p, "data", p.data * 0.5),
        lambda p: p.mul_(0.5),
        lambda p: (p.data.__imul__(0.5), p.increment_version()),
    ],
    ids=["data-assignment", "in-place-op", "numpy-write-with-increment-version"],
)
def test_a_parameter_changed_between_calls_is_used_by_the_next_call(
    rng: np.random.Generator, change: Callable[[cr.Tensor], Any]
) -> None:
    batches = _batches(rng, "cross-entropy", np.float64, [4, 6, 3], count=4)
    results = []
    for backend in (None, "xla"):
        model, _, step = _sgd_setup(rng)
        run = step if backend is None else compile(step, backend=backend)
        for number, (x, target) in enumerate(batches):
            if number == 2:
                with cr.no_grad():
                    change(next(iter(model.parameters())))
            loss = run(x, target).numpy().copy()
        results.append((loss, [p.data.copy() for p in model.parameters()]))
    (eager_loss, eager_params), (loss, params) = results
    _assert_close(loss, eager_loss, "xla")
    for got, expected in zip(params, eager_params, strict=True):
        _assert_close(got, expected, "xla")


def test_an_eager_step_after_compiled_steps_continues_from_their_state(
    rng: np.random.Generator,
) -> None:
    batches = _batches(rng, "cross-entropy", np.float64, [4, 6, 3], count=5)
    results = []
    for backend in (None, "xla"):
        model, _, step = _sgd_setup(rng)
        run = step if backend is None else compile(step, backend=backend)
        for x, target in batches[:-1]:
            run(x, target)
        step(*batches[-1])  # eager, reading .data and the momentum buffers
        results.append([p.data.copy() for p in model.parameters()])
    for got, expected in zip(*reversed(results), strict=True):
        _assert_close(got, expected, "xla")


def test_a_loaded_checkpoint_is_used_by_the_next_call(rng: np.random.Generator) -> None:
    batches = _batches(rng, "cross-entropy", np.float64, [4, 6, 3], count=6)
    model, optimizer, step = _sgd_setup(rng)
    compiled = compile(step, backend="xla")
    for x, target in batches[:2]:
        compiled(x, target)
    saved_model, saved_optimizer = model.state_dict(), optimizer.state_dict()
    after = [compiled(x, target).item() for x, target in batches[2:4]]
    model.load_state_dict(saved_model)
    optimizer.load_state_dict(saved_optimizer)
    again = [compiled(x, target).item() for x, target in batches[2:4]]
    np.testing.assert_allclose(again, after, rtol=1e-12)


def test_jax_arrays_are_accepted_as_arguments(rng: np.random.Generator) -> None:
    batches = _batches(rng, "cross-entropy", np.float64, [4, 6, 3], count=4)
    results = []
    for on_device in (False, True):
        _, _, step = _sgd_setup(rng)
        compiled = compile(step, backend="xla")
        convert = jnp.asarray if on_device else np.asarray
        results.append([compiled(convert(x), convert(t)).item() for x, t in batches])
    assert results[0] == results[1]


def test_returned_values_do_not_change_on_later_calls(rng: np.random.Generator) -> None:
    _, _, step = _sgd_setup(rng)
    compiled = compile(step, backend="xla")
    batches = _batches(rng, "cross-entropy", np.float64, [4, 6, 3], count=3)
    compiled(*batches[0])
    second = compiled(*batches[1])
    kept = second.item()
    compiled(*batches[2])
    assert second.item() == kept


def test_optimizer_state_changed_between_calls_is_used_after_increment_version(
    rng: np.random.Generator,
) -> None:
    batches = _batches(rng, "cross-entropy", np.float64, [4, 6, 3], count=4)
    results = []
    for backend in (None, "xla"):
        model, optimizer, step = _sgd_setup(rng)
        run = step if backend is None else compile(step, backend=backend)
        for number, (x, target) in enumerate(batches):
            if number == 2:
                param = next(iter(model.parameters()))
                optimizer.state[param]["momentum_buffer"][...] = 0.0
                param.increment_version()
            run(x, target)
        results.append([p.data.copy() for p in model.parameters()])
    for got, expected in zip(*reversed(results), strict=True):
        _assert_close(got, expected, "xla")


# ------------------------------------------------------------------ maximize and amsgrad
OPTIMIZERS["sgd-maximize-decay"] = lambda params: cr.optim.SGD(
    params, lr=0.01, momentum=0.9, weight_decay=1e-2, maximize=True
)
OPTIMIZERS["adam-maximize-l2"] = lambda params: cr.optim.Adam(
    params, lr=1e-2, weight_decay=1e-2, maximize=True
)
OPTIMIZERS["adam-amsgrad"] = lambda params: cr.optim.Adam(params, lr=1e-2, amsgrad=True)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("optimizer", ["sgd-maximize-decay", "adam-maximize-l2"])
def test_compiled_training_with_maximize_equals_eager(
    rng: np.random.Generator, backend: str, optimizer: str
) -> None:
    # The XLA program's functional updates read maximize from the group, as eager does.
    _compare_training(backend, optimizer, "cross-entropy", np.float64, rng)


def test_amsgrad_compiled_for_numpy_equals_eager(rng: np.random.Generator) -> None:
    _compare_training("numpy", "adam-amsgrad", "cross-entropy", np.float64, rng)


def test_amsgrad_compiled_for_xla_is_refused_naming_the_fix(rng: np.random.Generator) -> None:
    # Its running maximum has no functional form there: refused rather than dropped.
    with pytest.raises(CompileError, match=r"amsgrad=True .* compile's NumPy backend"):
        _compare_training("xla", "adam-amsgrad", "mse", np.float64, rng)


def test_amsgrad_for_xla_is_a_compile_error_when_the_program_is_made() -> None:
    weight = cr.tensor(np.ones((3, 2)), requires_grad=True)
    optimizer = cr.optim.Adam([weight], lr=1e-2, amsgrad=True)

    def step(x: np.ndarray) -> cr.Tensor:
        optimizer.zero_grad()
        loss = ((cr.tensor(x) @ weight) ** 2).sum()
        loss.backward()
        optimizer.step()
        return loss

    compiled = compile(step, backend="xla")
    with pytest.raises(CompileError, match=r"backend='xla'.*amsgrad"):
        compiled(np.ones((4, 3)))
    assert optimizer.state[weight]["step"] == 1  # the one eager run of the trace, no more
