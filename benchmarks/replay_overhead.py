"""What a `chainrule.compile` call costs besides its program: the argument checks, the
program lookup, the requires_grad flags and guards (`compiler.guards`), the program's run and
the wrapping of its outputs, each timed inside a copy of the call's replay path, right after
a step of the hand-written floor (cold caches, as when the benchmark alternates) and right
after another replay (warm); with the minor page faults and the gc-tracked allocations of one
step of each.

    python benchmarks/replay_overhead.py [--workloads W3,W4] [--calls 400] [--threads 1]
                                         [--tiny]

`--tiny` caps every width at 16 and the batch at 2, so the NumPy work is negligible and what
remains is Python: the replay's own overhead against the floor's. Times are the median (p10
with --tiny) in microseconds; absolute values move with the load, read the split.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import chainrule as cr
import impl_numpy
from chainrule.compiler.compiled import _argument_arrays, _flags_changed
from impl_compiled import compiled_step
from threads import set_threads
from workloads import WORKLOADS, make_problem

PARTS = ("arguments", "lookup", "flags+guards", "program.run", "outputs")


def _instrumented(compiled: Any, times: list[tuple[int, ...]]) -> Callable[..., Any]:
    """CompiledStep.__call__'s replay path, one clock read between its parts."""
    clock = time.perf_counter_ns
    wrap = cr.Tensor.from_numpy

    def call(*args: Any) -> Any:
        t0 = clock()
        arrays, signature = _argument_arrays(args)
        t1 = clock()
        program, rebuild = compiled.programs[signature]
        t2 = clock()
        if _flags_changed(program):
            raise SystemExit("replay_overhead: the step would be traced again")
        t3 = clock()
        outputs = program.run(arrays)
        t4 = clock()
        result = rebuild([wrap(array) for array in outputs])
        t5 = clock()
        times.append((t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4))
        return result

    return call


def _faults_and_allocations(step: Callable[[], Any], calls: int) -> tuple[float, float]:
    """Minor page faults and gc-tracked allocations (net, generation 0) per call."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(calls):
        step()
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / calls
    gc.collect()
    gc.disable()
    try:
        start = gc.get_count()[0]
        step()
        allocations = gc.get_count()[0] - start
    finally:
        gc.enable()
    return faults, allocations


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", default="W2,W3,W4")
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tiny", action="store_true", help="widths <= 16, batch 2")
    args = parser.parse_args()
    _handle, report = set_threads(args.threads)
    statistic = 10 if args.tiny else 50
    print(f"threads: {'; '.join(report)}; {'tiny shapes, p10' if args.tiny else 'median'}")
    for key in args.workloads.split(","):
        workload = WORKLOADS[key]
        if args.tiny:
            widths = tuple(min(width, 16) for width in workload.widths)
            workload = dataclasses.replace(workload, widths=widths, batch=2)
        problem = make_problem(workload)
        floor = impl_numpy.make_step(problem)
        compiled, replay, arguments = compiled_step(problem)
        for _ in range(5):
            replay()
            floor()
        times: list[tuple[int, ...]] = []
        call = _instrumented(compiled, times)
        clock = time.perf_counter_ns
        rows = {}
        for after in ("floor", "replay"):
            times.clear()
            whole: dict[str, list[int]] = {"call": [], "floor": []}
            for _ in range(args.calls):
                (floor if after == "floor" else replay)()
                call(*arguments)
                start = clock()
                replay()
                whole["call"].append(clock() - start)
                start = clock()
                floor()
                whole["floor"].append(clock() - start)
            split = np.percentile(np.array(times), statistic, axis=0) / 1000
            rows[after] = split
            ends = {name: np.percentile(v, statistic) / 1000 for name, v in whole.items()}
            parts = zip(PARTS, split, strict=True)
            print(
                f"{key} after a {after:6s} step: "
                + "  ".join(f"{part} {value:7.1f}" for part, value in parts)
                + f"  | outside the run {split.sum() - split[3]:6.1f}"
                + f"  | call {ends['call']:7.1f} floor {ends['floor']:7.1f}"
            )
        faults, allocations = _faults_and_allocations(replay, args.calls)
        floor_faults, floor_allocations = _faults_and_allocations(floor, args.calls)
        print(
            f"{key} per step: minor page faults {faults:.2f} (floor {floor_faults:.2f}), "
            f"gc allocations {allocations:.0f} (floor {floor_allocations:.0f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
