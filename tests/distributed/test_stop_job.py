"""`stop_job` ends the job only once its one line has left stderr's pipe (under mpiexec the
launcher's proxy reads that pipe, and an abort that overtakes the line loses it)."""

from __future__ import annotations

import io
import os
import sys
import threading
import time

import pytest

from chainrule.distributed import CollectiveTimeout, training
from chainrule.distributed.training import _wait_until_stderr_is_read, stop_job


class Aborting:
    rank, size = 0, 2

    def __init__(self) -> None:
        self.aborted_with: int | None = None

    def abort(self, code: int = 1) -> None:
        self.aborted_with = code


def test_the_line_is_read_from_the_pipe_before_the_job_is_aborted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    read_end, write_end = os.pipe()
    received: list[bytes] = []
    unread_at_abort: list[bool] = []
    comm = Aborting()

    def abort(code: int = 1) -> None:
        unread_at_abort.append(not received)
        comm.aborted_with = code

    comm.abort = abort  # type: ignore[method-assign]

    def reader() -> None:
        time.sleep(0.3)  # a proxy that reads late
        received.append(os.read(read_end, 4096))

    stderr = io.TextIOWrapper(os.fdopen(write_end, "wb"))
    monkeypatch.setattr(sys, "stderr", stderr)
    monkeypatch.setattr(training, "world", lambda: comm)
    thread = threading.Thread(target=reader)
    thread.start()
    with pytest.raises(SystemExit):
        stop_job(CollectiveTimeout("rank 0 of 2: the allreduce waited 10 s"))
    thread.join()
    stderr.close()
    os.close(read_end)
    assert received == [b"chainrule train: rank 0 of 2: the allreduce waited 10 s\n"]
    assert unread_at_abort == [False]
    assert comm.aborted_with == 1


def test_an_unread_pipe_delays_the_end_by_the_limit_only(monkeypatch: pytest.MonkeyPatch) -> None:
    read_end, write_end = os.pipe()
    os.write(write_end, b"never read\n")
    stderr = io.TextIOWrapper(os.fdopen(write_end, "wb"))
    monkeypatch.setattr(sys, "stderr", stderr)
    started = time.monotonic()
    _wait_until_stderr_is_read(limit=0.2)
    assert 0.2 <= time.monotonic() - started < 5.0
    stderr.close()
    os.close(read_end)


def test_stderr_that_is_no_pipe_is_not_waited_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    started = time.monotonic()
    _wait_until_stderr_is_read(limit=5.0)
    assert time.monotonic() - started < 1.0
