"""The communicator interface data-parallel training needs, and its single-process case.

A `Communicator` numbers the processes of a job 0..size-1 and offers the few collectives
data parallelism uses: an in-place sum of an array over all ranks, a broadcast from one
rank, and a gather of small Python objects. `SingleProcess` is the world of one, so every
distributed code path also runs in an ordinary process; `MPICommunicator` runs on MPI.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np


class CollectiveTimeout(RuntimeError):
    """A collective waited longer than its deadline: another rank died or hangs."""


class Communicator(Protocol):
    """The ranks of one job and the collectives between them."""

    @property
    def rank(self) -> int: ...

    @property
    def size(self) -> int: ...

    def allreduce_sum(self, buffer: np.ndarray) -> None:
        """buffer <- the sum of `buffer` over all ranks, in place (C-contiguous)."""
        ...

    def broadcast(self, buffer: np.ndarray, root: int = 0) -> None:
        """buffer <- `root`'s buffer, in place, on every rank."""
        ...

    def allgather_object(self, value: Any) -> list[Any]:
        """Every rank's `value` (small, picklable), in rank order."""
        ...


def _check_buffer(operation: str, buffer: np.ndarray) -> None:
    if (
        not isinstance(buffer, np.ndarray)
        or not buffer.flags.c_contiguous
        or not buffer.flags.writeable
    ):
        raise TypeError(
            f"{operation}: the buffer must be a writeable C-contiguous ndarray (it is "
            f"reduced in place), got {type(buffer).__name__}"
            + (
                f" with flags c_contiguous={buffer.flags.c_contiguous}, "
                f"writeable={buffer.flags.writeable}"
                if isinstance(buffer, np.ndarray)
                else ""
            )
            + "; pass np.ascontiguousarray(buffer) and read the result from it"
        )


class SingleProcess:
    """The world of one process: every collective leaves its buffer as it is."""

    rank = 0
    size = 1

    def allreduce_sum(self, buffer: np.ndarray) -> None:
        _check_buffer("SingleProcess.allreduce_sum", buffer)

    def broadcast(self, buffer: np.ndarray, root: int = 0) -> None:
        _check_buffer("SingleProcess.broadcast", buffer)
        if root != 0:
            raise ValueError(
                f"SingleProcess.broadcast: root {root} does not exist in a "
                "world of one process; use root=0"
            )

    def allgather_object(self, value: Any) -> list[Any]:
        return [value]
