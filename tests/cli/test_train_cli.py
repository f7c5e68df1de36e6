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
CLI_WITH_CTRL_C = ("import runpy, signal, sys\n"
                   "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
                   "runpy.run_module('chainrule', run_name='__main__', alter_sys=True)\n")


@contextlib.contextmanager
def running_cli(*args: str, hang_after: int) -> Iterator[subprocess.Popen[str]]:
    """`chainrule train` in a child process with a known SIGINT disposition; killed (if
    still running) and reaped on every way out, failures included."""
    env = {**os.environ, HANG_ENV: str(hang_after),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))}
    process = subprocess.Popen([sys.executable, "-c", CLI_WITH_CTRL_C, "train", *SMALL, *args],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
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
    return [{key: value for key, value in record.items() if key not in TIMING_KEYS}
            for record in read_metrics(folder)]


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
    assert "--lr 0.5 (saved: None)" in capsys.readouterr().err


def test_a_new_run_does_not_overwrite_an_existing_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train("--epochs", "1", "--out", str(tmp_path))
    assert train("--epochs", "1", "--out", str(tmp_path)) == 2
    assert f"--resume {tmp_path}" in capsys.readouterr().err


@pytest.mark.slow
def test_ctrl_c_saves_the_last_epoch_and_exits_130(tmp_path: Path) -> None:
    batches_per_epoch = 21
    with running_cli("--epochs", "4", "--out", str(tmp_path),
                     hang_after=batches_per_epoch + 5) as process:
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
    result = subprocess.run(["bash", "-c", command, sys.executable, __file__],
                            cwd=SRC.parent, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONPATH": str(SRC)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


@pytest.mark.slow
def test_a_run_killed_mid_epoch_resumes_to_the_straight_result(tmp_path: Path) -> None:
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    assert train("--epochs", "4", "--out", str(straight)) == 0
    batches_per_epoch = 21
    with running_cli("--epochs", "4", "--out", str(killed),
                     hang_after=2 * batches_per_epoch + 7) as process:
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
    code = ("import sys, chainrule, chainrule.cli; print(sorted({m.split('.')[0] for m in "
            "sys.modules} & {'sklearn', 'torch', 'matplotlib', 'tqdm'}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, env={**os.environ, "PYTHONPATH": str(SRC)})
    assert result.stdout.strip() == "[]"
