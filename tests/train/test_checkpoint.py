"""Checkpoint files: arrays split from JSON and back, atomic pairs, torn and corrupt pairs."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

from chainrule.data import ArrayDataset, DataLoader
from chainrule.train import TrainConfig
from chainrule.train import checkpoint as checkpoint_module
from chainrule.train.checkpoint import (
    ARRAYS_FILE,
    META_FILE,
    CheckpointError,
    join_arrays,
    load_checkpoint,
    save_checkpoint,
    split_arrays,
)


def sample_meta() -> dict:
    """A run checkpoint's meta as the schema wants it: two epochs of Adam, no schedule."""
    config = TrainConfig(epochs=2, schedule="constant")
    record = {
        "train_loss": 0.5,
        "val_loss": 0.6,
        "val_accuracy": 0.8,
        "seconds": 0.1,
        "samples_per_s": 1e4,
        "lr": 0.1,
    }
    return {
        "epoch": 2,
        "config": config.to_json(),
        "model": {"0.weight": np.arange(6.0).reshape(2, 3)},
        "optimizer": {
            "state": {
                0: {
                    "step": np.int64(3),
                    "exp_avg": np.ones(2, np.float32),
                    "exp_avg_sq": np.ones(2, np.float32),
                }
            },
            "param_groups": [
                {"lr": 0.1, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0, "params": [0]}
            ],
        },
        "scheduler": None,
        "loader": DataLoader(ArrayDataset(np.zeros((4, 2))), batch_size=2).state_dict(),
        "dropout_rngs": [],
        "history": [{"epoch": 1, **record}, {"epoch": 2, **record}],
        "class_names": ["0", "1"],
    }


def test_split_leaves_plain_json_and_join_restores_arrays_and_scalars() -> None:
    arrays: dict[str, np.ndarray] = {}
    plain = split_arrays(sample_meta(), "", arrays)
    restored = join_arrays(json.loads(json.dumps(plain)), arrays)
    assert sorted(arrays) == [
        "model/0.weight",
        "optimizer/state/0/exp_avg",
        "optimizer/state/0/exp_avg_sq",
        "optimizer/state/0/step",
    ]
    step = restored["optimizer"]["state"]["0"]["step"]
    assert type(step) is np.int64
    assert step == 3
    np.testing.assert_array_equal(restored["model"]["0.weight"], np.arange(6.0).reshape(2, 3))


def test_saved_checkpoint_loads_from_folder_or_either_file(tmp_path: Path) -> None:
    save_checkpoint(tmp_path, sample_meta())
    for location in (tmp_path, tmp_path / META_FILE, tmp_path / ARRAYS_FILE):
        meta = load_checkpoint(location).meta
        assert meta["epoch"] == 2
        assert meta["optimizer"]["state"]["0"]["exp_avg"].dtype == np.float32


def test_npz_loads_without_pickle(tmp_path: Path) -> None:
    save_checkpoint(tmp_path, sample_meta())
    with np.load(tmp_path / ARRAYS_FILE, allow_pickle=False) as stored:
        assert stored["model/0.weight"].shape == (2, 3)


def test_no_temporary_files_stay_behind(tmp_path: Path) -> None:
    save_checkpoint(tmp_path, sample_meta())
    save_checkpoint(tmp_path, sample_meta())
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([ARRAYS_FILE, META_FILE])


def test_torn_pair_is_detected(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "old", sample_meta())
    newer = sample_meta() | {"epoch": 3}
    newer["model"]["0.weight"] = newer["model"]["0.weight"] + 1
    save_checkpoint(tmp_path / "new", newer)
    (tmp_path / "old" / ARRAYS_FILE).write_bytes((tmp_path / "new" / ARRAYS_FILE).read_bytes())
    with pytest.raises(CheckpointError, match=r"does not match .*the pair is torn"):
        load_checkpoint(tmp_path / "old")


def test_truncated_json_is_a_clear_error(tmp_path: Path) -> None:
    save_checkpoint(tmp_path, sample_meta())
    text = (tmp_path / META_FILE).read_text()
    (tmp_path / META_FILE).write_text(text[: len(text) // 2])
    with pytest.raises(CheckpointError, match=r"not valid JSON.*corrupt or truncated"):
        load_checkpoint(tmp_path)


def test_missing_npz_is_named(tmp_path: Path) -> None:
    save_checkpoint(tmp_path, sample_meta())
    (tmp_path / ARRAYS_FILE).unlink()
    with pytest.raises(CheckpointError, match=r"checkpoint.npz is missing"):
        load_checkpoint(tmp_path)


def test_folder_without_checkpoint_says_what_is_expected(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"no checkpoint at .*expected a run folder"):
        load_checkpoint(tmp_path)


def test_a_first_save_cut_off_before_its_json_says_there_is_nothing_to_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The folder then counts as holding a run (a new run there is refused), and resuming
    # it said only "expected a run folder holding checkpoint.json and checkpoint.npz".
    real_write = checkpoint_module.write_atomically

    def killed_before_the_json(path: Path, payload: bytes) -> None:
        if path.name == META_FILE:
            raise SystemExit("killed")
        real_write(path, payload)

    monkeypatch.setattr(checkpoint_module, "write_atomically", killed_before_the_json)
    with pytest.raises(SystemExit):
        save_checkpoint(tmp_path, sample_meta())
    monkeypatch.undo()
    assert sorted(path.name for path in tmp_path.iterdir()) == [ARRAYS_FILE]
    with pytest.raises(
        CheckpointError, match=r"stopped while saving its first checkpoint.*another --out"
    ):
        load_checkpoint(tmp_path)


def test_other_json_is_not_taken_for_a_checkpoint(tmp_path: Path) -> None:
    (tmp_path / META_FILE).write_text('{"epoch": 1}')
    with pytest.raises(CheckpointError, match=r"not a chainrule train checkpoint"):
        load_checkpoint(tmp_path)


def test_a_save_cut_off_between_its_two_renames_leaves_the_old_checkpoint_loadable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def meta_with_weights(offset: float) -> dict:
        meta = sample_meta()
        meta["model"]["0.weight"] = meta["model"]["0.weight"] + offset
        return meta

    def saved_weights() -> np.ndarray:
        return load_checkpoint(tmp_path).meta["model"]["0.weight"]

    real_write = checkpoint_module.write_atomically

    def killed_before_the_json(path: Path, payload: bytes) -> None:
        if path.name == META_FILE:
            raise SystemExit("killed")  # the process dies: the npz is replaced, the json not
        real_write(path, payload)

    save_checkpoint(tmp_path, meta_with_weights(0.0))
    monkeypatch.setattr(checkpoint_module, "write_atomically", killed_before_the_json)
    with pytest.raises(SystemExit):
        save_checkpoint(tmp_path, meta_with_weights(1.0))
    monkeypatch.undo()
    np.testing.assert_array_equal(saved_weights(), np.arange(6.0).reshape(2, 3))
    # The next save, cut off the same way, still leaves that checkpoint loadable; a whole
    # save then replaces it and leaves no extra file behind.
    monkeypatch.setattr(checkpoint_module, "write_atomically", killed_before_the_json)
    with pytest.raises(SystemExit):
        save_checkpoint(tmp_path, meta_with_weights(2.0))
    monkeypatch.undo()
    np.testing.assert_array_equal(saved_weights(), np.arange(6.0).reshape(2, 3))
    save_checkpoint(tmp_path, meta_with_weights(3.0))
    np.testing.assert_array_equal(saved_weights(), np.arange(6.0).reshape(2, 3) + 3.0)
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([ARRAYS_FILE, META_FILE])


def test_a_kept_npz_left_by_a_save_cut_off_after_its_json_is_not_taken_for_the_current(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    older, current = sample_meta(), sample_meta()
    current["model"]["0.weight"] = current["model"]["0.weight"] + 1.0
    save_checkpoint(tmp_path / "older", older)
    save_checkpoint(tmp_path, current)
    # The save of `current` stopped after replacing the json, before removing the kept npz.
    kept = tmp_path / checkpoint_module.PREVIOUS_ARRAYS_FILE
    kept.write_bytes((tmp_path / "older" / ARRAYS_FILE).read_bytes())
    real_write = checkpoint_module.write_atomically

    def killed_before_the_json(path: Path, payload: bytes) -> None:
        if path.name == META_FILE:
            raise SystemExit("killed")
        real_write(path, payload)

    newer = sample_meta()
    newer["model"]["0.weight"] = newer["model"]["0.weight"] + 2.0
    monkeypatch.setattr(checkpoint_module, "write_atomically", killed_before_the_json)
    with pytest.raises(SystemExit):
        save_checkpoint(tmp_path, newer)
    monkeypatch.undo()
    np.testing.assert_array_equal(
        load_checkpoint(tmp_path).meta["model"]["0.weight"], current["model"]["0.weight"]
    )


def test_a_checkpoint_replaced_while_it_is_read_is_read_again_not_called_torn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `chainrule evaluate` during a training: a whole save can land between reading the json
    # and the npz; the pair on disk is whole, and "restore it or start a new run" would be
    # wrong advice.
    save_checkpoint(tmp_path, sample_meta())
    newer = sample_meta()
    newer["model"]["0.weight"] = newer["model"]["0.weight"] + 1.0
    real_read_text = Path.read_text
    saved = []

    def a_save_lands_after_the_json_is_read(path: Path, *args: object, **kwargs: object) -> str:
        text = real_read_text(path, *args, **kwargs)  # type: ignore[arg-type]
        if path.name == META_FILE and not saved:
            saved.append(path)
            save_checkpoint(tmp_path, newer)
        return text

    monkeypatch.setattr(Path, "read_text", a_save_lands_after_the_json_is_read)
    loaded = load_checkpoint(tmp_path)
    monkeypatch.undo()
    assert saved
    np.testing.assert_array_equal(loaded.meta["model"]["0.weight"], newer["model"]["0.weight"])


class _Killed(BaseException):
    """The process dies at this point of a save."""


@pytest.mark.parametrize("first_cut", range(7))
@pytest.mark.parametrize("second_cut", range(7))
def test_a_save_killed_at_any_rename_link_or_unlink_loads_a_matching_pair(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, first_cut: int, second_cut: int
) -> None:
    # Two saves in a row, each killed at its n-th file operation (0: not killed): what loads
    # is always one whole save, its json with its own npz, and never one older than the
    # last one loaded.
    def meta_of(save: int) -> dict:
        meta = sample_meta()  # the save's number in the json (a loss) and in the npz
        meta["history"][-1]["train_loss"] = float(save)
        meta["model"]["0.weight"] = np.full((2, 3), float(save))
        return meta

    operations = {"replace": os.replace, "link": os.link, "unlink": Path.unlink}
    save_checkpoint(tmp_path, meta_of(1))
    finished = 1
    for epoch, cut in ((2, first_cut), (3, second_cut)):
        count = [0]

        def killing(real, cut=cut, count=count):  # type: ignore[no-untyped-def]
            def operation(*args, **kwargs):  # type: ignore[no-untyped-def]
                count[0] += 1
                if count[0] == cut:
                    raise _Killed
                return real(*args, **kwargs)

            return operation

        with monkeypatch.context() as patch, contextlib.suppress(_Killed):
            patch.setattr(os, "replace", killing(operations["replace"]))
            patch.setattr(os, "link", killing(operations["link"]))
            patch.setattr(Path, "unlink", killing(operations["unlink"]))
            save_checkpoint(tmp_path, meta_of(epoch))
        loaded = load_checkpoint(tmp_path).meta
        save = loaded["history"][-1]["train_loss"]
        assert save in (finished, epoch)
        np.testing.assert_array_equal(loaded["model"]["0.weight"], np.full((2, 3), save))
        if cut == 0:
            assert save == epoch
        finished = int(save)  # a save killed after its json was replaced is a whole one


def test_a_meta_json_cannot_hold_leaves_the_saved_pair_as_it_was(tmp_path: Path) -> None:
    # The npz was written before json.dumps failed: a new npz beside the old json (a torn
    # pair), or in a new folder an npz alone, which marks it as holding a run.
    checkpoint_module.save_checkpoint(tmp_path / "old", {"epoch": 1, "w": np.ones(3)})
    before = {path.name: path.read_bytes() for path in (tmp_path / "old").iterdir()}
    unserialisable = {"epoch": 2, "w": np.zeros(3), "data": Path("idx")}
    with pytest.raises(TypeError, match="not JSON serializable"):
        checkpoint_module.save_checkpoint(tmp_path / "old", unserialisable)
    assert {path.name: path.read_bytes() for path in (tmp_path / "old").iterdir()} == before
    with pytest.raises(TypeError, match="not JSON serializable"):
        checkpoint_module.save_checkpoint(tmp_path / "new", unserialisable)
    assert not (tmp_path / "new" / checkpoint_module.ARRAYS_FILE).exists()
