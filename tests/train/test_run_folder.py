"""The run folder: one training at a time (an exclusive lock naming its holder), unique
default names, and no run overwritten by another."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from chainrule.train.checkpoint import META_FILE
from chainrule.train.metrics import METRICS_FILE
from chainrule.train.run_folder import (
    LOCK_FILE,
    PLOT_FILES,
    RunFolderError,
    check_destination,
    create_run_folder,
    lock_run_folder,
)

SRC = Path(__file__).resolve().parents[2] / "src"
HOLD_LOCK = (
    "import sys, time; from pathlib import Path; "
    "from chainrule.train.run_folder import lock_run_folder\n"
    "with lock_run_folder(Path(sys.argv[1])):\n"
    "    print('locked', flush=True); time.sleep(60)"
)


@pytest.fixture
def holder(tmp_path: Path):
    """Another process holding the lock of tmp_path / "run"."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(tmp_path / "run")],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(SRC)},
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == "locked\n"
        yield process
    finally:
        process.kill()
        process.communicate(timeout=30)


def test_a_folder_locked_by_another_process_is_refused_naming_its_pid(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    with (
        pytest.raises(RunFolderError, match=rf"in use by process {holder.pid} "),
        lock_run_folder(tmp_path / "run"),
    ):
        pass


def test_the_lock_of_a_killed_process_is_free(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    with lock_run_folder(tmp_path / "run"):
        assert (tmp_path / "run" / LOCK_FILE).read_text() == str(os.getpid())


def test_the_lock_is_released_on_leaving(tmp_path: Path) -> None:
    with lock_run_folder(tmp_path):
        pass
    with lock_run_folder(tmp_path):
        pass


def test_run_folders_created_with_one_name_are_distinct(tmp_path: Path) -> None:
    first = create_run_folder(tmp_path / "runs", "20261130-064500")
    second = create_run_folder(tmp_path / "runs", "20261130-064500")
    assert first == tmp_path / "runs" / "20261130-064500"
    assert second == tmp_path / "runs" / "20261130-064500-2"
    assert first.is_dir()
    assert second.is_dir()


def test_a_run_folder_is_never_one_that_exists(tmp_path: Path) -> None:
    (tmp_path / "20261130-064500").mkdir()
    (tmp_path / "20261130-064500-2").write_text("")
    assert create_run_folder(tmp_path, "20261130-064500") == tmp_path / "20261130-064500-3"


@pytest.mark.parametrize("file", [META_FILE, METRICS_FILE])
def test_a_new_run_into_a_folder_holding_a_run_is_refused(tmp_path: Path, file: str) -> None:
    (tmp_path / file).write_text("")
    with pytest.raises(RunFolderError, match=rf"already holds a run.*--resume {tmp_path}"):
        check_destination(tmp_path, resumed_from=None)


@pytest.mark.parametrize("file", [META_FILE, METRICS_FILE])
def test_resuming_into_a_folder_holding_another_run_is_refused(tmp_path: Path, file: str) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / file).write_text("")
    with pytest.raises(
        RunFolderError,
        match=r"b already holds a run; resuming .*a into it "
        r"would overwrite it",
    ):
        check_destination(tmp_path / "b", resumed_from=tmp_path / "a")


def test_resuming_into_the_resumed_folder_is_allowed(tmp_path: Path) -> None:
    (tmp_path / META_FILE).write_text("")
    check_destination(tmp_path / "." / "", resumed_from=tmp_path)


def test_a_folder_with_only_a_lock_holds_no_run(tmp_path: Path) -> None:
    with lock_run_folder(tmp_path):
        check_destination(tmp_path, resumed_from=None)


def test_a_run_folder_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "run").write_text("")
    with (
        pytest.raises(RunFolderError, match=r"run is a file, not a folder"),
        lock_run_folder(tmp_path / "run"),
    ):
        pass


@pytest.mark.parametrize("resumed", [False, True])
@pytest.mark.parametrize("plot", PLOT_FILES)
def test_a_folder_holding_only_an_earlier_runs_plot_is_refused_naming_it(
    tmp_path: Path, plot: str, resumed: bool
) -> None:
    # A new run may draw no gradients.png and is not evaluated: the old plot would stay,
    # shown beside the new run's checkpoint as if it were its own.
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / plot).write_bytes(b"\x89PNG")
    with pytest.raises(
        RunFolderError,
        match=rf"b holds {plot} from an earlier run .*remove them, or choose another --out",
    ):
        check_destination(tmp_path / "b", resumed_from=tmp_path / "a" if resumed else None)
    assert (tmp_path / "b" / plot).exists()


def _contents(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (names relative to it) with its bytes."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _refuse(folder: Path, resumed_from: Path | None) -> None:
    """What Trainer.fit does: take the lock, then check the destination while holding it."""
    with pytest.raises(RunFolderError), lock_run_folder(folder):
        check_destination(folder, resumed_from=resumed_from)


@pytest.mark.parametrize("lock", [None, b"4242"])
@pytest.mark.parametrize(
    ("files", "resumed"),
    [
        ({META_FILE: b"{}"}, False),
        ({METRICS_FILE: b"{}\n"}, False),
        ({META_FILE: b"{}"}, True),
        ({PLOT_FILES[0]: b"\x89PNG"}, False),
        ({PLOT_FILES[1]: b"\x89PNG"}, True),
    ],
)
def test_a_refused_run_leaves_the_folder_as_it_found_it(
    tmp_path: Path, files: dict[str, bytes], resumed: bool, lock: bytes | None
) -> None:
    # a lock file left by the folder's own finished run (holding its PID), or none at all
    folder, other = tmp_path / "run", tmp_path / "other"
    folder.mkdir()
    other.mkdir()
    for name, content in {**files, **({LOCK_FILE: lock} if lock else {})}.items():
        (folder / name).write_bytes(content)
    before = _contents(tmp_path)
    _refuse(folder, other if resumed else None)
    assert _contents(tmp_path) == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["other", "run"]


def test_a_refusal_removes_the_folders_the_lock_made(tmp_path: Path) -> None:
    folder = tmp_path / "a" / "b" / "run"
    made = []

    def refuse_in_the_made_folder() -> None:
        with lock_run_folder(folder):
            made.append(folder.is_dir())
            raise RunFolderError("refused")

    with pytest.raises(RunFolderError, match="refused"):
        refuse_in_the_made_folder()
    assert made == [True]
    assert list(tmp_path.iterdir()) == []


def test_a_run_refused_by_a_holder_leaves_its_folder_as_it_was(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    folder = tmp_path / "run"
    (folder / META_FILE).write_text("{}")
    before = _contents(folder)
    with pytest.raises(RunFolderError, match="in use by process"):
        _refuse_in_use(folder)
    assert _contents(folder) == before


def _refuse_in_use(folder: Path) -> None:
    with lock_run_folder(folder):
        pass


def test_a_refused_runs_lock_file_is_free_for_the_next_run(tmp_path: Path) -> None:
    (tmp_path / META_FILE).write_text("{}")
    _refuse(tmp_path, None)
    (tmp_path / META_FILE).unlink()
    with lock_run_folder(tmp_path):
        check_destination(tmp_path, resumed_from=None)
        assert (tmp_path / LOCK_FILE).read_text() == str(os.getpid())


@pytest.mark.parametrize("times", [1, 11])
def test_a_run_folder_removed_while_it_is_being_locked_is_made_again_or_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, times: int
) -> None:
    # Another run, refused, removes the new folder it made between this run's mkdir and
    # its lock file's creation. Before: a bare FileNotFoundError traceback.
    from chainrule.train import run_folder

    folder = tmp_path / "run"
    real_open = os.open
    left = [times]

    def racing_open(path: str, flags: int, *args: int) -> int:
        if flags & os.O_CREAT and left[0] > 0:
            left[0] -= 1
            folder.rmdir()
        return real_open(path, flags, *args)

    monkeypatch.setattr(run_folder.os, "open", racing_open)
    if times == 1:
        with lock_run_folder(folder):
            assert (folder / LOCK_FILE).read_text() == str(os.getpid())
    else:
        refused = pytest.raises(RunFolderError, match=r"run was removed 11 times.*run again")
        with refused, lock_run_folder(folder):
            pass
