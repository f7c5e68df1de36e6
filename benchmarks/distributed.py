"""Data-parallel throughput on MPI: W2 and W4 at 1, 2 and 4 ranks, the allreduce's share of
a step, and the allreduce's latency alpha and inverse bandwidth beta on this machine.

    python benchmarks/distributed.py [--steps 60] [--out benchmarks/results/distributed.txt]

runs every configuration through `mpiexec` (beside this interpreter; the mpi extra) and
prints a report, including the cluster model step = compute/N + allreduce(N, bytes) with the
global batch each rank count needs to stay above 80% efficiency. Each rank runs the nn + optim
step (`impl_nn_optim`) on its shard of the workload's global batch, on one BLAS thread, with
`chainrule.distributed.DataParallel` averaging the gradients (none at 1 rank).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import chainrule as cr
from chainrule import distributed
from impl_nn_optim import build
from threads import set_threads
from workloads import WORKLOADS, make_problem

HERE = Path(__file__).resolve().parent
MPIEXEC = Path(sys.executable).parent / "mpiexec"
RANKS = (1, 2, 4)
ALPHA_BETA_SIZES = [2**power for power in range(3, 25, 3)]
"""Allreduce message sizes in bytes, 8 B to 16 MiB. alpha is the median time of those up to
SMALL_MESSAGE bytes, beta the slope of a straight line through those of LARGE_MESSAGE and more."""
SMALL_MESSAGE = 2**9
LARGE_MESSAGE = 2**15
NETWORKS = {"25 Gb/s Ethernet (TCP)": (25e9, 25e-6), "100 Gb/s InfiniBand (RDMA)": (100e9, 3e-6)}
"""Link bandwidth (bit/s) and per-message latency alpha (s) typical of each network."""
CLUSTER_RANKS = (8, 32, 128)
TARGET_EFFICIENCY = 0.8


class TimedCommunicator:
    """A communicator that adds up the seconds spent in allreduce_sum."""

    def __init__(self, comm: distributed.Communicator) -> None:
        self.comm = comm
        self.rank, self.size = comm.rank, comm.size
        self.seconds = 0.0

    def allreduce_sum(self, buffer: np.ndarray) -> None:
        started = time.perf_counter()
        self.comm.allreduce_sum(buffer)
        self.seconds += time.perf_counter() - started

    def broadcast(self, buffer: np.ndarray, root: int = 0) -> None:
        self.comm.broadcast(buffer, root)

    def allgather_object(self, value: Any) -> list[Any]:
        return self.comm.allgather_object(value)


def worker_throughput(workload_key: str, steps: int) -> dict[str, Any] | None:
    """One rank's part of a throughput run; rank 0 returns the measurement."""
    comm = distributed.world()
    problem = make_problem(WORKLOADS[workload_key])
    start, stop = distributed.shard_bounds(len(problem.x), comm.rank, comm.size)
    shard = dataclasses.replace(
        problem, x=problem.x[start:stop], targets=problem.targets[start:stop]
    )
    model, loss_fn, optimizer, x, targets = build(shard)
    timed = TimedCommunicator(comm)
    parallel = (
        distributed.DataParallel(model.parameters(), optimizer, timed) if comm.size > 1 else None
    )
    parameter_bytes = sum(param.data.nbytes for param in model.parameters())

    def step() -> cr.Tensor:
        optimizer.zero_grad()
        loss: cr.Tensor = loss_fn(model(x), targets)
        loss.backward()
        optimizer.step()
        return loss

    for _ in range(5):
        step()
    barrier = np.zeros(1)
    comm.allreduce_sum(barrier)
    timed.seconds = 0.0
    started = time.perf_counter()
    for _ in range(steps):
        step()
    elapsed = time.perf_counter() - started
    shares = np.array([timed.seconds / elapsed, elapsed])
    comm.allreduce_sum(shares)
    if comm.rank != 0:
        return None
    return {
        "workload": workload_key,
        "ranks": comm.size,
        "batch": len(problem.x),
        "steps": steps,
        "ms_per_step": 1e3 * elapsed / steps,
        "samples_per_s": len(problem.x) * steps / elapsed,
        "allreduce_share": float(shares[0]) / comm.size if parallel is not None else 0.0,
        "gradient_bytes": parameter_bytes,
    }


def worker_alpha_beta(repeats: int) -> dict[str, Any] | None:
    """Median allreduce time per message size (the slowest rank's), alpha and beta."""
    comm = distributed.world()
    warmup = np.ones(ALPHA_BETA_SIZES[-1] // 4, dtype=np.float32)
    for _ in range(3):
        comm.allreduce_sum(warmup)
    medians = []
    for nbytes in ALPHA_BETA_SIZES:
        buffer = np.ones(nbytes // 4, dtype=np.float32)
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            comm.allreduce_sum(buffer)
            times.append(time.perf_counter() - started)
        slowest = np.array([float(np.median(times))])
        comm.allreduce_sum(slowest)
        medians.append(float(slowest[0]) / comm.size)
    if comm.rank != 0:
        return None
    sizes, seconds = np.array(ALPHA_BETA_SIZES, float), np.array(medians)
    alpha = float(np.median(seconds[sizes <= SMALL_MESSAGE]))
    large = sizes >= LARGE_MESSAGE
    beta = np.polyfit(sizes[large], seconds[large], 1)[0]
    return {
        "ranks": comm.size,
        "sizes": ALPHA_BETA_SIZES,
        "seconds": medians,
        "alpha_s": float(alpha),
        "beta_s_per_byte": float(beta),
    }


def launch(ranks: int, *arguments: str) -> dict[str, Any]:
    """Run this script as a worker on `ranks` ranks and return rank 0's JSON line."""
    if not MPIEXEC.exists():
        raise SystemExit(
            f"benchmarks/distributed.py: {MPIEXEC} is missing; install the mpi "
            "extra: pip install -e '.[mpi]'"
        )
    src = str(HERE.parent / "src")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [src, str(HERE), os.environ.get("PYTHONPATH")])),
    }
    done = subprocess.run(
        [str(MPIEXEC), "-n", str(ranks), sys.executable, __file__, "--worker", *arguments],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    if done.returncode != 0:
        raise SystemExit(f"worker on {ranks} ranks failed:\n{done.stdout}\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def allreduce_seconds(ranks: int, nbytes: float, bandwidth_bits: float, alpha: float) -> float:
    """Rabenseifner's allreduce (MPICH's for large messages): a reduce-scatter and an
    allgather by recursive halving and doubling, 2 log2(N) messages and 2 (N-1)/N of the
    bytes through each link: alpha_N = 2 log2(N) alpha, beta_N bytes = 2 (N-1)/N bytes / bw."""
    return 2 * math.log2(ranks) * alpha + 2 * (ranks - 1) / ranks * nbytes * 8 / bandwidth_bits


def batch_for_efficiency(
    seconds_per_sample: float, ranks: int, nbytes: float, bandwidth_bits: float, alpha: float
) -> int:
    """The smallest global batch B with efficiency (c B / N) / (c B / N + allreduce) >= 80%."""
    communication = allreduce_seconds(ranks, nbytes, bandwidth_bits, alpha)
    factor = TARGET_EFFICIENCY / (1 - TARGET_EFFICIENCY)
    return math.ceil(factor * communication * ranks / seconds_per_sample)


def report(runs: list[dict[str, Any]], alpha_beta: dict[str, Any]) -> str:
    alpha, beta = alpha_beta["alpha_s"], alpha_beta["beta_s_per_byte"]
    lines = [
        "Data-parallel training on MPI (MPICH, loopback), nn + optim, float32, SGD, "
        "1 BLAS thread per rank.",
        "allreduce share: time inside the allreduce, waiting for the slower rank included; "
        "alpha + beta bytes: the allreduce alone (fit below) over the step time.",
        "",
        "| workload | ranks | global batch | ms/step | samples/s | vs 1 rank | "
        "allreduce share | alpha + beta bytes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    base = {run["workload"]: run["samples_per_s"] for run in runs if run["ranks"] == 1}
    for run in runs:
        lines.append(
            f"| {run['workload']} | {run['ranks']} | {run['batch']} | "
            f"{run['ms_per_step']:.2f} | {run['samples_per_s']:.0f} | "
            f"{run['samples_per_s'] / base[run['workload']]:.2f}x | "
            f"{100 * run['allreduce_share']:.1f}% | "
            + (
                f"{100 * (alpha + beta * run['gradient_bytes']) * 1e3 / run['ms_per_step']:.1f}% |"
                if run["ranks"] > 1
                else "- |"
            )
        )
    lines += ["", f"Allreduce on {alpha_beta['ranks']} ranks (median per size):"]
    for nbytes, seconds in zip(alpha_beta["sizes"], alpha_beta["seconds"], strict=True):
        lines.append(f"  {nbytes:>9} B  {1e6 * seconds:9.1f} us")
    lines += [
        f"fit: alpha = {1e6 * alpha:.1f} us, beta = {1e9 * beta:.3f} ns/byte "
        f"({1 / beta / 1e9:.2f} GB/s)",
        "",
    ]
    w2 = next(run for run in runs if run["workload"] == "W2" and run["ranks"] == 1)
    seconds_per_sample = w2["ms_per_step"] / 1e3 / w2["batch"]
    nbytes = w2["gradient_bytes"]
    lines.append(
        f"Cluster model for W2 ({nbytes / 1e6:.2f} MB of float32 gradients, "
        f"{1e6 * seconds_per_sample:.1f} us of compute per sample on one core): "
        "step = c B / N + 2 log2(N) alpha + 2 (N-1)/N bytes / bandwidth; the global "
        f"batch B for {TARGET_EFFICIENCY:.0%} efficiency:"
    )
    for name, (bandwidth, hop_alpha) in NETWORKS.items():
        batches = ", ".join(
            f"{ranks} ranks: B >= {batch_for_efficiency(seconds_per_sample, ranks, nbytes, bandwidth, hop_alpha)}"  # noqa: E501
            for ranks in CLUSTER_RANKS
        )
        lines.append(f"  {name} (alpha {1e6 * hop_alpha:g} us per message): {batches}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--workload", choices=("W2", "W4"), default="W2")
    parser.add_argument("--alpha-beta", action="store_true")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.worker:
        handle, _ = set_threads(1)
        result = (
            worker_alpha_beta(repeats=30)
            if args.alpha_beta
            else worker_throughput(args.workload, args.steps)
        )
        if result is not None:
            print(json.dumps(result), flush=True)
        del handle
        return
    runs = [
        launch(ranks, "--workload", key, "--steps", str(args.steps))
        for key in ("W2", "W4")
        for ranks in RANKS
    ]
    text = report(runs, launch(2, "--alpha-beta"))
    print(text, end="")
    if args.out is not None:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
