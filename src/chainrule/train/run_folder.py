"""The run folder: one training writes it at a time, and no run is overwritten by another.

`lock_run_folder` holds an exclusive lock on train.lock in the folder while a run writes it;
the operating system releases the lock when the process ends, however it ends, so a killed
run never leaves a stale lock. `create_run_folder` makes a new, unique default folder.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from chainrule.train.checkpoint import ARRAYS_FILE, META_FILE, saved_identity
from chainrule.train.metrics import METRICS_FILE

LOCK_FILE = "train.lock"
"""Locked by the training that writes the folder; it holds that process's PID."""
RUN_FILES = (META_FILE, ARRAYS_FILE, METRICS_FILE)
"""A folder holding any of these holds a run."""
LOSS_PLOT = "loss.png"
GRADIENTS_PLOT = "gradients.png"
CONFUSION_PLOT = "confusion.png"
"""Written by `chainrule evaluate` into the run folder."""
PLOT_FILES = (LOSS_PLOT, GRADIENTS_PLOT, CONFUSION_PLOT)
"""Plots of a run: left in a folder without its checkpoint, they would pass as a new run's."""

if sys.platform == "win32":
    import msvcrt

    def _try_lock(descriptor: int) -> bool:
        # msvcrt locks a byte range from the current position; lock a byte past the PID
        # so other processes can still read who holds it.
        os.lseek(descriptor, 1 << 20, os.SEEK_SET)
        try:
            msvcrt.locking(descriptor, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        finally:
            os.lseek(descriptor, 0, os.SEEK_SET)
        return True
else:
    import fcntl

    def _try_lock(descriptor: int) -> bool:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True


class RunFolderError(ValueError):
    """A run folder that this training may not write: in use, or holding another run."""


@contextmanager
def lock_run_folder(folder: Path) -> Iterator[None]:
    """Hold the folder's exclusive lock (creating the folder) for the `with` block.

    Raises RunFolderError naming the process that holds it when another process does. A
    RunFolderError raised inside the block (the folder refused, as `check_destination`
    refuses one) leaves the folder as it was found: a lock file this call made is removed,
    one it found gets back what it held, and folders it made are removed again.
    """
    if folder.exists() and not folder.is_dir():
        raise RunFolderError(f"train: {folder} is a file, not a folder; choose a folder for --out")
    made = [path for path in (folder, *folder.parents) if not path.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    descriptor, created = _locked(folder, path)
    try:
        found = os.read(descriptor, 4096)
        _rewrite(descriptor, str(os.getpid()).encode())
        try:
            yield
        except RunFolderError:
            # Refused before writing anything. Unlinking while still holding the lock is
            # safe: a process that opened this file meanwhile finds it gone (`_locked`).
            removed = False
            if created:
                with suppress(OSError):  # Windows cannot remove a file held open
                    path.unlink()
                    removed = True
            if not removed:
                _rewrite(descriptor, found)
            for directory in made:
                with suppress(OSError):  # something else was put there meanwhile
                    directory.rmdir()
            raise
    finally:
        os.close(descriptor)


_FOLDER_RETRIES = 10


def _locked(folder: Path, path: Path) -> tuple[int, bool]:
    """A descriptor of the lock file at `path`, locked, and whether this call created the
    file; RunFolderError naming the holder when another process holds it. A lock taken on a
    file that a refused run unlinked meanwhile (`lock_run_folder`) would lock nothing, so
    the file locked must still be the one at `path`, or it is opened again. The folder
    itself may go meanwhile too (a refused run removes the new folder it made, as another
    run was taking it): it is made again, a few times, before the race is reported."""
    removed = 0
    while True:
        try:
            descriptor, created = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644), True
        except FileNotFoundError:
            removed += 1
            if removed > _FOLDER_RETRIES:
                raise RunFolderError(
                    f"train: {folder} was removed {removed} times while this run was taking "
                    "it (other chainrule train runs made and removed it); run again, or "
                    "choose another --out"
                ) from None
            folder.mkdir(parents=True, exist_ok=True)
            continue
        except FileExistsError:
            try:
                descriptor, created = os.open(path, os.O_RDWR), False
            except FileNotFoundError:
                continue
        try:
            if not _try_lock(descriptor):
                holder = os.read(descriptor, 32).decode(errors="replace").strip()
                who = f"process {holder}" if holder.isdigit() else "another process"
                raise RunFolderError(
                    f"train: {folder} is in use by {who} (another chainrule train writing "
                    f"it; see {path}); wait for it to finish or stop it, or choose another --out"
                )
            with suppress(FileNotFoundError):
                if os.path.samestat(os.fstat(descriptor), os.stat(path)):
                    return descriptor, created
        except BaseException:
            os.close(descriptor)
            raise
        os.close(descriptor)


def _rewrite(descriptor: int, content: bytes) -> None:
    """Replace the lock file's content (the holder's PID) with `content`."""
    os.ftruncate(descriptor, 0)
    os.lseek(descriptor, 0, os.SEEK_SET)
    os.write(descriptor, content)


def holds_run(folder: Path) -> bool:
    """Whether `folder` holds a run's checkpoint or metrics."""
    return any((folder / name).exists() for name in RUN_FILES)


def check_destination(folder: Path, *, resumed_from: Path | None) -> None:
    """Refuse to write a run into `folder` when that would overwrite another run: a new run
    (`resumed_from` None) or one resumed from another folder, into a folder holding a run.

    A folder holding only a run's plots is refused too: a new run that draws no
    gradients.png (or is never evaluated) would leave the old one beside its own files."""
    if not holds_run(folder):
        stale = [name for name in PLOT_FILES if (folder / name).exists()]
        if stale:
            raise RunFolderError(
                f"train: {folder} holds {', '.join(stale)} from an earlier run (but no "
                f"checkpoint or metrics); a run written there would leave them looking like "
                f"its own: remove them, or choose another --out"
            )
        return
    if resumed_from is None:
        raise RunFolderError(
            f"train: {folder} already holds a run; continue it with "
            f"--resume {folder}, or choose another --out"
        )
    if not os.path.samefile(folder, resumed_from):
        raise RunFolderError(
            f"train: {folder} already holds a run; resuming {resumed_from} into it would "
            f"overwrite it: choose an empty --out, leave out --out to continue in "
            f"{resumed_from}, or continue the run in {folder} with --resume {folder}"
        )


def check_unchanged(
    folder: Path, resumed_from: Path | None, identity: tuple[Any, Any] | None
) -> None:
    """Refuse to continue a run in the folder it was resumed from when that folder's
    checkpoint is no longer the one read (`identity`: its epoch and npz SHA-256): another
    training continued the run meanwhile, and this one would rewind it."""
    if resumed_from is None or identity is None or not os.path.samefile(folder, resumed_from):
        return
    now = saved_identity(folder)
    if now == identity:
        return
    holds = "no readable checkpoint" if now is None else f"epoch {now[0]}"
    if now is not None and now[0] == identity[0]:
        holds += " with other weights"
    raise RunFolderError(
        f"train: {folder} changed since its checkpoint of epoch {identity[0]} was read: it "
        f"now holds {holds} (another training continued it); resume it again to continue "
        f"from there"
    )


def create_run_folder(parent: Path, name: str) -> Path:
    """Create and return parent/name, or parent/name-2, -3, ...: the first that did not
    exist (made with one atomic mkdir, so two runs started together never share one)."""
    parent.mkdir(parents=True, exist_ok=True)
    folder, suffix = parent / name, 1
    while True:
        try:
            folder.mkdir()
        except FileExistsError:
            suffix += 1
            folder = parent / f"{name}-{suffix}"
        else:
            return folder
