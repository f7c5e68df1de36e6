"""`start_together`: the ranks of a run start only when all can, and a refusal is reported
once: by rank 0 when it refuses, else by each refusing rank, named."""

from __future__ import annotations

from thread_ranks import ThreadRank, run_ranks

from chainrule.distributed import SingleProcess
from chainrule.distributed.training import start_together


def test_every_rank_starts_when_none_refuses() -> None:
    reports: list[str] = []
    assert run_ranks(2, lambda comm: start_together(None, reports.append, comm)) == [True, True]
    assert reports == []


def test_a_refusing_rank_0_reports_and_no_rank_starts() -> None:
    reports: list[str] = []

    def body(comm: ThreadRank) -> bool:
        refused = ValueError("train: no") if comm.rank == 0 else None
        return start_together(refused, lambda error: reports.append(str(error)), comm)

    assert run_ranks(2, body) == [False, False]
    assert reports == ["train: no"]


def test_another_refusing_rank_reports_with_its_rank() -> None:
    reports: list[str] = []

    def body(comm: ThreadRank) -> bool:
        refused = OSError("disk full") if comm.rank == 1 else None
        return start_together(refused, lambda error: reports.append(str(error)), comm)

    assert run_ranks(3, body) == [False, False, False]
    assert reports == ["train: rank 1 of 3: disk full"]


def test_one_process_reports_its_refusal() -> None:
    reports: list[str] = []
    assert not start_together(
        ValueError("train: no"), lambda error: reports.append(str(error)), SingleProcess()
    )
    assert reports == ["train: no"]
