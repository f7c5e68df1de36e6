"""The training loop: both engines agree, resume is exact, the run folder's files."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from training_helpers import fit, without_timing

from chainrule.nn.flat import buffer_of
from chainrule.train import TrainConfig, Trainer, load_checkpoint, train
from chainrule.train.checkpoint import save_checkpoint
from chainrule.train.datasets import Splits, data_fingerprint
from chainrule.train.loop import resumed_config
from chainrule.train.metrics import KEYS, read_metrics
from chainrule.train.run_folder import RunFolderError

SMALL = TrainConfig(
    model="mlp",
    hidden=(16, 8),
    epochs=4,
    batch_size=64,
    seed=3,
    dtype="float64",
    optimizer="momentum",
    schedule="constant",
)


@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
def test_manual_and_autograd_engines_give_the_same_loss_curve(
    tmp_path: Path, digits64: Splits, optimizer: str
) -> None:
    config = dataclasses.replace(SMALL, epochs=3, optimizer=optimizer)
    autograd = fit(config, tmp_path / "autograd", digits64)
    manual = fit(dataclasses.replace(config, engine="manual"), tmp_path / "manual", digits64)
    for key in ("train_loss", "val_loss", "val_accuracy"):
        got = np.array([record[key] for record in manual.history])
        expected = np.array([record[key] for record in autograd.history])
        assert got.shape == expected.shape == (3,)
        np.testing.assert_allclose(got, expected, rtol=1e-12, err_msg=key)
    for name, weight in autograd.engine.state_dict().items():
        np.testing.assert_allclose(
            manual.engine.state_dict()[name], weight, rtol=1e-10, atol=1e-13, err_msg=name
        )


def test_two_epochs_resumed_for_two_more_equal_four_straight(
    tmp_path: Path, digits64: Splits
) -> None:
    straight = fit(SMALL, tmp_path / "straight", digits64)
    fit(dataclasses.replace(SMALL, epochs=2), tmp_path / "split", digits64)
    checkpoint = load_checkpoint(tmp_path / "split")
    resumed = Trainer(resumed_config(checkpoint, 4), tmp_path / "split", splits=digits64)
    resumed.restore(checkpoint)
    resumed.fit(progress=False, echo=lambda line: None)
    for name, weight in straight.engine.state_dict().items():
        np.testing.assert_array_equal(resumed.engine.state_dict()[name], weight)
    assert without_timing(resumed.history) == without_timing(straight.history)
    assert without_timing(read_metrics(tmp_path / "split")) == without_timing(straight.history)


def test_metrics_have_one_line_per_epoch_with_every_key(tmp_path: Path, digits64: Splits) -> None:
    fit(dataclasses.replace(SMALL, epochs=2), tmp_path, digits64)
    records = read_metrics(tmp_path)
    assert [record["epoch"] for record in records] == [1, 2]
    assert all(tuple(record) == KEYS for record in records)


def test_manual_engine_refuses_dropout_and_compile() -> None:
    with pytest.raises(ValueError, match=r"--engine manual .* use --engine autograd"):
        TrainConfig(engine="manual", model="mlp", dropout=0.2)
    with pytest.raises(ValueError, match=r"--engine manual"):
        TrainConfig(engine="manual", compile=True)


def test_compiled_steps_give_the_eager_loss_curve(tmp_path: Path, digits64: Splits) -> None:
    config = dataclasses.replace(SMALL, epochs=2)
    eager = fit(config, tmp_path / "eager", digits64)
    compiled = fit(dataclasses.replace(config, compile=True), tmp_path / "compiled", digits64)
    assert without_timing(compiled.history) == without_timing(eager.history)


def test_dropout_generators_are_restored_on_resume(tmp_path: Path, digits64: Splits) -> None:
    config = dataclasses.replace(SMALL, dropout=0.2, epochs=3)
    straight = fit(config, tmp_path / "straight", digits64)
    fit(dataclasses.replace(config, epochs=1), tmp_path / "split", digits64)
    checkpoint = load_checkpoint(tmp_path / "split")
    resumed = Trainer(resumed_config(checkpoint, 3), tmp_path / "split", splits=digits64)
    resumed.restore(checkpoint)
    resumed.fit(progress=False, echo=lambda line: None)
    assert without_timing(resumed.history) == without_timing(straight.history)


def test_resuming_a_cosine_run_with_other_epochs_is_refused(
    tmp_path: Path, digits64: Splits
) -> None:
    fit(dataclasses.replace(SMALL, epochs=1, schedule="cosine"), tmp_path, digits64)
    with pytest.raises(ValueError, match=r"anneals its learning rate over 1 epochs"):
        resumed_config(load_checkpoint(tmp_path), 3)


def test_the_data_fingerprint_is_stable_and_changes_with_any_value(digits64: Splits) -> None:
    copy = dataclasses.replace(digits64, x_test=digits64.x_test.copy())
    assert data_fingerprint(copy) == data_fingerprint(digits64)
    copy.x_test[3, 5] += 1.0
    assert data_fingerprint(copy) != data_fingerprint(digits64)


def test_the_data_fingerprint_changes_with_the_dtype_or_the_class_names(digits64: Splits) -> None:
    as_float32 = dataclasses.replace(digits64, x_val=digits64.x_val.astype(np.float32))
    renamed = dataclasses.replace(digits64, class_names=("a", *digits64.class_names[1:]))
    assert data_fingerprint(as_float32) != data_fingerprint(digits64)
    assert data_fingerprint(renamed) != data_fingerprint(digits64)


def test_resuming_to_fewer_epochs_than_completed_is_refused(
    tmp_path: Path, digits64: Splits
) -> None:
    fit(dataclasses.replace(SMALL, epochs=2), tmp_path, digits64)
    with pytest.raises(ValueError, match=r"already completed 2 epochs; --epochs 1 is fewer"):
        resumed_config(load_checkpoint(tmp_path), 1)


@pytest.mark.parametrize(("setting", "value"), [("seed", -1), ("momentum", -0.5)])
def test_a_negative_seed_or_momentum_is_refused_naming_it(setting: str, value: float) -> None:
    with pytest.raises(ValueError, match=rf"--{setting} must be .*got {value}"):
        TrainConfig(**{setting: value})


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("seed", "0"),
        ("compile", "yes"),
        ("hidden", [16.5]),
        ("lr", "0.1"),
        ("dropout", None),
    ],
)
def test_a_saved_config_value_of_the_wrong_type_is_refused_naming_it(
    setting: str, value: object
) -> None:
    with pytest.raises(TypeError, match=rf"saved config's {setting} must be of type"):
        TrainConfig.from_json({**SMALL.to_json(), setting: value})


def test_autograd_engine_steps_its_parameters_in_one_flat_buffer(
    tmp_path: Path, digits64: Splits
) -> None:
    trainer = Trainer(SMALL, tmp_path, splits=digits64)
    params = trainer.engine.parameters()
    x, y = digits64.x_train[:64], digits64.y_train[:64]
    trainer.engine.train_step(x, y, trainer.optimizer)
    buffer = buffer_of(params[0])
    assert buffer is not None
    # After a step every parameter is still a view of the buffer, with its gradient in it:
    # the optimizer's step took the multi-tensor path over the whole span.
    assert buffer.span(params) == (0, sum(param.data.size for param in params))
    assert all(np.shares_memory(param.data, buffer.data) for param in params)


def _resume_in_place(folder: Path, epochs: int, splits: Splits) -> Trainer:
    checkpoint = load_checkpoint(folder)
    resumed = Trainer(resumed_config(checkpoint, epochs), folder, splits=splits)
    resumed.restore(checkpoint)
    resumed.fit(progress=False, echo=lambda line: None)
    return resumed


def test_a_compiled_adam_run_resumes_bit_for_bit(tmp_path: Path, digits64: Splits) -> None:
    config = dataclasses.replace(SMALL, epochs=3, optimizer="adam", compile=True)
    straight = fit(config, tmp_path / "straight", digits64)
    fit(dataclasses.replace(config, epochs=1), tmp_path / "split", digits64)
    resumed = _resume_in_place(tmp_path / "split", 3, digits64)
    assert resumed.notice is None
    for name, weight in straight.engine.state_dict().items():
        np.testing.assert_array_equal(resumed.engine.state_dict()[name], weight, err_msg=name)
    assert without_timing(resumed.history) == without_timing(straight.history)


def test_a_resumed_xla_run_says_it_continues_only_to_rounding(
    tmp_path: Path, digits64: Splits
) -> None:
    # The resumed process traces the step again, running its first steps eagerly in NumPy
    # where the uninterrupted run replayed XLA: the weights differ in the last bits, which
    # the run must say instead of claiming an exact resume.
    pytest.importorskip("jax")
    config = dataclasses.replace(SMALL, epochs=2, compile=True, compile_backend="xla")
    straight = fit(config, tmp_path / "straight", digits64)
    fit(dataclasses.replace(config, epochs=1), tmp_path / "split", digits64)
    resumed = _resume_in_place(tmp_path / "split", 2, digits64)
    assert resumed.notice is not None
    assert "--compile xla run" in resumed.notice
    assert "not bit for bit" in resumed.notice
    for name, weight in straight.engine.state_dict().items():
        np.testing.assert_allclose(
            resumed.engine.state_dict()[name], weight, rtol=1e-9, atol=1e-12, err_msg=name
        )
    assert [record["epoch"] for record in resumed.history] == [1, 2]


def test_an_xla_run_resumed_from_before_its_first_batch_claims_no_difference(
    tmp_path: Path, digits64: Splits
) -> None:
    # Killed in its first epoch, the run resumes from the checkpoint saved before the first
    # batch: the resumed process traces its steps where the uninterrupted run did.
    pytest.importorskip("jax")
    config = dataclasses.replace(SMALL, epochs=2, compile=True, compile_backend="xla")
    save_checkpoint(tmp_path, Trainer(config, tmp_path, splits=digits64).snapshot())
    resumed = Trainer(config, tmp_path, splits=digits64)
    resumed.restore(load_checkpoint(tmp_path))
    assert resumed.epoch == 0
    assert resumed.notice is None


def test_resuming_a_folder_that_another_training_advanced_meanwhile_is_refused(
    tmp_path: Path, digits64: Splits
) -> None:
    # Two `--resume` of one folder: the second read the checkpoint of epoch 2 while the first
    # still ran; taking the folder after the first finished, it must not rewind the run.
    fit(dataclasses.replace(SMALL, epochs=2), tmp_path, digits64)
    checkpoint = load_checkpoint(tmp_path)
    late = Trainer(resumed_config(checkpoint, 3), tmp_path, splits=digits64)
    late.restore(checkpoint)
    first = Trainer(resumed_config(checkpoint, 4), tmp_path, splits=digits64)
    first.restore(checkpoint)
    first.fit(progress=False, echo=lambda line: None)
    with pytest.raises(
        RunFolderError,
        match=r"changed since its checkpoint of epoch 2 was read: it now holds epoch 4 "
        r"\(another training continued it\); resume it again",
    ):
        late.fit(progress=False, echo=lambda line: None)
    assert load_checkpoint(tmp_path).meta["epoch"] == 4
    assert [record["epoch"] for record in read_metrics(tmp_path)] == [1, 2, 3, 4]


def test_train_takes_the_run_folder_as_a_string(tmp_path: Path) -> None:
    # A str folder failed with AttributeError: 'str' object has no attribute 'exists'.
    folder = tmp_path / "run"
    result = train(
        TrainConfig(epochs=1, batch_size=256),
        str(folder),
        progress=False,
        echo=lambda line: None,
    )
    assert result.folder == folder
    assert load_checkpoint(folder).meta["epoch"] == 1
