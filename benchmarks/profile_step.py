"""Where one implementation's step spends its time: cProfile over many steps of a workload.

    python benchmarks/profile_step.py [--impl autograd] [--workload W3] [--steps 2000]
                                      [--sort tottime] [--top 30] [--threads 1]

cProfile adds a fixed cost to every Python call, so it inflates call-heavy code; read its
shares of time and call counts, and the benchmark's medians for absolute speed.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys

from implementations import BY_KEY, load
from threads import set_threads
from workloads import WORKLOADS, make_problem


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--impl", default="autograd", choices=sorted(BY_KEY))
    parser.add_argument("--workload", default="W3", choices=sorted(WORKLOADS))
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--sort", default="tottime", help="a pstats sort key")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="W1 with N=2000")
    args = parser.parse_args()
    step = load(BY_KEY[args.impl])(make_problem(WORKLOADS[args.workload], quick=args.quick))
    _handle, report = set_threads(args.threads)
    for _ in range(20):
        step()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(args.steps):
        step()
    profiler.disable()
    print(f"{args.impl} on {args.workload}, {args.steps} steps; threads: {'; '.join(report)}")
    pstats.Stats(profiler).strip_dirs().sort_stats(args.sort).print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
