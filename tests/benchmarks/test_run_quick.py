"""The benchmark's quick mode keeps working: every workload and implementation appears in its
JSON, each one that can run has finite positive times, and none fails the loss check.
Nothing here asserts how fast anything is."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "benchmarks" / "run.py"
WORKLOADS = {"W1", "W2", "W3", "W4"}
ALWAYS_AVAILABLE = {"numpy", "matmul", "manual", "autograd", "nn_optim", "compiled", "torch"}
ALWAYS_AVAILABLE |= {"jax", "xla"}  # compile to XLA: jax is in the test extra


def _run(tmp_path: Path, *args: str) -> dict[str, Any]:
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--threads", "1", "--json", str(out), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report: dict[str, Any] = json.loads(out.read_text())
    return report


def _is_positive_finite(value: Any) -> bool:
    return isinstance(value, float) and math.isfinite(value) and value > 0


def test_quick_run_times_every_workload_and_available_implementation(
    tmp_path: Path, torch: ModuleType
) -> None:
    report = _run(tmp_path)

    assert set(report["workloads"]) == WORKLOADS
    for key, result in report["workloads"].items():
        entries = result["implementations"]
        available = {name for name, entry in entries.items() if entry["available"]}
        assert available >= ALWAYS_AVAILABLE, (key, available)
        for name, entry in entries.items():
            if not entry["available"]:
                assert entry["reason"].startswith("not available"), (key, name, entry)
                continue
            assert entry["loss_check"] in {"ok", "reference"}, (key, name, entry)
            for field in ("median_ms", "p25_ms", "p75_ms", "vs_floor", "vs_torch"):
                assert _is_positive_finite(entry[field]), (key, name, field, entry)


def test_quick_memory_run_reports_a_peak_per_implementation_from_its_own_process(
    tmp_path: Path,
) -> None:
    report = _run(tmp_path, "--memory", "--impls", "numpy,autograd")

    results = report["memory_w1"]
    assert set(results) == {"numpy", "autograd"}
    for name, entry in results.items():
        assert entry["available"], entry
        assert math.isfinite(entry["peak_rss_mib"]), (name, entry)
        assert _is_positive_finite(entry["traced_step_peak_mib"]), (name, entry)


def test_quick_run_can_time_steps_by_cpu_time(tmp_path: Path) -> None:
    report = _run(tmp_path, "--clock", "cpu", "--workloads", "W3", "--impls", "compiled")
    assert report["clock"] == "cpu"
    entries = report["workloads"]["W3"]["implementations"]
    assert set(entries) == {"numpy", "compiled"}
    for name, entry in entries.items():
        assert entry["loss_check"] == "ok", (name, entry)
        assert _is_positive_finite(entry["median_ms"]), (name, entry)
