"""The distributed benchmark's worker runs under mpiexec and reports a throughput and an
allreduce share; its cluster model gives larger batches for more ranks. Nothing here asserts
how fast anything is."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks"
MPIEXEC = Path(sys.executable).parent / "mpiexec"
sys.path.insert(0, str(BENCH))
_spec = importlib.util.spec_from_file_location("bench_distributed", BENCH / "distributed.py")
assert _spec is not None
assert _spec.loader is not None
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def test_the_worker_reports_throughput_on_two_ranks() -> None:
    if not MPIEXEC.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{MPIEXEC} is missing; in CI the mpi extra must provide it")
        pytest.skip(f"{MPIEXEC} is missing (pip install 'chainrule[mpi]')")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(BENCH)])}
    done = subprocess.run(
        [
            str(MPIEXEC),
            "-n",
            "2",
            sys.executable,
            str(BENCH / "distributed.py"),
            "--worker",
            "--workload",
            "W4",
            "--steps",
            "2",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["ranks"] == 2
    assert result["samples_per_s"] > 0
    assert math.isfinite(result["samples_per_s"])
    assert 0 < result["allreduce_share"] < 1


def test_more_ranks_need_a_larger_batch_for_the_same_efficiency() -> None:
    batches = [bench.batch_for_efficiency(60e-6, ranks, 1e6, 25e9, 25e-6) for ranks in (8, 32, 128)]
    assert batches == sorted(batches)
    assert batches[0] > 0
