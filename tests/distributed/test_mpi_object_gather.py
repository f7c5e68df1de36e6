"""Through the real launcher: gathering Python objects (the run folder, the ranks' dropout
generator states) returns every rank's object in rank order, and is bounded by the collective
deadline like the sums, so a hung rank cannot stall the others in it forever."""

from __future__ import annotations

import json
import time
from pathlib import Path

from mpi_helpers import Launch

WORKER = Path(__file__).with_name("gather_worker.py")


def test_every_rank_gets_every_object_in_rank_order(launch: Launch, tmp_path: Path) -> None:
    out = tmp_path / "gathered"
    finished = launch(3, str(WORKER), "60", "ok", str(out), timeout=120)
    assert finished.returncode == 0, finished.stderr
    expected = [{"rank": rank, "items": list(range(rank * 500))} for rank in range(3)]
    for rank in range(3):
        got = json.loads(out.with_suffix(f".{rank}.json").read_text())
        assert got == {"gathered": expected}


def test_a_hung_rank_ends_the_gather_at_the_deadline(launch: Launch, tmp_path: Path) -> None:
    out = tmp_path / "gathered"
    started = time.monotonic()
    finished = launch(2, str(WORKER), "3", "hang", str(out), timeout=120)
    assert time.monotonic() - started < 60
    assert finished.returncode != 0
    got = json.loads(out.with_suffix(".0.json").read_text())
    assert "rank 0 of 2" in got["timeout"]
    assert "died or hangs" in got["timeout"]
    assert 3 <= got["waited"] < 30
