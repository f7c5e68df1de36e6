"""`MPICommunicator`: the communicator on MPI through mpi4py (the `mpi` extra).

Every collective (sums, broadcasts, object gathers) is nonblocking and polled against a
deadline, so a rank whose peer has died or hangs stops with a one-line `CollectiveTimeout`
instead of waiting forever. The deadline is `timeout` seconds (default:
$CHAINRULE_MPI_TIMEOUT, else 600).
"""

from __future__ import annotations

import os
import pickle
import time
from typing import Any

import numpy as np

from chainrule.distributed.communicator import CollectiveTimeout, _check_buffer

TIMEOUT_ENV = "CHAINRULE_MPI_TIMEOUT"
DEFAULT_TIMEOUT = 600.0
SPIN_SECONDS = 0.05
"""Poll without sleeping this long first (MPICH itself busy-polls in a blocking Allreduce);
then sleep POLL_SLEEP between polls, so a rank waiting on a slow peer leaves it the CPU."""
POLL_SLEEP = 1e-3


def import_mpi() -> Any:
    """mpi4py's MPI module, or an ImportError saying how to install it."""
    try:
        from mpi4py import MPI
    except ImportError as error:
        raise ImportError(
            "chainrule.distributed: running under an MPI launcher needs mpi4py; install the "
            "mpi extra: pip install 'chainrule[mpi]'"
        ) from error
    return MPI


def _default_timeout() -> float:
    value = os.environ.get(TIMEOUT_ENV)
    if not value:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise ValueError(
            f"chainrule.distributed: {TIMEOUT_ENV}={value!r} must be a positive number of seconds"
        )
    return seconds


class MPICommunicator:
    """MPI's COMM_WORLD (or `comm`) as a `Communicator`."""

    def __init__(self, comm: Any = None, *, timeout: float | None = None) -> None:
        self._mpi = import_mpi()
        self.comm = self._mpi.COMM_WORLD if comm is None else comm
        self.timeout = _default_timeout() if timeout is None else float(timeout)

    @property
    def rank(self) -> int:
        return int(self.comm.Get_rank())

    @property
    def size(self) -> int:
        return int(self.comm.Get_size())

    def _wait(self, request: Any, what: str) -> None:
        started = time.monotonic()
        while not request.Test():
            waited = time.monotonic() - started
            if waited > self.timeout:
                raise CollectiveTimeout(
                    f"rank {self.rank} of {self.size}: {what} waited {self.timeout:g} s for "
                    f"the other ranks; one of them died or hangs (raise {TIMEOUT_ENV} if a "
                    "step legitimately takes longer)"
                )
            if waited > SPIN_SECONDS:
                time.sleep(POLL_SLEEP)

    def allreduce_sum(self, buffer: np.ndarray) -> None:
        _check_buffer("MPICommunicator.allreduce_sum", buffer)
        request = self.comm.Iallreduce(self._mpi.IN_PLACE, buffer, op=self._mpi.SUM)
        self._wait(request, f"the allreduce of {buffer.nbytes} bytes")

    def broadcast(self, buffer: np.ndarray, root: int = 0) -> None:
        _check_buffer("MPICommunicator.broadcast", buffer)
        request = self.comm.Ibcast(buffer, root=root)
        self._wait(request, f"the broadcast of {buffer.nbytes} bytes from rank {root}")

    def allgather_object(self, value: Any) -> list[Any]:
        """Every rank's `value`, in rank order: pickled bytes gathered in two nonblocking
        steps (the lengths, then the bytes), each polled against the deadline like a sum."""
        payload = np.frombuffer(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL), np.uint8)
        lengths = np.zeros(self.size, dtype=np.int64)
        request = self.comm.Iallgather(np.array([payload.size], dtype=np.int64), lengths)
        self._wait(request, "gathering the ranks' object lengths")
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        gathered = np.empty(int(lengths.sum()), dtype=np.uint8)
        request = self.comm.Iallgatherv(
            payload, [gathered, lengths.tolist(), offsets.tolist(), self._mpi.BYTE]
        )
        self._wait(request, f"gathering {gathered.nbytes} bytes of the ranks' objects")
        return [
            pickle.loads(gathered[start : start + length].tobytes())
            for start, length in zip(offsets.tolist(), lengths.tolist(), strict=True)
        ]

    def abort(self, code: int = 1) -> None:
        """End every rank of the job (after a rank's unrecoverable error)."""
        self.comm.Abort(code)
