"""`mpiexec -n N chainrule train` through the real launcher: the ranks train one run like a
single process, rank 0 alone writes, a killed rank ends the job within a bound with the last
checkpoint resumable, a hung rank stops the others with one line, Ctrl-C saves."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from mpi_helpers import environment, mpi_command

from chainrule.cli import main
from chainrule.distributed.mpi import TIMEOUT_ENV
from chainrule.train.checkpoint import ARRAYS_FILE, META_FILE
from chainrule.train.loop import HANG_ENV, HANG_MARKER
from chainrule.train.metrics import read_metrics
from chainrule.train.run_folder import lock_run_folder

SMALL = [
    "--model",
    "mlp",
    "--hidden",
    "16",
    "--batch-size",
    "64",
    "--no-progress",
    "--dtype",
    "float64",
]
BATCHES_PER_EPOCH = 21
RTOL = 1e-12
BOUND_S = 30.0
"""The most a job may take to end after one of its ranks is killed."""
TRAIN = ["-m", "chainrule", "train", *SMALL]


def weights(folder: Path) -> dict[str, np.ndarray]:
    with np.load(folder / ARRAYS_FILE, allow_pickle=False) as stored:
        return {key: stored[key] for key in stored.files if key.startswith("model/")}


def saved_epoch(folder: Path) -> int:
    return int(json.loads((folder / META_FILE).read_text())["meta"]["epoch"])


def start(mpiexec: Path, ranks: int, *arguments: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        mpi_command(mpiexec, ranks, [*TRAIN, *arguments]),
        env=environment(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(paths: list[Path], process: subprocess.Popen[str], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not all(path.exists() for path in paths):
        if process.poll() is not None:
            raise AssertionError(f"the job ended before {paths}: {process.communicate()}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"{paths} did not appear in {timeout}s")
        time.sleep(0.05)


def assert_same_run(got: Path, expected: Path, rtol: float) -> None:
    expected_weights, got_weights = weights(expected), weights(got)
    assert sorted(got_weights) == sorted(expected_weights)
    for key, array in expected_weights.items():
        assert got_weights[key].shape == array.shape
        np.testing.assert_allclose(
            got_weights[key], array, rtol=rtol, atol=rtol * np.abs(array).max()
        )
    got_metrics, expected_metrics = read_metrics(got), read_metrics(expected)
    assert [record["epoch"] for record in got_metrics] == [r["epoch"] for r in expected_metrics]
    for got_record, record in zip(got_metrics, expected_metrics, strict=True):
        for key in ("train_loss", "val_loss", "val_accuracy"):
            np.testing.assert_allclose(got_record[key], record[key], rtol=rtol)


@pytest.mark.slow
@pytest.mark.parametrize(
    "options",
    [["--optimizer", "momentum"], ["--compile"], ["--engine", "manual", "--optimizer", "sgd"]],
    ids=["momentum", "compile", "manual"],
)
def test_two_ranks_train_like_one_process(
    mpiexec: Path, tmp_path: Path, options: list[str]
) -> None:
    single, parallel = tmp_path / "single", tmp_path / "parallel"
    assert main(["train", *SMALL, "--epochs", "2", *options, "--out", str(single)]) == 0
    finished = subprocess.run(
        mpi_command(mpiexec, 2, [*TRAIN, "--epochs", "2", *options, "--out", str(parallel)]),
        env=environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 0, finished.stderr
    assert_same_run(parallel, single, RTOL)


@pytest.mark.slow
def test_only_rank_0_prints(mpiexec: Path, tmp_path: Path) -> None:
    finished = subprocess.run(
        mpi_command(mpiexec, 2, [*TRAIN, "--epochs", "2", "--out", str(tmp_path)]),
        env=environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 0, finished.stderr
    lines = finished.stdout.splitlines()
    assert [line.split()[1] for line in lines if line.startswith("epoch")] == ["1/2", "2/2"]
    assert sum(line.startswith("test accuracy") for line in lines) == 1


@pytest.mark.slow
def test_a_killed_rank_ends_the_job_within_the_bound(mpiexec: Path, tmp_path: Path) -> None:
    process = start(
        mpiexec,
        2,
        "--epochs",
        "3",
        "--out",
        str(tmp_path),
        **{HANG_ENV: str(BATCHES_PER_EPOCH + 5)},
    )
    wait_for([tmp_path / HANG_MARKER, tmp_path / f"{HANG_MARKER}.1"], process)
    killed_at = time.monotonic()
    os.kill(int((tmp_path / f"{HANG_MARKER}.1").read_text()), signal.SIGKILL)
    process.communicate(timeout=BOUND_S)
    assert time.monotonic() - killed_at < BOUND_S
    assert process.returncode != 0
    assert saved_epoch(tmp_path) == 1


@pytest.mark.slow
def test_a_run_killed_mid_epoch_resumes_to_the_straight_result(
    mpiexec: Path, tmp_path: Path
) -> None:
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    finished = subprocess.run(
        mpi_command(mpiexec, 2, [*TRAIN, "--epochs", "3", "--out", str(straight)]),
        env=environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 0, finished.stderr
    process = start(
        mpiexec, 2, "--epochs", "3", "--out", str(killed), **{HANG_ENV: str(BATCHES_PER_EPOCH + 5)}
    )
    wait_for([killed / HANG_MARKER, killed / f"{HANG_MARKER}.1"], process)
    os.kill(int((killed / f"{HANG_MARKER}.1").read_text()), signal.SIGKILL)
    process.communicate(timeout=BOUND_S)
    resumed = subprocess.run(
        mpi_command(
            mpiexec, 2, ["-m", "chainrule", "train", "--resume", str(killed), "--no-progress"]
        ),
        env=environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert_same_run(killed, straight, rtol=0.0)


@pytest.mark.slow
def test_a_hung_rank_stops_the_others_with_one_line(mpiexec: Path, tmp_path: Path) -> None:
    command = [
        str(mpiexec),
        "-n",
        "1",
        sys.executable,
        *TRAIN,
        "--epochs",
        "2",
        "--out",
        str(tmp_path),
        ":",
        "-n",
        "1",
        "-env",
        HANG_ENV,
        "3",
        sys.executable,
        *TRAIN,
        "--epochs",
        "2",
        "--out",
        str(tmp_path),
    ]
    started = time.monotonic()
    # 10 s: long enough that ranks starting seconds apart on a loaded machine still meet at
    # start-up, short enough to show the bound.
    finished = subprocess.run(
        command, env=environment(**{TIMEOUT_ENV: "10"}), capture_output=True, text=True, timeout=120
    )
    assert time.monotonic() - started < 60
    assert finished.returncode != 0
    errors = [line for line in finished.stderr.splitlines() if line.startswith("chainrule train:")]
    assert len(errors) == 1, (finished.returncode, finished.stdout, finished.stderr)
    assert "rank 0 of 2" in errors[0]
    assert "waited 10 s for the other ranks" in errors[0]


@pytest.mark.slow
def test_ctrl_c_stops_every_rank_with_the_checkpoint_intact(mpiexec: Path, tmp_path: Path) -> None:
    process = start(
        mpiexec,
        2,
        "--epochs",
        "3",
        "--out",
        str(tmp_path),
        **{HANG_ENV: str(BATCHES_PER_EPOCH + 5)},
    )
    wait_for([tmp_path / HANG_MARKER, tmp_path / f"{HANG_MARKER}.1"], process)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "interrupted: saved the checkpoint of epoch 1" in stderr
    assert saved_epoch(tmp_path) == 1


@pytest.mark.slow
def test_resuming_on_another_rank_count_says_so(
    mpiexec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    finished = subprocess.run(
        mpi_command(
            mpiexec, 2, [*TRAIN, "--epochs", "1", "--schedule", "constant", "--out", str(tmp_path)]
        ),
        env=environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 0, finished.stderr
    assert main(["train", "--resume", str(tmp_path), "--epochs", "2", "--no-progress"]) == 0
    assert "resuming a run saved with 2 rank(s) on 1" in capsys.readouterr().out


@pytest.mark.slow
def test_a_run_with_dropout_resumes_only_on_its_rank_count(
    mpiexec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    finished = subprocess.run(
        mpi_command(
            mpiexec,
            2,
            [
                *TRAIN,
                "--epochs",
                "1",
                "--dropout",
                "0.2",
                "--schedule",
                "constant",
                "--out",
                str(tmp_path),
            ],
        ),
        env=environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 0, finished.stderr
    assert main(["train", "--resume", str(tmp_path), "--epochs", "2", "--no-progress"]) == 2
    assert "resume it with mpiexec -n 2" in capsys.readouterr().err


@pytest.mark.slow
def test_a_global_batch_smaller_than_the_ranks_is_one_line(mpiexec: Path, tmp_path: Path) -> None:
    finished = subprocess.run(
        mpi_command(mpiexec, 2, [*TRAIN, "--batch-size", "1", "--out", str(tmp_path)]),
        env=environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 2
    errors = [line for line in finished.stderr.splitlines() if line.strip()]
    assert errors == [
        "chainrule train: with 2 ranks, DistributedSampler: a global batch of 1 "
        "cannot give each of 2 ranks a row; use a batch size of at least 2; "
        "--batch-size is the global batch, split over the ranks"
    ]


@pytest.mark.slow
def test_a_run_folder_in_use_stops_every_rank_with_one_line(mpiexec: Path, tmp_path: Path) -> None:
    with lock_run_folder(tmp_path):
        finished = subprocess.run(
            mpi_command(mpiexec, 2, [*TRAIN, "--epochs", "1", "--out", str(tmp_path)]),
            env=environment(),
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert finished.returncode == 2
    errors = [line for line in finished.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, (finished.returncode, finished.stdout, finished.stderr)
    assert errors[0].startswith(f"chainrule train: {tmp_path} is in use by process {os.getpid()}")


@pytest.mark.slow
def test_a_blown_up_loss_stops_every_rank_on_the_same_batch_with_one_line(
    mpiexec: Path, tmp_path: Path
) -> None:
    finished = subprocess.run(
        mpi_command(
            mpiexec,
            2,
            [
                *TRAIN,
                "--optimizer",
                "sgd",
                "--lr",
                "1e30",
                "--dtype",
                "float32",
                "--epochs",
                "1",
                "--out",
                str(tmp_path),
            ],
        ),
        env=environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 1
    errors = [line for line in finished.stderr.splitlines() if line.startswith("chainrule train:")]
    assert len(errors) == 1, (finished.returncode, finished.stdout, finished.stderr)
    assert "averaged over the ranks became non-finite on batch" in errors[0]
    assert "lower --lr" in errors[0]


@pytest.mark.slow
def test_ranks_without_out_share_one_default_run_folder(mpiexec: Path, tmp_path: Path) -> None:
    # Each rank used to make its own runs/<date-time> folder: rank 0 wrote one, the others
    # left empty ones beside it (taking its name when they came first).
    finished = subprocess.run(
        mpi_command(mpiexec, 2, [*TRAIN, "--epochs", "1"]),
        env=environment(),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert finished.returncode == 0, finished.stderr
    (folder,) = (tmp_path / "runs").iterdir()
    assert (folder / META_FILE).is_file()
    assert f"run folder runs/{folder.name})" in finished.stdout


@pytest.mark.slow
def test_a_write_error_on_rank_0_ends_every_rank_with_one_line(
    mpiexec: Path, tmp_path: Path
) -> None:
    worker = Path(__file__).with_name("failing_write_worker.py")
    command = [str(mpiexec), "-n", "2", sys.executable, str(worker), "train", *SMALL]
    started = time.monotonic()
    finished = subprocess.run(
        [*command, "--epochs", "2", "--out", str(tmp_path / "run")],
        env=environment(**{TIMEOUT_ENV: "600"}),
        capture_output=True,
        text=True,
        timeout=120,
    )
    # Not the 600 s deadline: rank 0 ends the job itself.
    assert time.monotonic() - started < 60
    assert finished.returncode == 2
    errors = [line for line in finished.stderr.splitlines() if line.startswith("chainrule train:")]
    assert errors == [f"chainrule train: {tmp_path / 'run'}: No space left on device"], (
        finished.stderr
    )
