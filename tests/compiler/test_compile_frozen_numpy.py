"""compile: a NumPy value the step computes from an argument outside chainrule's ops
(np.eye(k)[y], x[idx], y.astype(float), np.log(x)) would be frozen by the trace at the first
call's value. The second call of a signature traces again and compares the two traces: a
constant whose values differ is refused with a CompileError naming the op it fed; constants
that are truly constant compile and replay bit for bit as eagerly.

The refused cases mirror what jax.jit refuses (JAX's api_test: a tracer cannot be converted to
a NumPy array), here as a comparison of two traces rather than an abstract value.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import functional as F
from chainrule.compiler import CompileError, compile

CLASSES = 4


def _model_and_optimizer(seed: int = 0) -> tuple[cr.nn.Linear, cr.optim.SGD]:
    model = cr.nn.Linear(6, CLASSES, rng=np.random.default_rng(seed))
    return model, cr.optim.SGD(model.parameters(), lr=0.1)


def _batches(count: int = 4) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(1)
    return [(rng.standard_normal((5, 6)), rng.integers(0, CLASSES, 5)) for _ in range(count)]


def _training_step(loss_of: Callable[[Any, np.ndarray, np.ndarray], cr.Tensor]) -> Any:
    model, optimizer = _model_and_optimizer()

    def step(x: np.ndarray, y: np.ndarray) -> cr.Tensor:
        optimizer.zero_grad()
        loss = loss_of(model, x, y)
        loss.backward()
        optimizer.step()
        return loss

    return step, model


def _onehot_numpy(model: Any, x: np.ndarray, y: np.ndarray) -> cr.Tensor:
    return F.mse_loss(model(cr.tensor(x)), np.eye(CLASSES)[y])


# Each value below has a shape no argument has: the trace's shape check (`_refuse_derived`)
# cannot tell it from a constant, only the second call's values can.
def _indexed_numpy(model: Any, x: np.ndarray, y: np.ndarray) -> cr.Tensor:
    return F.mse_loss(model(cr.tensor(x[y[:3]])), np.zeros((3, CLASSES)))


def _astype_numpy(model: Any, x: np.ndarray, y: np.ndarray) -> cr.Tensor:
    weights = y.astype(np.float64)[:, None]
    return F.mse_loss(model(cr.tensor(x)) * weights, np.zeros((5, CLASSES)))


def _log_numpy(model: Any, x: np.ndarray, y: np.ndarray) -> cr.Tensor:
    shift = np.log(x[:, :CLASSES] ** 2 + 1.0)
    return F.mse_loss(model(cr.tensor(x)) + shift, np.zeros((5, CLASSES)))


FROZEN = {
    "onehot": _onehot_numpy,
    "index": _indexed_numpy,
    "astype": _astype_numpy,
    "log": _log_numpy,
}


@pytest.mark.parametrize("case", list(FROZEN))
def test_a_numpy_value_computed_from_an_argument_is_refused_on_the_second_call(
    case: str,
) -> None:
    step, _ = _training_step(FROZEN[case])
    compiled = compile(step)
    (x0, y0), (x1, y1), *_ = _batches()
    compiled(x0, y0)
    with pytest.raises(CompileError, match=r"second call .* neither an argument") as error:
        compiled(x1, y1)
    message = str(error.value)
    assert "of shape (" in message
    assert "chainrule ops" in message
    assert "pass it as an argument" in message
    assert "eagerly" in message


def test_the_refusal_names_the_op_the_frozen_value_fed() -> None:
    step, _ = _training_step(_onehot_numpy)
    compiled = compile(step)
    (x0, y0), (x1, y1), *_ = _batches()
    compiled(x0, y0)
    with pytest.raises(CompileError, match=r"of shape \(5, 4\).*input 1 of \w+"):
        compiled(x1, y1)


def test_a_refused_step_never_replays_the_frozen_value() -> None:
    step, _ = _training_step(_onehot_numpy)
    compiled = compile(step)
    (x0, y0), (x1, y1), *_ = _batches()
    compiled(x0, y0)
    with pytest.raises(CompileError):
        compiled(x1, y1)
    compiled(x0, y0)  # traced afresh, not replayed
    with pytest.raises(CompileError):
        compiled(x1, y1)


def test_the_same_batch_twice_then_another_is_refused_not_replayed_frozen() -> None:
    # Equal constants prove nothing when the arguments were equal too: the check waits for
    # a call with other data (this replayed the first one-hot silently before).
    step, _ = _training_step(_onehot_numpy)
    compiled = compile(step)
    (x0, y0), (x1, y1), *_ = _batches()
    compiled(x0, y0)
    compiled(x0, y0)
    assert compiled.unverified
    with pytest.raises(CompileError, match=r"neither an argument"):
        compiled(x1, y1)


def test_the_same_labels_with_other_inputs_then_other_labels_is_refused() -> None:
    # The one-hot depends on y alone: an argument that repeats may be what a constant came
    # from, even if another argument changed.
    step, _ = _training_step(_onehot_numpy)
    compiled = compile(step)
    (x0, y0), (x1, _), (x2, y2), _ = _batches()
    compiled(x0, y0)
    compiled(x1, y0)
    with pytest.raises(CompileError, match=r"neither an argument"):
        compiled(x2, y2)


def test_a_step_with_an_array_constant_on_the_same_batch_every_call_replays_right() -> None:
    # Full-batch training with a constant the step makes afresh: it can never be told from
    # one computed from the data, so the replay holds only while the batch stays the same
    # (its digest is compared at each call), never a guess.
    eager_step, eager_model = _training_step(_constant_loss)
    step, model = _training_step(_constant_loss)
    compiled = compile(step)
    x, y = _batches(1)[0]
    for _ in range(4):
        expected = eager_step(x, y).numpy()
        assert np.array_equal(compiled(x, y).numpy(), expected)
    assert compiled.traces == 2
    assert np.array_equal(model.weight.numpy(), eager_model.weight.numpy())


def test_a_true_constant_is_verified_by_the_first_call_with_other_data() -> None:
    eager_step, eager_model = _training_step(_constant_loss)
    step, model = _training_step(_constant_loss)
    compiled = compile(step)
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = _batches()
    for x, y in [(x0, y0), (x0, y0), (x1, y1), (x2, y2), (x3, y3)]:
        expected = eager_step(x, y).numpy()
        assert np.array_equal(compiled(x, y).numpy(), expected)
    assert compiled.traces == 3  # the third call's trace checked the second's
    assert not compiled.unverified
    assert np.array_equal(model.weight.numpy(), eager_model.weight.numpy())


def test_a_one_hot_step_replays_the_same_batch_from_the_third_call() -> None:
    step, _ = _training_step(_one_hot_with_chainrule)
    compiled = compile(step)
    x, y = _batches(1)[0]
    for _ in range(4):
        compiled(x, y)
    assert compiled.traces == 2


def test_an_index_array_computed_from_an_argument_is_refused() -> None:
    # Frozen as an op's parameter rather than as an input: the indices of a gather.
    def loss_of(model: Any, x: np.ndarray, y: np.ndarray) -> cr.Tensor:
        rows = cr.tensor(x)[np.argsort(y, kind="stable")[:3]]
        return F.mse_loss(model(rows), np.zeros((3, CLASSES)))

    step, _ = _training_step(loss_of)
    compiled = compile(step)
    (x0, y0), (x1, y1), *_ = _batches()
    compiled(x0, y0)
    with pytest.raises(CompileError, match=r"of shape \(3,\) \(dtype int64\) had other values"):
        compiled(x1, y1)


def test_python_state_the_guards_do_not_see_that_changes_before_the_second_call_is_refused(
    tmp_path: Path,
) -> None:
    # A file's contents are not followed by the guards: only the verification trace can see
    # that the value read into the op changed. (The file is opened outside the step: a file
    # the step's own code opens is refused at once, test_compile_outside_reads.py.)
    model, optimizer = _model_and_optimizer()
    scale = tmp_path / "scale.txt"
    scale.write_text("0.1")

    with scale.open() as handle:

        def step(x: np.ndarray, y: np.ndarray) -> cr.Tensor:
            optimizer.zero_grad()
            loss = F.mse_loss(model(cr.tensor(x)), cr.one_hot(y, CLASSES, dtype=np.float64))
            handle.seek(0)
            scaled = loss * float(handle.read())
            scaled.backward()
            optimizer.step()
            return loss

        compiled = compile(step)
        (x0, y0), (x1, y1), *_ = _batches()
        compiled(x0, y0)
        scale.write_text("0.05")
        with pytest.raises(CompileError, match=r"shape \(\) .*input 1 of mul.*Python state"):
            compiled(x1, y1)


def test_an_lr_read_into_an_op_that_changes_before_the_second_call_is_traced_afresh() -> None:
    # The guards watch the param_groups entries the step names: a change is a new trace.
    def lr_scaled_step(model: Any, optimizer: Any) -> Callable[..., cr.Tensor]:
        def step(x: np.ndarray, y: np.ndarray) -> cr.Tensor:
            optimizer.zero_grad()
            loss = F.mse_loss(model(cr.tensor(x)), cr.one_hot(y, CLASSES, dtype=np.float64))
            scaled = loss * optimizer.param_groups[0]["lr"]
            scaled.backward()
            optimizer.step()
            return loss

        return step

    runs = []
    for compiled_run in (False, True):
        model, optimizer = _model_and_optimizer()
        step = lr_scaled_step(model, optimizer)
        run = compile(step) if compiled_run else step
        losses = []
        for index, (x, y) in enumerate(_batches(4)):
            if index == 1:
                optimizer.param_groups[0]["lr"] = 0.05
            losses.append(run(x, y).item())
        runs.append((losses, model.weight.numpy().copy()))
    (eager, eager_weight), (replayed, replayed_weight) = runs
    assert replayed == eager
    assert np.array_equal(replayed_weight, eager_weight)


def _constant_loss(model: Any, x: np.ndarray, y: np.ndarray) -> cr.Tensor:
    return F.mse_loss(model(cr.tensor(x)), np.eye(CLASSES)[:1] * 0.5 + TARGET_SHIFT)


TARGET_SHIFT = np.full((5, CLASSES), 0.25)


def _one_hot_with_chainrule(model: Any, x: np.ndarray, y: np.ndarray) -> cr.Tensor:
    return F.mse_loss(model(cr.tensor(x)), cr.one_hot(y, CLASSES, dtype=np.float64))


@pytest.mark.parametrize("loss_of", [_constant_loss, _one_hot_with_chainrule])
def test_true_constants_compile_and_replay_bit_for_bit_as_eagerly(
    loss_of: Callable[..., cr.Tensor],
) -> None:
    eager_step, eager_model = _training_step(loss_of)
    step, model = _training_step(loss_of)
    compiled = compile(step)
    for x, y in _batches(5):
        expected = eager_step(x, y).numpy()
        got = compiled(x, y).numpy()
        assert got.shape == expected.shape
        assert got.dtype == expected.dtype
        assert np.array_equal(got, expected)
    assert np.array_equal(model.weight.numpy(), eager_model.weight.numpy())
    assert compiled.traces == 2


def test_a_training_step_is_traced_twice_per_signature_then_replayed() -> None:
    step, _ = _training_step(_one_hot_with_chainrule)
    compiled = compile(step)
    for x, y in _batches(4) + [(x[:3], y[:3]) for x, y in _batches(3)]:
        compiled(x, y)
    assert compiled.trace_count == 2
    assert compiled.traces == 4  # per signature: the trace, then its verification


def test_a_change_of_python_state_between_the_two_traces_starts_the_check_afresh() -> None:
    model, optimizer = _model_and_optimizer()

    def step(x: np.ndarray, y: np.ndarray) -> cr.Tensor:
        optimizer.zero_grad()
        loss = F.mse_loss(model(cr.tensor(x)), cr.one_hot(y, 4, dtype=np.float64))
        loss.backward()
        optimizer.step()
        return loss

    compiled = compile(step)
    batches = _batches(4)
    compiled(*batches[0])
    model.weight.requires_grad_(False)
    compiled(*batches[1])  # a retrace for the flag: the first trace is not its reference
    compiled(*batches[2])
    compiled(*batches[3])
    assert compiled.traces == 3


# ------------------------------------------------------------------ the XLA backend
def _xla_float64() -> None:
    pytest.importorskip("jax")
    from chainrule.compiler.xla import enable_float64

    enable_float64()  # float64 on JAX, as test_compile_xla.py


def test_xla_refuses_a_numpy_one_hot_of_an_argument() -> None:
    _xla_float64()
    step, _ = _training_step(_onehot_numpy)
    compiled = compile(step, backend="xla")
    (x0, y0), (x1, y1), *_ = _batches()
    compiled(x0, y0)
    with pytest.raises(CompileError, match=r"second call .* neither an argument"):
        compiled(x1, y1)


def test_xla_refuses_a_numpy_one_hot_after_the_same_batch_twice() -> None:
    _xla_float64()
    step, _ = _training_step(_onehot_numpy)
    compiled = compile(step, backend="xla")
    (x0, y0), (x1, y1), *_ = _batches()
    compiled(x0, y0)
    compiled(x0, y0)
    with pytest.raises(CompileError, match=r"neither an argument"):
        compiled(x1, y1)


def test_xla_replays_a_step_with_true_constants_after_its_verification() -> None:
    _xla_float64()
    eager_step, _ = _training_step(_constant_loss)
    step, _ = _training_step(_constant_loss)
    compiled = compile(step, backend="xla")
    for x, y in _batches(3):
        expected = eager_step(x, y).numpy()
        got = compiled(x, y).numpy()
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert compiled.traces == 2


def test_xla_a_deferred_step_collected_while_another_step_is_traced_writes_back() -> None:
    # Its write-back sets .grad; the other step's tracer must not take that for its own.
    _xla_float64()
    eager_step, eager_model = _training_step(_constant_loss)
    step, model = _training_step(_constant_loss)
    cycle: list[Any] = [compile(step, backend="xla")]
    cycle.append(cycle)  # only the cycle collector frees it: inside the other trace
    batches = _batches(3)
    for x, y in batches:
        eager_step(x, y)
        cycle[0](x, y)  # the third call replays: deferred on the device
    other_step, _ = _training_step(_constant_loss)

    def other(x: np.ndarray, y: np.ndarray) -> cr.Tensor:
        gc.collect()
        loss: cr.Tensor = other_step(x, y)
        return loss

    gc.disable()
    try:
        del cycle
        compile(other)(*batches[0])
    finally:
        gc.enable()
    assert type(model.weight) is cr.nn.Parameter
    np.testing.assert_allclose(
        model.weight.numpy(), eager_model.weight.numpy(), rtol=2e-5
    )  # float32


# --- review-e: siblings of the same-batch check. An inconclusive check (equal constants,
# an argument equal too) replays while those arguments keep their values, and checks again
# at the first call where one differs.
def _scaled_by_its_batch(model: Any, x: np.ndarray, y: np.ndarray) -> cr.Tensor:
    # A Python float computed from the argument: traced as a 0-d constant (and no array
    # constant beside it, which would make the check wait for other data).
    return ((model(cr.tensor(x)) * float(np.abs(x).max())) ** 2).mean()


def test_a_scalar_computed_from_the_same_batch_twice_is_not_replayed_frozen() -> None:
    eager_step, _ = _training_step(_scaled_by_its_batch)
    step, _ = _training_step(_scaled_by_its_batch)
    compiled = compile(step)
    (x0, y0), (x1, y1), *_ = _batches()
    for x, y in [(x0, y0), (x0, y0)]:
        eager_step(x, y)
        compiled(x, y)
    expected = eager_step(x1, y1).numpy()
    try:
        got = compiled(x1, y1).numpy()
    except CompileError:
        return  # refused: as good as right
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_a_fixed_argument_does_not_keep_a_step_with_a_constant_from_replaying() -> None:
    model, optimizer = _model_and_optimizer()

    def step(x: np.ndarray, y: np.ndarray, weights: np.ndarray) -> cr.Tensor:
        optimizer.zero_grad()
        mask = cr.tensor(np.ones((5, CLASSES)))  # a true constant, made afresh each call
        loss = F.mse_loss(model(cr.tensor(x)) * mask * cr.tensor(weights), np.zeros((5, CLASSES)))
        loss.backward()
        optimizer.step()
        return loss

    compiled = compile(step)
    weights = np.linspace(0.5, 2.0, CLASSES)
    for x, y in _batches():
        compiled(x, y, weights)
    assert compiled.traces == 2


def test_one_hot_inferring_its_class_count_from_the_labels_is_refused_in_a_step() -> None:
    # The count came from the traced batch's largest label: a later batch whose largest
    # label was smaller replayed rows of the traced width (eagerly narrower), silently.
    def loss_of(model: Any, x: np.ndarray, y: np.ndarray) -> cr.Tensor:
        return F.mse_loss(model(cr.tensor(x)), cr.one_hot(y, dtype=np.float64))

    step, _ = _training_step(loss_of)
    x, _ = _batches(1)[0]
    with pytest.raises(CompileError, match=r"num_classes=-1.*pass num_classes"):
        compile(step)(x, np.arange(5) % CLASSES)


def test_a_negative_label_in_a_replayed_one_hot_is_refused_as_eagerly() -> None:
    step, _ = _training_step(_one_hot_with_chainrule)
    compiled = compile(step)
    (x0, y0), (x1, y1), (x2, y2), _ = _batches()
    compiled(x0, y0)
    compiled(x1, y1)
    y2 = y2.copy()
    y2[0] = -1  # checked in Python eagerly; plain indexing took it as the last class
    with pytest.raises(ValueError, match=r"one_hot.*index -1 is outside \[0, 3\]"):
        compiled(x2, y2)


@pytest.mark.parametrize("label", [-1, CLASSES])
@pytest.mark.parametrize("loss", ["nll_loss", "label_smoothing"])
def test_a_label_outside_the_classes_in_a_replayed_nll_loss_is_refused_as_eagerly(
    loss: str, label: int
) -> None:
    # The range check ran in Python before the node was made, which a replay skips: -1 was
    # taken as the last class (NumPy's wrap), silently.
    def loss_of(model: Any, x: np.ndarray, y: np.ndarray) -> cr.Tensor:
        logits = model(cr.tensor(x))
        if loss == "nll_loss":
            return F.nll_loss(logits.log_softmax(axis=1), y)
        return F.cross_entropy(logits, y, label_smoothing=0.1)

    step, _ = _training_step(loss_of)
    compiled = compile(step)
    (x0, y0), (x1, y1), (x2, y2), _ = _batches()
    compiled(x0, y0)
    compiled(x1, y1)
    y2 = y2.copy()
    y2[1] = label
    with pytest.raises(ValueError, match=rf"target {label} is outside the {CLASSES} classes"):
        compiled(x2, y2)


@pytest.mark.parametrize("index", [-1, 10])
def test_an_index_outside_the_table_in_a_replayed_embedding_is_refused_as_eagerly(
    index: int,
) -> None:
    # As nll_loss: the check ran in Python before the node was made; a replay read (and
    # trained) the last row for -1.
    table = cr.nn.Embedding(10, 3)
    optimizer = cr.optim.SGD(table.parameters(), lr=0.1)

    def step(indices: np.ndarray) -> cr.Tensor:
        optimizer.zero_grad()
        loss = (table(indices) ** 2).mean()
        loss.backward()
        optimizer.step()
        return loss

    compiled = compile(step)
    compiled(np.array([0, 1, 2]))
    compiled(np.array([3, 4, 5]))
    before = table.weight.numpy().copy()
    with pytest.raises(ValueError, match=rf"embedding.*index {index} is outside \[0, 9\]"):
        compiled(np.array([6, index, 2]))
    np.testing.assert_array_equal(table.weight.numpy(), before)


def test_a_replay_on_a_repeated_batch_checks_again_when_the_batch_changes() -> None:
    # The same batch three times (replayed on its digest), then another: traced and checked,
    # a one-hot of the labels refused rather than replayed.
    step, _ = _training_step(_onehot_numpy)
    compiled = compile(step)
    (x0, y0), (x1, y1), *_ = _batches()
    for _ in range(3):
        compiled(x0, y0)
    assert compiled.traces == 2
    with pytest.raises(CompileError, match=r"neither an argument"):
        compiled(x1, y1)


def test_a_batch_refilled_in_place_is_not_replayed_on_its_old_values() -> None:
    # The same array object each call, other values: the digest, not the identity, decides.
    eager_step, _ = _training_step(_scaled_by_its_batch)
    step, _ = _training_step(_scaled_by_its_batch)
    compiled = compile(step)
    batches = _batches()
    x, y = batches[0][0].copy(), batches[0][1].copy()
    for index in (0, 0, 1):
        x[...], y[...] = batches[index]
        expected = eager_step(x, y).numpy()
        try:
            got = compiled(x, y).numpy()
        except CompileError:
            return  # refused: as good as right
        np.testing.assert_allclose(got, expected, rtol=1e-12)
    raise AssertionError("the float computed from the batch was not refused")


def test_xla_replays_the_same_batch_every_call_right_and_refuses_a_scalar_of_another() -> None:
    # Full-batch training on JAX arrays: replayed on the batch's digest; then another batch
    # is traced, and the float the step computed from the first one is refused.
    _xla_float64()
    import jax.numpy as jnp

    eager_step, _ = _training_step(_scaled_by_its_batch)
    step, _ = _training_step(_scaled_by_its_batch)
    compiled = compile(step, backend="xla")
    (x0, y0), (x1, y1), *_ = _batches()
    device = jnp.asarray(x0), jnp.asarray(y0)
    for _ in range(3):
        expected = eager_step(x0, y0).numpy()
        np.testing.assert_allclose(compiled(*device).numpy(), expected, rtol=1e-12)
    assert compiled.traces == 2
    with pytest.raises(CompileError, match=r"neither an argument"):
        compiled(jnp.asarray(x1), jnp.asarray(y1))
