"""Time one SGD step of a small CNN in chainrule eager and PyTorch eager, in one process.

    python benchmarks/conv.py [--rounds R] [--steps S] [--threads N] [--profile] [--out FILE]

The workload: a batch of 64 1x28x28 images -> conv 3x3x16 (padding 1) -> ReLU -> max-pool 2
-> conv 3x3x32 (padding 1) -> ReLU -> max-pool 2 -> Linear 1568 -> 10, softmax
cross-entropy, SGD (lr 0.01), float32. Both start from the same weights; the losses of
their first three steps must agree (relative 1e-4) before anything is timed. The two run
interleaved, in rounds of `--steps` steps each (chainrule first, then PyTorch first, ...),
and the table gives the median ms/step over the rounds. `--profile` adds where chainrule's
step spends its time: forward convolution, weight gradient, input gradient, pooling, rest.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import chainrule as cr
from chainrule import nn, optim
from chainrule.functional import cross_entropy
from threads import set_threads

BATCH = 64
LR = 0.01
LOSS_RTOL = 1e-4


def chainrule_step(rng: np.random.Generator, x: np.ndarray, y: np.ndarray) -> Any:
    """The model in chainrule and a step function returning the loss (before the update)."""
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1, rng=rng),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1, rng=rng),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 7 * 7, 10, rng=rng),
    )
    optimizer = optim.SGD(list(model.parameters()), lr=LR)
    inputs = cr.tensor(x)

    def step() -> float:
        optimizer.zero_grad()
        loss = cross_entropy(model(inputs), y)
        loss.backward()
        optimizer.step()
        return float(loss.item())

    return model, step


def torch_step(torch: Any, model: Any, x: np.ndarray, y: np.ndarray) -> Callable[[], float]:
    """The same model in PyTorch, from the chainrule model's weights (Linear transposed)."""
    state = model.state_dict()
    functional = torch.nn.functional
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(32 * 7 * 7, 10),
    )
    with torch.no_grad():
        for name, param in net.named_parameters():
            value = state[name]
            if name.startswith("7.weight"):
                value = value.T
            param.copy_(torch.from_numpy(np.ascontiguousarray(value)))
    optimizer = torch.optim.SGD(net.parameters(), lr=LR)
    inputs, targets = torch.from_numpy(x), torch.from_numpy(y)

    def step() -> float:
        optimizer.zero_grad(set_to_none=True)
        loss = functional.cross_entropy(net(inputs), targets)
        loss.backward()
        optimizer.step()
        return float(loss.item())

    return step


def time_steps(step: Callable[[], float], steps: int) -> tuple[float, float]:
    """(wall, CPU) seconds per step over `steps` steps. On a shared machine the CPU time
    (this process's, all its threads) is the steadier measure: waiting for a core is not
    counted."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        step()
    return (time.perf_counter() - wall) / steps, (time.process_time() - cpu) / steps


def profile(step: Callable[[], float], steps: int) -> list[str]:
    """Where chainrule's step spends its time: the cumulative time of each conv kernel."""
    from chainrule.primitives import conv

    parts = {
        "forward convolution (im2col + matmul)": [conv._convolve],
        "weight gradient (matmul with the columns)": [conv._weight_gradient],
        "input gradient (matmul + col2im)": [conv._transposed],
        "max-pool forward and backward": [conv.MaxPool2d.forward, conv.MaxPool2d.vjp],
    }
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(steps):
        step()
    profiler.disable()
    stats: dict[tuple[str, int, str], Any] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    cumulative = {key: entry[3] for key, entry in stats.items()}
    total = sum(entry[2] for entry in stats.values())
    lines = []
    accounted = 0.0
    for label, functions in parts.items():
        seconds = sum(
            cumulative.get((f.__code__.co_filename, f.__code__.co_firstlineno, f.__name__), 0.0)
            for f in functions
        )
        accounted += seconds
        lines.append(f"  {label:<45} {seconds / total:6.1%}")
    rest = (total - accounted) / total
    lines.append(f"  {'everything else (linear, relu, loss, SGD)':<45} {rest:6.1%}")
    return lines


def cpu_model() -> str:
    try:
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                return text.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    import torch

    handle, report = (None, []) if args.threads is None else set_threads(args.threads)
    rng = np.random.default_rng(0)
    x = rng.random((BATCH, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, BATCH)
    model, ours = chainrule_step(np.random.default_rng(1), x, y)
    theirs = torch_step(torch, model, x, y)
    for index in range(3):
        loss_ours, loss_theirs = ours(), theirs()
        if abs(loss_ours - loss_theirs) > LOSS_RTOL * abs(loss_theirs):
            print(f"WRONG: step {index + 1} loss {loss_ours} vs PyTorch {loss_theirs}")
            return 1
    times: dict[str, list[tuple[float, float]]] = {"chainrule": [], "torch": []}
    for round_index in range(args.rounds):
        order = [("chainrule", ours), ("torch", theirs)]
        for name, step in order if round_index % 2 == 0 else reversed(order):
            times[name].append(time_steps(step, args.steps))
    wall = {name: statistics.median(t[0] for t in values) * 1000 for name, values in times.items()}
    cpu = {name: statistics.median(t[1] for t in values) * 1000 for name, values in times.items()}
    lines = [
        f"conv workload: batch {BATCH} x 1x28x28, conv3x3x16-pool-conv3x3x32-pool-linear10, "
        "SGD, float32",
        f"CPU: {cpu_model()} ({os.cpu_count()} cores); load average before/after: "
        f"{LOAD_BEFORE[0]:.2f} / {os.getloadavg()[0]:.2f}",
        f"threads: {'; '.join(report) if report else 'library defaults'}",
        f"{args.rounds} interleaved rounds of {args.steps} steps, median ms/step:",
        "                  wall      CPU",
        f"  chainrule eager {wall['chainrule']:8.1f} {cpu['chainrule']:8.1f}",
        f"  PyTorch eager   {wall['torch']:8.1f} {cpu['torch']:8.1f}",
        f"  ratio           {wall['chainrule'] / wall['torch']:7.2f}x "
        f"{cpu['chainrule'] / cpu['torch']:7.2f}x",
    ]
    if args.profile:
        lines.append("chainrule's step by part (cProfile, cumulative):")
        lines += profile(ours, args.steps * 2)
    text = "\n".join(lines)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")
    del handle
    return 0


LOAD_BEFORE = os.getloadavg()

if __name__ == "__main__":
    sys.exit(main())
