"""Where a compiled replay's time goes: each step of the chainrule.compile program of a
workload (its forward ops, the backward call, the optimizer's effects) timed as it runs in a
replay, beside the whole replay and the hand-written floor's step, alternated over many steps.

    python benchmarks/replay_times.py [--workload W4] [--replays 500] [--threads 1] [--quick]

Unlike cProfile this adds one clock read per step, not a cost per Python call, and it sees
each step with the caches a real step leaves; medians per step (their sum is close to the
replay's median). Absolute times move with the machine's load: read the shares.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import chainrule as cr
import impl_numpy
from impl_compiled import compiled_step
from threads import set_threads
from workloads import WORKLOADS, make_problem


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workload", default="W4", choices=sorted(WORKLOADS))
    parser.add_argument("--replays", type=int, default=500)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="W1 with N=2000")
    args = parser.parse_args()
    _handle, report = set_threads(args.threads)
    problem = make_problem(WORKLOADS[args.workload], quick=args.quick)
    floor = impl_numpy.make_step(problem)
    compiled, replay, arguments = compiled_step(problem)
    for _ in range(5):
        replay()
        floor()
    (program, _rebuild), *others = compiled.programs.values()
    if others:
        raise SystemExit("replay_times: the step was traced more than once")
    arrays = [a.data if isinstance(a, cr.Tensor) else a for a in arguments]
    clock = time.perf_counter_ns
    per_step: list[list[int]] = [[] for _ in program.steps]
    whole: dict[str, list[int]] = {"replay (CompiledStep call)": [], "floor step": []}
    for _ in range(args.replays):
        start = clock()
        replay()
        whole["replay (CompiledStep call)"].append(clock() - start)
        start = clock()
        floor()
        whole["floor step"].append(clock() - start)
        _outputs, durations = program.run_timed(arrays, clock)
        for times, duration in zip(per_step, durations, strict=True):
            times.append(duration)
        floor()  # the next timed replay follows a floor step too
    medians = [statistics.median(times) / 1000 for times in per_step]
    total = sum(medians)
    title = WORKLOADS[args.workload].title
    print(f"{args.workload}: {title}; {args.replays} replays; threads: {'; '.join(report)}")
    print(f"  {'step of the replay':44s} {'median us':>10s} {'share':>7s}")
    for label, median in zip(program.labels, medians, strict=True):
        print(f"  {label:44s} {median:10.1f} {median / total:7.1%}")
    print(f"  {'sum of the steps':44s} {total:10.1f}")
    for name, times in whole.items():
        print(f"  {name:44s} {statistics.median(times) / 1000:10.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
