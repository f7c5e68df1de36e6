"""benchmarks/gpu_check.py, the one-call GPU check, keeps working where there is no GPU: its
CPU dry run takes every part's code path and passes, a wrong rule or a diverging training
makes it report a failure, a part that runs out of time stops and says so, and the CUDA run
refuses in one line where CuPy or a GPU is missing. Nothing here asserts how fast anything is.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from chainrule.placement import cuda_problem
from chainrule.primitives.elementwise import Exp

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks"
sys.path.insert(0, str(BENCH))

import gpu_check  # noqa: E402  (benchmarks/ is not a package)

pytest.importorskip("array_api_strict")
pytest.importorskip("jax")


def _script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCH / "gpu_check.py"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.slow  # the one end-to-end run: 10-30 s on 2 shared cores
def test_the_quick_cpu_dry_run_passes_every_part_and_labels_itself_not_gpu(
    tmp_path: Path, torch: ModuleType
) -> None:
    from engine_cases import CASES

    done = _script("--device", "cpu", "--quick", "--out", str(tmp_path))

    assert done.returncode == 0, done.stdout + done.stderr
    text = (tmp_path / "gpu-check-dry-run-cpu.txt").read_text()
    assert text.startswith("CPU DRY RUN, NOT GPU FIGURES")
    for part in gpu_check.PARTS:
        assert f"== {part} (time box" in text
    assert f"summary: {len(CASES)} pass, 0 fail, 0 not run of {len(CASES)}" in text
    assert sum(line.startswith("  PASS  ") for line in text.splitlines()) == len(CASES) + 4
    assert "FAIL" not in text
    assert "TIME BOX" not in text
    assert f"== recap\n  ops: {len(CASES)} pass, 0 fail, 0 not run\n" in text
    assert text.rstrip().endswith("== summary: every check passed")
    report = json.loads((tmp_path / "gpu-check-dry-run-cpu.json").read_text())
    assert report["dry_run"] is True
    assert report["failures"] == []
    assert set(report["parts"]) == set(gpu_check.PARTS)
    workloads = report["parts"]["speed"]["workloads"]
    assert set(workloads) == set(gpu_check.QUICK_WORKLOADS)
    for entries in workloads.values():
        assert set(entries) == {"torch", "eager", "xla", "jax"}
        for entry in entries.values():
            assert entry["status"] == "ok"
            assert entry["median_ms"] > 0
        assert entries["torch"]["ratio_to_torch"] == 1.0


def test_a_wrong_gradient_rule_fails_its_op_table_line_and_the_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, torch: ModuleType
) -> None:
    def doubled_vjp(saved: Any, grad_out: Any, needs: tuple[bool, ...]) -> tuple[Any, ...]:
        return (2 * grad_out * saved,)

    monkeypatch.setattr(Exp, "vjp", staticmethod(doubled_vjp))
    report = gpu_check.Report(tmp_path, "check")

    result = gpu_check.part_ops(gpu_check.cpu_target(), report, 60.0, True, {"exp", "log"})
    report.close()

    text = (tmp_path / "check.txt").read_text()
    assert "FAIL  exp " in text
    assert "PASS  log " in text
    assert "summary: 1 pass, 1 fail, 0 not run of 2" in text
    assert result["counts"] == {"pass": 1, "fail": 1, "not run": 0}
    assert report.failures == ["ops: exp"]
    errors = next(entry for entry in result["cases"] if entry["case"] == "exp")["errors"]
    assert errors["float64"] > 0.1  # 2 g e^x against g e^x


def test_loss_sequences_that_part_fail_the_training_comparison(tmp_path: Path) -> None:
    report = gpu_check.Report(tmp_path, "check")

    result = gpu_check.compare_losses(report, "run", [2.0, 1.0, 0.5], [2.0, 1.0, 0.6], 1e-4)
    report.close()

    assert result["passed"] is False
    assert result["max_rel_diff"] == pytest.approx(0.2)
    assert report.failures == ["train: run"]


def test_a_nan_loss_fails_the_training_comparison(tmp_path: Path) -> None:
    report = gpu_check.Report(tmp_path, "check")

    result = gpu_check.compare_losses(report, "run", [2.0, 1.0], [2.0, float("nan")], 1e-4)
    report.close()

    assert result["passed"] is False


def test_an_op_table_past_its_time_box_counts_the_cases_not_run(
    tmp_path: Path, torch: ModuleType
) -> None:
    report = gpu_check.Report(tmp_path, "check")

    result = gpu_check.part_ops(gpu_check.cpu_target(), report, 0.0, True, {"exp", "log"})
    report.close()

    assert result["counts"] == {"pass": 0, "fail": 0, "not run": 2}
    assert "TIME BOX: 2 cases not run" in (tmp_path / "check.txt").read_text()


def test_the_alarm_stops_a_part_stuck_past_its_time_box(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gpu_check, "GRACE", 0.05)
    start = time.monotonic()
    with pytest.raises(gpu_check.TimeBox), gpu_check.alarm(0.0):
        time.sleep(5)
    assert time.monotonic() - start < 2


def test_a_part_stopped_by_its_time_box_is_recorded_and_the_next_part_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def stuck(*args: Any) -> dict[str, Any]:
        raise gpu_check.TimeBox

    monkeypatch.setattr(gpu_check, "limit_threads", lambda: None)
    monkeypatch.setattr(gpu_check, "part_train", stuck)
    monkeypatch.setattr(gpu_check, "part_speed", lambda *args: {"ran": True})

    status = gpu_check.main(["--device", "cpu", "--parts", "train,speed", "--out", str(tmp_path)])

    text = (tmp_path / "gpu-check-dry-run-cpu.txt").read_text()
    report = json.loads((tmp_path / "gpu-check-dry-run-cpu.json").read_text())
    assert "TIME BOX: train stopped after" in text
    assert report["parts"]["train"]["stopped"] == "time box"
    assert report["parts"]["speed"]["ran"] is True
    assert status == 0


def test_each_part_gets_its_share_of_the_time_left_and_the_last_part_all_of_it() -> None:
    clock = gpu_check.Clock(100.0, ["ops", "speed"])

    ops = clock.box("ops")
    speed = clock.box("speed")

    shares = gpu_check.SHARES
    assert ops == pytest.approx(100 * shares["ops"] / (shares["ops"] + shares["speed"]), abs=0.5)
    assert speed == pytest.approx(100, abs=0.5)  # ops spent none of its box: speed gets it


@pytest.mark.skipif(cuda_problem() is None, reason="this machine has CuPy and a GPU")
def test_the_cuda_check_refuses_in_one_line_without_cupy_or_a_gpu(tmp_path: Path) -> None:
    done = _script("--device", "cuda", "--out", str(tmp_path))

    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("gpu_check --device cuda: ")
    assert ("CuPy is not installed" in done.stderr) or ("no CUDA GPU" in done.stderr)
    assert not any(tmp_path.iterdir())


def test_unknown_parts_are_refused_by_name() -> None:
    done = _script("--device", "cpu", "--parts", "ops,speeed")

    assert done.returncode == 2
    assert "--parts: unknown speeed" in done.stderr
