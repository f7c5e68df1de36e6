"""Time one training step of each implementation on each workload, in one process.

    python benchmarks/run.py [--quick] [--json FILE] [--workloads W1,W2] [--threads N]
                             [--impls numpy,autograd,...] [--rounds R] [--clock cpu]
    python benchmarks/run.py --memory [--quick] [--json FILE]   (peak memory on W1)

Implementations run interleaved in rounds (forward order, then reversed, ...) after a warm-up,
each round a few steps of each; the table gives median ms/step and ratios to the hand-written
NumPy floor and to PyTorch. Before timing, the losses of each implementation's first three
steps must match the floor's (relative 1e-4): the forward pass, the gradients and the update
are all checked, so a fast wrong implementation cannot win.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from implementations import FLOOR, IMPLEMENTATIONS, TORCH, Implementation, Unavailable, load
from threads import set_threads
from workloads import WORKLOADS, make_problem

LOSS_RTOL = 1e-4
GUARD_STEPS = 3


def guard_losses(step: Callable[[], Any]) -> list[float] | None:
    """The losses of the first GUARD_STEPS steps (None for a reference without a loss): the
    first checks the forward pass, the later ones the gradients and the update too."""
    losses = []
    for _ in range(GUARD_STEPS):
        loss = step()
        if loss is None:
            return None
        losses.append(float(loss.item() if hasattr(loss, "item") else loss))
    return losses


def loss_check(losses: list[float] | None, floor_losses: list[float]) -> str:
    """'ok', 'reference' (no loss), or where the losses disagree with the floor's."""
    if losses is None:
        return "reference"
    for index, (value, floor) in enumerate(zip(losses, floor_losses, strict=True)):
        if not (math.isfinite(value) and abs(value - floor) <= LOSS_RTOL * abs(floor)):
            return f"WRONG: loss of step {index + 1} is {value!r}, the floor's {floor!r}"
    return "ok"


CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}
"""--clock: wall time, or this process's CPU time (all its threads), which a busy machine's
other processes inflate far less: they take turns on the cores, not this process's work."""


def time_interleaved(
    steps: dict[str, Callable[[], Any]],
    rounds: int,
    steps_per_round: int,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, list[float]]:
    """Per-step seconds (by `clock`) of each step function, run in alternating-order rounds."""
    samples: dict[str, list[float]] = {key: [] for key in steps}
    gc.collect()
    gc.freeze()  # the long-lived objects of the imports: later collections skip them
    order = list(steps)
    for round_index in range(rounds):
        for key in order if round_index % 2 == 0 else reversed(order):
            step, times = steps[key], samples[key]
            gc.collect()
            for _ in range(steps_per_round):
                start = clock()
                step()
                times.append(clock() - start)
    return samples


def selected(args: argparse.Namespace) -> list[Implementation]:
    """The implementations to run, in table order; the floor always (ratios need it)."""
    keys = set(args.impls.split(",")) | {FLOOR}
    return [impl for impl in IMPLEMENTATIONS if impl.key in keys]


def run_workload(key: str, args: argparse.Namespace) -> dict[str, Any]:
    workload = WORKLOADS[key]
    problem = make_problem(workload, quick=args.quick)
    results: dict[str, dict[str, Any]] = {}
    steps: dict[str, Callable[[], Any]] = {}
    floor_losses = guard_losses(load(IMPLEMENTATIONS[0])(problem))
    if floor_losses is None:
        raise RuntimeError("the hand-written floor must return its loss")
    for impl in selected(args):
        entry: dict[str, Any] = {"label": impl.label}
        results[impl.key] = entry
        try:
            step = load(impl)(problem)
        except Unavailable as reason:
            entry.update(available=False, reason=str(reason))
            continue
        entry["available"] = True
        entry["loss_check"] = check = loss_check(guard_losses(step), floor_losses)
        if check.startswith("WRONG"):
            continue
        for _ in range(args.warmup):
            step()
        steps[impl.key] = step
    floor_seconds = math.inf
    for _ in range(5):
        start = time.perf_counter()
        steps[FLOOR]()
        floor_seconds = min(floor_seconds, time.perf_counter() - start)
    steps_per_round = max(1, min(200, round(args.block / max(floor_seconds, 1e-6))))
    samples = time_interleaved(steps, args.rounds, steps_per_round, CLOCKS[args.clock])
    for impl_key, times in samples.items():
        ms = np.asarray(times) * 1e3
        results[impl_key].update(
            median_ms=float(np.median(ms)),
            p25_ms=float(np.percentile(ms, 25)),
            p75_ms=float(np.percentile(ms, 75)),
            steps=len(times),
        )
    floor_ms = results[FLOOR]["median_ms"]
    torch_ms = results.get(TORCH, {}).get("median_ms")
    for entry in results.values():
        if "median_ms" in entry:
            entry["vs_floor"] = entry["median_ms"] / floor_ms
            entry["vs_torch"] = entry["median_ms"] / torch_ms if torch_ms else None
    return {
        "title": workload.title,
        "batch": problem.x.shape[0],
        "rounds": args.rounds,
        "steps_per_round": steps_per_round,
        "floor_losses": floor_losses,
        "implementations": results,
    }


def machine() -> dict[str, Any]:
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            cpu = next(
                line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    info = {
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "load_average": os.getloadavg(),
    }
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch"] = torch.__version__
    return info


def format_table(report: dict[str, Any]) -> str:
    lines = [f"{'impl':<44}{'ms/step':>10}{'p25-p75':>17}{'x floor':>9}{'x torch':>9}"]
    for key, result in report["workloads"].items():
        lines.append(
            f"{key}: {result['title']} (batch {result['batch']}, "
            f"{result['rounds']} rounds x {result['steps_per_round']} steps)"
        )
        for entry in result["implementations"].values():
            label = f"  {entry['label']}"
            if not entry["available"]:
                lines.append(f"{label:<44}{'n/a (' + entry['reason'] + ')':>10}")
            elif "median_ms" not in entry:
                lines.append(f"{label:<44}  {entry['loss_check']}")
            else:
                spread = f"{entry['p25_ms']:.3f}-{entry['p75_ms']:.3f}"
                vs_torch = f"{entry['vs_torch']:.2f}" if entry["vs_torch"] else "-"
                lines.append(
                    f"{label:<44}{entry['median_ms']:>10.3f}{spread:>17}"
                    f"{entry['vs_floor']:>9.2f}{vs_torch:>9}"
                )
    return "\n".join(lines)


def run_memory(args: argparse.Namespace) -> dict[str, Any]:
    """Peak memory of each implementation on W1, each in a fresh process (memory.py)."""
    script = Path(__file__).resolve().parent / "memory.py"
    results = {}
    for impl in selected(args):
        command = [sys.executable, str(script), impl.key, "--threads", str(args.threads)]
        if args.quick:
            command.append("--quick")
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"memory.py {impl.key} failed:\n{done.stdout}{done.stderr}")
        results[impl.key] = json.loads(done.stdout)
    return results


def format_memory(results: dict[str, Any]) -> str:
    lines = [f"{'impl (W1 peak memory above baseline)':<44}{'RSS MiB':>10}{'traced MiB':>12}"]
    for result in results.values():
        label = f"  {result['label']}"
        if not result["available"]:
            lines.append(f"{label:<44}{'n/a (' + result['reason'] + ')':>10}")
            continue
        traced = result["traced_step_peak_mib"]
        traced_text = f"{traced:.1f}" if traced is not None else "-"
        lines.append(f"{label:<44}{result['peak_rss_mib']:>10.1f}{traced_text:>12}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny and fast (CI): W1 with N=2000")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument(
        "--workloads",
        default=",".join(WORKLOADS),
        help="comma-separated subset of " + ",".join(WORKLOADS),
    )
    default_threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    parser.add_argument(
        "--threads",
        type=int,
        default=default_threads,
        help="threads for BLAS and PyTorch (default: the usable cores)",
    )
    parser.add_argument(
        "--impls",
        default=",".join(impl.key for impl in IMPLEMENTATIONS),
        help="comma-separated subset of implementations (the floor always runs)",
    )
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 21, quick 3)")
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="wall",
        help="time steps by wall time (default) or by the process's CPU time, steadier on a "
        "busy machine (with more than one thread it sums their CPU time)",
    )
    parser.add_argument(
        "--memory",
        action="store_true",
        help="measure peak memory on W1 instead, one process per implementation",
    )
    args = parser.parse_args(argv)
    if args.rounds is None:
        args.rounds = 3 if args.quick else 21
    args.warmup = 2 if args.quick else 5
    args.block = 0.002 if args.quick else 0.05
    unknown = set(args.workloads.split(",")) - set(WORKLOADS)
    if unknown:
        parser.error(f"unknown workloads {sorted(unknown)}; choose from {list(WORKLOADS)}")
    unknown = set(args.impls.split(",")) - {impl.key for impl in IMPLEMENTATIONS}
    if unknown:
        parser.error(
            f"unknown implementations {sorted(unknown)}; choose from "
            f"{[impl.key for impl in IMPLEMENTATIONS]}"
        )
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report: dict[str, Any] = {"quick": args.quick, "threads": args.threads, "clock": args.clock}
    if args.memory:
        report["memory_w1"] = run_memory(args)
        report["machine"] = machine()
        print(format_memory(report["memory_w1"]))
    else:
        for impl in selected(args):
            try:
                load(impl)
            except Unavailable:
                continue
        _handle, report["thread_control"] = set_threads(args.threads)
        report["machine"] = machine()
        report["workloads"] = {key: run_workload(key, args) for key in args.workloads.split(",")}
        report["machine"]["load_average_end"] = os.getloadavg()
        print(f"machine: {report['machine']}")
        print("threads: " + "; ".join(report["thread_control"]) + f"; clock: {args.clock}")
        print(format_table(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    wrong = [
        f"{key} {impl}: {entry['loss_check']}"
        for key, result in report.get("workloads", {}).items()
        for impl, entry in result["implementations"].items()
        if entry.get("loss_check", "").startswith("WRONG")
    ]
    if wrong:
        print("correctness guard failed:\n  " + "\n  ".join(wrong), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
