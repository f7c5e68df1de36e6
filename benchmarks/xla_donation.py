"""What donating the parameters is worth to JAX's own jitted step (issue 16, speculative
dispatch): impl_jax's W2-W4 step with and without `donate_argnums`, in one process, the two
alternated over many rounds of back-to-back calls, each synchronised on its loss. CPU time of
the process per call (XLA's pool threads included), wall time and minor page faults; medians
and the median of the per-round ratios.

Usage: PYTHONPATH=src python benchmarks/xla_donation.py [--workloads W2,W3,W4] [--rounds 21]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from threads import set_threads


def _make(problem: Any, donate: bool) -> Any:
    import jax
    import jax.numpy as jnp

    from impl_jax import network_loss

    weights, biases = problem.fresh_params()
    params = [(jnp.asarray(w), jnp.asarray(b)) for w, b in zip(weights, biases, strict=True)]
    x, targets = jnp.asarray(problem.x), jnp.asarray(problem.targets)
    lr, mse = problem.lr, problem.workload.loss == "mse"

    def update(params: Any, x: Any, targets: Any) -> Any:
        loss, grads = jax.value_and_grad(network_loss)(params, x, targets, mse)
        return jax.tree_util.tree_map(lambda p, g: p - lr * g, params, grads), loss

    jitted = jax.jit(update, donate_argnums=(0,) if donate else ())
    held = {"params": params}

    def step() -> Any:
        held["params"], loss = jitted(held["params"], x, targets)
        return loss.block_until_ready()

    return step


def _timed(step: Any, calls: int) -> tuple[float, float, float]:
    """CPU and wall microseconds, and minor page faults, per call."""
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    start_cpu, start_wall = time.process_time(), time.perf_counter()
    for _ in range(calls):
        step()
    cpu, wall = time.process_time() - start_cpu, time.perf_counter() - start_wall
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    return cpu / calls * 1e6, wall / calls * 1e6, faults / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workloads", default="W2,W3,W4")
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--calls", type=int, default=200)
    options = parser.parse_args()
    import jax  # noqa: F401

    _handle, report = set_threads(1)
    print("threads: " + "; ".join(report) + "; load average", os.getloadavg())
    from workloads import WORKLOADS, make_problem

    for key in options.workloads.split(","):
        problem = make_problem(WORKLOADS[key])
        steps = {"donated": _make(problem, True), "not donated": _make(problem, False)}
        for step in steps.values():
            for _ in range(30):
                step()
        cpu: dict[str, list[float]] = {name: [] for name in steps}
        wall: dict[str, list[float]] = {name: [] for name in steps}
        faults: dict[str, list[float]] = {name: [] for name in steps}
        for round_ in range(options.rounds):
            order = list(steps) if round_ % 2 == 0 else list(reversed(steps))
            for name in order:
                c, w, f = _timed(steps[name], options.calls)
                cpu[name].append(c)
                wall[name].append(w)
                faults[name].append(f)
        ratio_cpu = [n / d for n, d in zip(cpu["not donated"], cpu["donated"], strict=True)]
        ratio_wall = [n / d for n, d in zip(wall["not donated"], wall["donated"], strict=True)]
        print(
            f"{key}: {options.rounds} rounds x {options.calls} calls, load "
            f"{os.getloadavg()[0]:.2f}; medians, us per call"
        )
        for name in steps:
            print(
                f"  {name:12s} cpu {statistics.median(cpu[name]):8.1f}   "
                f"wall {statistics.median(wall[name]):8.1f}   minor page faults "
                f"{statistics.median(faults[name]):.2f}"
            )
        print(
            f"  not donated / donated, median of per-round ratios: cpu "
            f"{statistics.median(ratio_cpu):.3f} (IQR {_iqr(ratio_cpu)}), wall "
            f"{statistics.median(ratio_wall):.3f} (IQR {_iqr(ratio_wall)})"
        )


def _iqr(values: list[float]) -> str:
    q = statistics.quantiles(values, n=4)
    return f"{q[0]:.3f}-{q[2]:.3f}"


if __name__ == "__main__":
    main()
