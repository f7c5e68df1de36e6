"""`chainrule train` and `chainrule evaluate` end to end on the digits: the run folder's
files, Ctrl-C, a killed run resumed bit for bit, and unusable checkpoints."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from idx_folders import write_idx_folder

from chainrule.cli import main
from chainrule.train.checkpoint import ARRAYS_FILE, META_FILE
from chainrule.train.loop import HANG_ENV, HANG_MARKER
from chainrule.train.metrics import KEYS, TIMING_KEYS, read_metrics

SMALL = ["--model", "mlp", "--hidden", "16", "--batch-size", "64", "--no-progress"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SRC = Path(__file__).resolve().parents[2] / "src"


def train(*args: str) -> int:
    return main(["train", *SMALL, *args])


# The child runs `python -m chainrule` with Python's own Ctrl-C handler installed: a child of
# a background job (`.ci/run &`) inherits SIGINT ignored, and Python then installs none.
CLI_WITH_CTRL_C = (
    "import runpy, signal, sys\n"
    "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
    "runpy.run_module('chainrule', run_name='__main__', alter_sys=True)\n"
)


@contextlib.contextmanager
def running_cli(*args: str, hang_after: int) -> Iterator[subprocess.Popen[str]]:
    """`chainrule train` in a child process with a known SIGINT disposition; killed (if
    still running) and reaped on every way out, failures included."""
    env = {
        **os.environ,
        HANG_ENV: str(hang_after),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])),
    }
    process = subprocess.Popen(
        [sys.executable, "-c", CLI_WITH_CTRL_C, "train", *SMALL, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
        process.wait()


def wait_for(path: Path, process: subprocess.Popen[str], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(f"the run ended before {path.name}: {process.communicate()}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"{path} did not appear in {timeout}s")
        time.sleep(0.02)


def weights(folder: Path) -> dict[str, np.ndarray]:
    with np.load(folder / ARRAYS_FILE, allow_pickle=False) as stored:
        return {key: stored[key] for key in stored.files if key.startswith("model/")}


def without_timing(folder: Path) -> list[dict]:
    return [
        {key: value for key, value in record.items() if key not in TIMING_KEYS}
        for record in read_metrics(folder)
    ]


def test_one_epoch_writes_metrics_plot_and_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert train("--epochs", "1", "--out", str(tmp_path)) == 0
    output = capsys.readouterr().out
    assert "epoch   1/1" in output
    assert output.rstrip().splitlines()[-1].startswith("test accuracy 0.")
    (record,) = read_metrics(tmp_path)
    assert tuple(record) == KEYS
    assert record["epoch"] == 1
    assert (tmp_path / "loss.png").read_bytes()[:8] == PNG_SIGNATURE
    with np.load(tmp_path / ARRAYS_FILE, allow_pickle=False) as stored:
        assert stored["model/0.weight"].shape == (64, 16)
    meta = json.loads((tmp_path / META_FILE).read_text())["meta"]
    assert meta["epoch"] == 1
    assert meta["config"]["hidden"] == [16]
    assert "rng_state" in meta["loader"]


def test_evaluate_prints_accuracy_and_writes_confusion_png(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train("--epochs", "1", "--out", str(tmp_path))
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / META_FILE)]) == 0
    output = capsys.readouterr().out
    assert "rows: true class, columns: predicted class" in output
    assert output.rstrip().splitlines()[-1].startswith("test accuracy 0.")
    assert (tmp_path / "confusion.png").read_bytes()[:8] == PNG_SIGNATURE


def test_a_torn_checkpoint_is_refused_with_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train("--epochs", "1", "--out", str(tmp_path))
    (tmp_path / ARRAYS_FILE).write_bytes((tmp_path / ARRAYS_FILE).read_bytes()[:-10])
    assert main(["train", "--resume", str(tmp_path)]) == 2
    assert "the pair is torn" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path)]) == 2


def test_resume_refuses_settings_that_differ_from_the_saved_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train("--epochs", "1", "--out", str(tmp_path))
    assert main(["train", "--resume", str(tmp_path), "--lr", "0.5"]) == 2
    assert "--lr 0.5 (saved: 0.003, adam's default)" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("saved", "given"),
    [
        ([], ["--lr", "0.003", "--weight-decay", "0"]),  # the defaults the run used
        (["--lr", "0.05"], ["--lr", "5e-2"]),
        (["--optimizer", "adamw"], ["--weight-decay", "0.01"]),
    ],
)
def test_resume_accepts_settings_equal_to_the_ones_the_run_used(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], saved: list[str], given: list[str]
) -> None:
    # Before, a run saved with the optimizer's default (None) refused that default given
    # again: "--lr 0.003 (saved: None)" was said to differ.
    train("--epochs", "1", "--out", str(tmp_path), *saved)
    capsys.readouterr()
    assert main(["train", "--resume", str(tmp_path), "--no-progress", *given]) == 0, (
        capsys.readouterr().err
    )


def test_a_new_run_does_not_overwrite_an_existing_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train("--epochs", "1", "--out", str(tmp_path))
    (tmp_path / "train.lock").unlink()  # as a run copied from elsewhere comes
    before = {path.name: path.read_bytes() for path in tmp_path.iterdir()}
    assert train("--epochs", "1", "--out", str(tmp_path)) == 2
    assert f"--resume {tmp_path}" in capsys.readouterr().err
    # refused: the folder is left as it was found, with no train.lock of the refused run
    assert {path.name: path.read_bytes() for path in tmp_path.iterdir()} == before


def test_a_new_run_into_a_folder_holding_only_old_plots_is_refused_naming_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train("--epochs", "1", "--out", str(tmp_path))
    assert main(["evaluate", str(tmp_path)]) == 0
    for name in (META_FILE, ARRAYS_FILE, "metrics.jsonl", "train.lock"):
        (tmp_path / name).unlink()
    plots = {name: (tmp_path / name).read_bytes() for name in ("loss.png", "confusion.png")}
    capsys.readouterr()
    assert train("--epochs", "1", "--out", str(tmp_path)) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line == (
        f"chainrule train: {tmp_path} holds loss.png, confusion.png from an earlier run (but "
        f"no checkpoint or metrics); a run written there would leave them looking like its "
        f"own: remove them, or choose another --out"
    )
    assert sorted(path.name for path in tmp_path.iterdir()) == ["confusion.png", "loss.png"]
    assert {name: (tmp_path / name).read_bytes() for name in plots} == plots


@pytest.mark.slow
def test_ctrl_c_saves_the_last_epoch_and_exits_130(tmp_path: Path) -> None:
    batches_per_epoch = 21
    with running_cli(
        "--epochs", "4", "--out", str(tmp_path), hang_after=batches_per_epoch + 5
    ) as process:
        wait_for(tmp_path / HANG_MARKER, process)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "interrupted: saved the checkpoint of epoch 1" in stderr
    assert json.loads((tmp_path / META_FILE).read_text())["meta"]["epoch"] == 1
    assert [record["epoch"] for record in read_metrics(tmp_path)] == [1]


@pytest.mark.slow
def test_the_ctrl_c_test_passes_when_started_with_sigint_ignored() -> None:
    """As under `bash .ci/run &`: a non-interactive shell's background job ignores SIGINT,
    and so does everything it starts."""
    command = 'trap "" INT; exec "$0" -m pytest -q -p no:cacheprovider "$1" -k ctrl_c_saves'
    result = subprocess.run(
        ["bash", "-c", command, sys.executable, __file__],
        cwd=SRC.parent,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(SRC)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


@pytest.mark.slow
def test_a_run_killed_mid_epoch_resumes_to_the_straight_result(tmp_path: Path) -> None:
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    assert train("--epochs", "4", "--out", str(straight)) == 0
    batches_per_epoch = 21
    with running_cli(
        "--epochs", "4", "--out", str(killed), hang_after=2 * batches_per_epoch + 7
    ) as process:
        wait_for(killed / HANG_MARKER, process)
        process.kill()
        process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    assert json.loads((killed / META_FILE).read_text())["meta"]["epoch"] == 2
    assert main(["train", "--resume", str(killed), "--no-progress"]) == 0
    expected = weights(straight)
    got = weights(killed)
    assert sorted(got) == sorted(expected)
    for key, array in expected.items():
        np.testing.assert_array_equal(got[key], array)
    assert without_timing(killed) == without_timing(straight)


def test_the_command_line_loads_no_plotting_progress_or_dataset_package() -> None:
    code = (
        "import sys, chainrule, chainrule.cli; print(sorted({m.split('.')[0] for m in "
        "sys.modules} & {'sklearn', 'torch', 'matplotlib', 'tqdm'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(SRC)},
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.slow
def test_a_run_killed_in_its_first_epoch_resumes_to_the_straight_result(tmp_path: Path) -> None:
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    assert train("--epochs", "2", "--out", str(straight)) == 0
    with running_cli("--epochs", "2", "--out", str(killed), hang_after=7) as process:
        wait_for(killed / HANG_MARKER, process)
        process.kill()
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    assert json.loads((killed / META_FILE).read_text())["meta"]["epoch"] == 0
    assert main(["train", "--resume", str(killed), "--no-progress"]) == 0
    expected = weights(straight)
    got = weights(killed)
    assert sorted(got) == sorted(expected)
    for key, array in expected.items():
        np.testing.assert_array_equal(got[key], array)
    assert without_timing(killed) == without_timing(straight)


def test_resuming_into_a_folder_holding_another_run_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, other = tmp_path / "a", tmp_path / "b"
    train("--epochs", "1", "--schedule", "constant", "--out", str(source))
    train("--epochs", "1", "--out", str(other))
    saved = (other / META_FILE).read_bytes(), read_metrics(other)
    capsys.readouterr()
    assert (
        main(
            [
                "train",
                "--resume",
                str(source),
                "--out",
                str(other),
                "--epochs",
                "2",
                "--no-progress",
            ]
        )
        == 2
    )
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"chainrule train: {other} already holds a run; resuming {source}")
    assert f"--resume {other}" in line
    assert ((other / META_FILE).read_bytes(), read_metrics(other)) == saved


def test_resuming_with_out_naming_the_resumed_folder_continues_it(tmp_path: Path) -> None:
    train("--epochs", "1", "--schedule", "constant", "--out", str(tmp_path))
    assert (
        main(
            [
                "train",
                "--resume",
                str(tmp_path / META_FILE),
                "--out",
                str(tmp_path),
                "--epochs",
                "2",
                "--no-progress",
            ]
        )
        == 0
    )
    assert [record["epoch"] for record in read_metrics(tmp_path)] == [1, 2]


@pytest.mark.slow
def test_a_second_training_in_a_folder_in_use_is_refused_naming_the_process(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with running_cli("--epochs", "2", "--out", str(tmp_path), hang_after=3) as process:
        wait_for(tmp_path / HANG_MARKER, process)
        assert main(["train", "--resume", str(tmp_path), "--no-progress"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"chainrule train: {tmp_path} is in use by process {process.pid} ")


def test_default_run_folders_started_in_the_same_second_differ(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(time, "strftime", lambda format: "20261130-064500")
    assert train("--epochs", "1") == 0
    assert train("--epochs", "1") == 0
    folders = sorted(path.name for path in (tmp_path / "runs").iterdir())
    assert folders == ["20261130-064500", "20261130-064500-2"]
    assert all(read_metrics(tmp_path / "runs" / name) for name in folders)


def test_resuming_on_changed_data_is_refused_naming_both_fingerprints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, run = tmp_path / "data", tmp_path / "run"
    write_idx_folder(data, seed=1)
    assert (
        train("--epochs", "1", "--schedule", "constant", "--data", str(data), "--out", str(run))
        == 0
    )
    saved = json.loads((run / META_FILE).read_text())["meta"]["data_fingerprint"]
    write_idx_folder(data, seed=2)
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--epochs", "2", "--no-progress"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("chainrule train: the data differ from the run's")
    assert f"{data.resolve()} (SHA-256 {saved['sha256'][:16]})" in line
    assert line.count(str(data.resolve())) == 2
    assert [record["epoch"] for record in read_metrics(run)] == [1]


def test_resuming_on_the_same_data_records_its_fingerprint(tmp_path: Path) -> None:
    data, run = tmp_path / "data", tmp_path / "run"
    write_idx_folder(data, seed=1)
    train("--epochs", "1", "--schedule", "constant", "--data", str(data), "--out", str(run))
    first = json.loads((run / META_FILE).read_text())["meta"]["data_fingerprint"]
    assert main(["train", "--resume", str(run), "--epochs", "2", "--no-progress"]) == 0
    second = json.loads((run / META_FILE).read_text())["meta"]["data_fingerprint"]
    assert second == first == {"sha256": first["sha256"], "source": str(data.resolve())}
    assert len(first["sha256"]) == 64


def test_a_checkpoint_without_a_data_fingerprint_resumes_with_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train("--epochs", "1", "--schedule", "constant", "--out", str(tmp_path))
    document = json.loads((tmp_path / META_FILE).read_text())
    del document["meta"]["data_fingerprint"]
    (tmp_path / META_FILE).write_text(json.dumps(document))
    capsys.readouterr()
    assert main(["train", "--resume", str(tmp_path), "--epochs", "2", "--no-progress"]) == 0
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(
        f"chainrule train: note: {tmp_path / META_FILE} has no fingerprint of its data"
    )
    assert [record["epoch"] for record in read_metrics(tmp_path)] == [1, 2]


DELETE = object()
"""A corruption that removes the key instead of setting it."""

CORRUPTIONS: dict[str, tuple[tuple[str | int, ...], object]] = {
    "meta-not-a-dict": (("meta",), [1]),
    "meta-missing": (("meta",), DELETE),
    "meta-unknown-key": (("meta", "colour"), "red"),
    "epoch-string": (("meta", "epoch"), "2"),
    "epoch-float": (("meta", "epoch"), 1.5),
    "epoch-bool": (("meta", "epoch"), True),
    "epoch-null": (("meta", "epoch"), None),
    "epoch-nested": (("meta", "epoch"), [2]),
    "epoch-negative": (("meta", "epoch"), -3),
    "epoch-past-the-run": (("meta", "epoch"), 3),
    "epoch-missing": (("meta", "epoch"), DELETE),
    "config-string": (("meta", "config"), "mlp"),
    "config-missing": (("meta", "config"), DELETE),
    "config-hidden-string": (("meta", "config", "hidden"), "16"),
    "config-hidden-of-strings": (("meta", "config", "hidden"), ["a"]),
    "config-data-number": (("meta", "config", "data"), 5),
    "config-seed-string": (("meta", "config", "seed"), "0"),
    "config-seed-negative": (("meta", "config", "seed"), -1),
    "config-compile-string": (("meta", "config", "compile"), "yes"),
    "config-momentum-string": (("meta", "config", "momentum"), "x"),
    "config-lr-list": (("meta", "config", "lr"), [0.1]),
    "config-dropout-null": (("meta", "config", "dropout"), None),
    "config-unknown-key": (("meta", "config", "colour"), "red"),
    "model-list": (("meta", "model"), []),
    "model-missing": (("meta", "model"), DELETE),
    "model-weight-number": (("meta", "model", "0.weight"), 5),
    "model-weight-nested": (
        ("meta", "model", "0.weight"),
        {"inner": {"__array__": "model/0.weight"}},
    ),
    "model-weight-of-another-shape": (
        ("meta", "model", "0.weight"),
        {"__array__": "optimizer/state/1/exp_avg"},
    ),
    "model-weight-unknown-name": (("meta", "model", "9.weight"), {"__array__": "model/0.weight"}),
    "model-array-ref-list": (("meta", "model", "0.weight"), {"__array__": ["model/0.weight"]}),
    "model-array-ref-unknown": (("meta", "model", "0.weight"), {"__array__": "nothing"}),
    "optimizer-string": (("meta", "optimizer"), "adam"),
    "optimizer-missing": (("meta", "optimizer"), DELETE),
    "optimizer-state-list": (("meta", "optimizer", "state"), []),
    "optimizer-state-key-not-an-index": (("meta", "optimizer", "state", "first"), {}),
    "optimizer-state-entry-number": (("meta", "optimizer", "state", "0"), 5),
    "optimizer-step-string": (("meta", "optimizer", "state", "0", "step"), "21"),
    "optimizer-step-negative": (("meta", "optimizer", "state", "0", "step"), -1),
    "optimizer-moment-missing": (("meta", "optimizer", "state", "0", "exp_avg"), DELETE),
    "optimizer-moment-string": (("meta", "optimizer", "state", "0", "exp_avg_sq"), "x"),
    "optimizer-groups-dict": (("meta", "optimizer", "param_groups"), {}),
    "optimizer-groups-empty": (("meta", "optimizer", "param_groups"), []),
    "optimizer-group-number": (("meta", "optimizer", "param_groups", 0), 5),
    "optimizer-lr-string": (("meta", "optimizer", "param_groups", 0, "lr"), "x"),
    "optimizer-lr-missing": (("meta", "optimizer", "param_groups", 0, "lr"), DELETE),
    "optimizer-betas-string": (("meta", "optimizer", "param_groups", 0, "betas"), "x"),
    "optimizer-params-strings": (("meta", "optimizer", "param_groups", 0, "params"), ["a"]),
    "optimizer-group-unknown-key": (("meta", "optimizer", "param_groups", 0, "colour"), 1),
    "scheduler-number": (("meta", "scheduler"), 5),
    "scheduler-null-for-cosine": (("meta", "scheduler"), None),
    "scheduler-missing": (("meta", "scheduler"), DELETE),
    "scheduler-last-epoch-string": (("meta", "scheduler", "last_epoch"), "2"),
    "scheduler-t-max-float": (("meta", "scheduler", "T_max"), 1.5),
    "scheduler-base-lrs-string": (("meta", "scheduler", "base_lrs"), "x"),
    "scheduler-last-lr-nulls": (("meta", "scheduler", "_last_lr"), [None]),
    "scheduler-unknown-key": (("meta", "scheduler", "gamma"), 0.1),
    "loader-number": (("meta", "loader"), 5),
    "loader-missing": (("meta", "loader"), DELETE),
    "loader-epoch-string": (("meta", "loader", "epoch"), "2"),
    "loader-batches-done-negative": (("meta", "loader", "batches_done"), -1),
    "loader-rng-string": (("meta", "loader", "rng_state"), "x"),
    "loader-rng-state-string": (("meta", "loader", "rng_state", "state", "state"), "x"),
    "loader-rng-other-generator": (("meta", "loader", "rng_state", "bit_generator"), "MT19937"),
    "loader-shuffle-string": (("meta", "loader", "shuffle"), "yes"),
    "loader-num-samples-float": (("meta", "loader", "num_samples"), 1.5),
    "dropout-rngs-string": (("meta", "dropout_rngs"), "x"),
    "dropout-rngs-missing": (("meta", "dropout_rngs"), DELETE),
    "dropout-rng-number": (("meta", "dropout_rngs", 0), 5),
    "dropout-rng-state-list": (("meta", "dropout_rngs", 0, "state"), []),
    "dropout-rng-has-uint32-string": (("meta", "dropout_rngs", 0, "has_uint32"), "1"),
    "history-string": (("meta", "history"), "x"),
    "history-missing": (("meta", "history"), DELETE),
    "history-shorter-than-epoch": (("meta", "history", 1), DELETE),
    "history-record-number": (("meta", "history", 0), 5),
    "history-loss-string": (("meta", "history", 0, "train_loss"), "x"),
    "history-epoch-out-of-order": (("meta", "history", 0, "epoch"), 7),
    "history-key-missing": (("meta", "history", 0, "val_loss"), DELETE),
    "class-names-string": (("meta", "class_names"), "x"),
    "class-names-numbers": (("meta", "class_names"), [1, 2]),
    "class-names-missing": (("meta", "class_names"), DELETE),
    "fingerprint-number": (("meta", "data_fingerprint"), 5),
    "fingerprint-sha-number": (("meta", "data_fingerprint", "sha256"), 5),
    "fingerprint-sha-not-hex": (("meta", "data_fingerprint", "sha256"), "abc"),
    "fingerprint-source-missing": (("meta", "data_fingerprint", "source"), DELETE),
}


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-epoch run with dropout, Adam and a cosine schedule: every kind of saved state."""
    folder = tmp_path_factory.mktemp("saved-run")
    assert train("--epochs", "2", "--dropout", "0.1", "--out", str(folder)) == 0
    return folder


def corrupted_copy(saved_run: Path, folder: Path, corruption: str) -> Path:
    """A copy of `saved_run`'s checkpoint with one entry of checkpoint.json corrupted."""
    path, value = CORRUPTIONS[corruption]
    document = json.loads((saved_run / META_FILE).read_text())
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    if value is DELETE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    folder.mkdir()
    (folder / ARRAYS_FILE).write_bytes((saved_run / ARRAYS_FILE).read_bytes())
    (folder / META_FILE).write_text(json.dumps(document))
    return folder


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_resuming_a_checkpoint_of_wrong_types_or_ranges_is_a_one_line_error(
    saved_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], corruption: str
) -> None:
    folder = corrupted_copy(saved_run, tmp_path / "run", corruption)
    capsys.readouterr()
    assert main(["train", "--resume", str(folder), "--no-progress"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"chainrule train: {folder / META_FILE}")


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_evaluating_a_checkpoint_of_wrong_types_or_ranges_is_a_one_line_error(
    saved_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], corruption: str
) -> None:
    folder = corrupted_copy(saved_run, tmp_path / "run", corruption)
    capsys.readouterr()
    assert main(["evaluate", str(folder)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"chainrule evaluate: {folder / META_FILE}")


def test_evaluating_a_run_whose_data_changed_is_refused_unless_data_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # As a resume on changed data is refused: "the run's test set" would be other images.
    data, run = tmp_path / "data", tmp_path / "run"
    write_idx_folder(data, seed=1)
    train("--epochs", "1", "--schedule", "constant", "--data", str(data), "--out", str(run))
    write_idx_folder(data, seed=2)
    capsys.readouterr()
    assert main(["evaluate", str(run)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("chainrule evaluate: the data differ from the run's")
    assert line.endswith(f"with --data {data.resolve()}")
    assert not (run / "confusion.png").exists()
    assert main(["evaluate", str(run), "--data", str(data)]) == 0


@pytest.mark.parametrize("existing_runs", [False, True])
@pytest.mark.parametrize(
    "refused",
    [
        ["--data", "no-such-data-folder"],  # refused once the run folder is made
        ["--hidden", "10000000000"],  # refused by the memory estimate, before
    ],
)
def test_a_refused_run_leaves_no_default_run_folder(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    refused: list[str],
    existing_runs: bool,
) -> None:
    monkeypatch.chdir(tmp_path)
    if existing_runs:
        (tmp_path / "runs" / "20261130-064500").mkdir(parents=True)
    before = sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*"))
    assert train("--epochs", "1", *refused) == 2
    assert capsys.readouterr().err.startswith("chainrule train: ")
    assert sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*")) == before


def test_confusion_png_names_the_epoch_and_data_it_scores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A run resumed after `evaluate` keeps the older confusion.png beside its newer checkpoint
    # (and `evaluate --data` replaces it by another data set's): the figure must say which.
    import chainrule.train.plots as plots

    figures = []
    real_new_figure = plots.new_figure

    def recording(width: float, height: float) -> object:
        figures.append(real_new_figure(width, height))
        return figures[-1]

    monkeypatch.setattr(plots, "new_figure", recording)
    train("--epochs", "1", "--schedule", "constant", "--out", str(tmp_path))
    assert main(["evaluate", str(tmp_path)]) == 0
    titles = [axes.get_title() for axes in figures[-1].axes]
    accuracy = capsys.readouterr().out.rstrip().splitlines()[-1].split()[2]
    assert titles == [f"digits test set, epoch 1 of {tmp_path.name}: accuracy {accuracy}"]


def test_a_refused_run_leaves_no_folders_made_for_its_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The write probe makes --out with its parents; removing --out alone left x/y behind.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x").mkdir()
    refused = ["--data", "no-such-data-folder", "--out", "x/y/z"]
    assert train("--epochs", "1", *refused) == 2
    assert capsys.readouterr().err.startswith("chainrule train: ")
    assert sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*")) == ["x"]


def test_resume_refuses_hidden_sizes_for_a_seed_run_naming_its_layer_of_50(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # --hidden equal to the unused default (256,128) was accepted and silently ignored (a
    # new seed run refuses --hidden), and other sizes were said to differ from "(256, 128)".
    seed_run = ["train", "--model", "seed", "--epochs", "1", "--batch-size", "256"]
    assert main([*seed_run, "--no-progress", "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(tmp_path), "--hidden", "256,128"]) == 2
    assert "--hidden 256,128 (saved: 50)" in capsys.readouterr().err


def test_resume_refuses_a_momentum_the_optimizer_does_not_use(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # --momentum 0.9 (the unused default) on an Adam run was accepted and silently ignored.
    train("--epochs", "1", "--out", str(tmp_path))
    capsys.readouterr()
    assert main(["train", "--resume", str(tmp_path), "--momentum", "0.9"]) == 2
    assert "--momentum 0.9 (saved: none, --optimizer adam does not use it)" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize(
    ("given", "named"),
    [
        (["--compile"], "--compile numpy (saved: not compiled)"),
        (["--compile", "xla"], "--compile xla (saved: not compiled)"),
        (["--diagnostics"], "--diagnostics (saved: off)"),
    ],
)
def test_resume_names_a_changed_flag_as_it_was_typed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], given: list[str], named: str
) -> None:
    # Was "--compile True (saved: False), --compile-backend xla (saved: numpy)": an option
    # that does not exist, and Python's values instead of the command line's.
    train("--epochs", "1", "--out", str(tmp_path))
    capsys.readouterr()
    assert main(["train", "--resume", str(tmp_path), *given]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert f"these differ: {named}. Drop them" in line
