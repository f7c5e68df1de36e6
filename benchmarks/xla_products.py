"""W1's large products alone, in NumPy (OpenBLAS) and in jax.jit, one thread, CPU clock: why
compile(backend="xla") trails the NumPy replay on W1, and which form of the weight gradient
XLA runs fastest (chainrule/compiler/xla_products.py).

    python benchmarks/xla_products.py [--dtype float32|float64] [--rounds 7]
                                      [--shapes 50000x784x50,128x784x256]

A shape MxKxN is x (M, K) and grad_out (M, N): the forward product x @ w (w (K, N)) and the
weight gradient x^T @ grad_out in three forms: as written (XLA: one dot contracting both
operands' first axis, producing (K, N)), and (grad_out^T @ x)^T with and without an
optimization barrier (without one XLA folds the transpose back into the first form). The
first call of each is not timed; medians of interleaved rounds.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from threads import set_threads


def forms(jax: Any) -> dict[str, Callable[[Any, Any, Any], Any]]:
    barrier = jax.lax.optimization_barrier
    return {
        "x @ w": lambda x, w, grad_out: x @ w,
        "x.T @ grad_out": lambda x, w, grad_out: x.T @ grad_out,
        "(grad_out.T @ x).T": lambda x, w, grad_out: (grad_out.T @ x).T,
        "barrier(grad_out.T @ x).T": lambda x, w, grad_out: barrier(grad_out.T @ x).T,
    }


def time_shape(
    jax: Any, rng: np.random.Generator, dtype: str, shape: tuple[int, int, int], rounds: int
) -> None:
    """Time and print the products of one shape M x K x N, with the dots XLA compiled."""
    m, k, n = shape
    x = rng.random((m, k)).astype(dtype)
    w = rng.random((k, n)).astype(dtype)
    grad_out = rng.random((m, n)).astype(dtype)
    out, grad_w = np.empty((m, n), dtype), np.empty((k, n), dtype)
    on_device = [jax.numpy.asarray(a) for a in (x, w, grad_out)]
    cases: dict[str, Callable[[], Any]] = {
        "numpy x @ w": lambda: np.matmul(x, w, out=out),
        "numpy x.T @ grad_out": lambda: np.matmul(x.T, grad_out, out=grad_w),
    }
    hlo: dict[str, str] = {}
    for name, form in forms(jax).items():
        jitted = jax.jit(form)
        text = jitted.lower(*on_device).compile().as_text()
        hlo[name] = "; ".join(
            line.split("=", 1)[1].split(", metadata")[0].strip()
            for line in text.splitlines()
            if " dot(" in line or "__ynn_fusion" in line
        )
        cases[f"jax {name}"] = lambda jitted=jitted: jitted(*on_device).block_until_ready()
    for case in cases.values():
        case()
    seconds: dict[str, list[float]] = {key: [] for key in cases}
    for round_index in range(rounds):
        order = list(cases) if round_index % 2 == 0 else list(reversed(cases))
        for key in order:
            start = time.process_time()
            cases[key]()
            seconds[key].append(time.process_time() - start)
    print(f"\n{dtype} x ({m}, {k}), w ({k}, {n}), grad_out ({m}, {n}):")
    for key, times in seconds.items():
        print(f"  {key:<34}{np.median(times) * 1e3:10.3f} ms  (min {min(times) * 1e3:.3f})")
    for name, dots in hlo.items():
        print(f"  HLO {name}: {dots[:300]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--shapes", default="50000x784x50")
    args = parser.parse_args()
    import jax  # after threads: XLA reads XLA_FLAGS when its backend starts

    _handle, report = set_threads(1)
    if args.dtype == "float64":
        jax.config.update("jax_enable_x64", True)

    print("threads: " + "; ".join(report) + "; clock: cpu; load average", os.getloadavg())
    rng = np.random.default_rng(0)
    for shape in args.shapes.split(","):
        m, k, n = map(int, shape.split("x"))
        time_shape(jax, rng, args.dtype, (m, k, n), args.rounds)
    print("load average at the end", os.getloadavg())


if __name__ == "__main__":
    main()
