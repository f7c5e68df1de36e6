"""An in-process stand-in for MPI in unit tests: `size` threads, each holding one
`ThreadRank` communicator, meeting at a barrier for every collective."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np


class ThreadRank:
    """One rank of a `run_ranks` group; counts its allreduce calls."""

    def __init__(self, rank: int, size: int, slots: list[Any], barrier: threading.Barrier) -> None:
        self.rank, self.size = rank, size
        self.slots, self.barrier = slots, barrier
        self.allreduce_calls = 0

    def allreduce_sum(self, buffer: np.ndarray) -> None:
        self.allreduce_calls += 1
        self.slots[self.rank] = buffer.copy()
        self.barrier.wait()
        total = np.sum(self.slots, axis=0)
        self.barrier.wait()
        buffer[...] = total

    def broadcast(self, buffer: np.ndarray, root: int = 0) -> None:
        self.slots[self.rank] = buffer.copy()
        self.barrier.wait()
        source = self.slots[root]
        self.barrier.wait()
        buffer[...] = source

    def allgather_object(self, value: Any) -> list[Any]:
        self.slots[self.rank] = value
        self.barrier.wait()
        values = list(self.slots)
        self.barrier.wait()
        return values


def run_ranks(size: int, body: Callable[[ThreadRank], Any]) -> list[Any]:
    """body(comm) on `size` threads, one rank each; their results in rank order."""
    slots: list[Any] = [None] * size
    barrier = threading.Barrier(size, timeout=30)
    ranks = [ThreadRank(rank, size, slots, barrier) for rank in range(size)]
    results: list[Any] = [None] * size
    errors: list[BaseException] = []

    def target(comm: ThreadRank) -> None:
        try:
            results[comm.rank] = body(comm)
        except BaseException as error:
            errors.append(error)
            barrier.abort()

    threads = [threading.Thread(target=target, args=(comm,)) for comm in ranks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results
