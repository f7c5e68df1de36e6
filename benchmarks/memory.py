"""Peak memory of one implementation's W1 training step, in a fresh process.

    python benchmarks/memory.py IMPL [--quick] [--threads N]   (prints one JSON object)

The common measure is resident memory, since it is the only one that sees PyTorch's allocator:
the baseline is taken after the imports, two steps on a tiny problem (so lazy imports and
one-time library set-up are not counted) and the data (made in float32 directly, so no
temporaries raise the high-water mark), the kernel's high-water mark is reset there when
Linux allows it (/proc/self/clear_refs), and the peak over three steps is reported above the
baseline; without the reset it is ru_maxrss minus the baseline. For NumPy-based
implementations tracemalloc also gives the peak of the arrays allocated during one step, a
byte-exact figure immune to page and malloc effects (PyTorch's memory is invisible to it).
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import sys
import tracemalloc
from pathlib import Path
from typing import Any

from implementations import BY_KEY, TORCH, Unavailable, load
from threads import set_threads
from workloads import WORKLOADS, make_problem

MIB = 1024 * 1024


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    """Reset the kernel's resident high-water mark (VmHWM) to the current size."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def measure(key: str, quick: bool, threads: int) -> dict[str, Any]:
    impl = BY_KEY[key]
    result: dict[str, Any] = {"impl": key, "label": impl.label}
    try:
        factory = load(impl)
    except Unavailable as reason:
        return {**result, "available": False, "reason": str(reason)}
    set_threads(threads)
    warm_up = factory(make_problem(WORKLOADS["W3"], quick=True))
    for _ in range(2):
        warm_up()
    del warm_up
    problem = make_problem(WORKLOADS["W1"], quick=quick)
    gc.collect()
    precise = _reset_peak() and _status_kib("VmHWM") is not None
    baseline_kib = _status_kib("VmRSS") if precise else None
    if baseline_kib is None:
        baseline_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    step = factory(problem)
    for _ in range(3):
        step()
    peak_kib = _status_kib("VmHWM") if precise else None
    if peak_kib is None:
        peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    traced = None
    if key != TORCH:
        gc.collect()
        tracemalloc.start()
        start_bytes, _ = tracemalloc.get_traced_memory()
        step()
        _, peak_bytes = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        traced = (peak_bytes - start_bytes) / MIB
    return {
        **result,
        "available": True,
        "batch": problem.x.shape[0],
        "data_mib": (problem.x.nbytes + problem.targets.nbytes) / MIB,
        "method": "VmHWM after clear_refs" if precise else "ru_maxrss",
        "peak_rss_mib": (peak_kib - baseline_kib) / 1024,
        "traced_step_peak_mib": traced,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("impl", choices=sorted(BY_KEY))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    print(json.dumps(measure(args.impl, args.quick, args.threads)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
