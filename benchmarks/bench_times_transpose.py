"""Times grad_out @ weight.T against the broadcast multiply used for inner dimension 1.

At the tutorial's size dloss/du3 is (50000, 1) and w2 is (50, 1): the product is an outer
product, where a broadcast multiply gives the same numbers as the BLAS call.
Run: python benchmarks/bench_times_transpose.py
"""

from __future__ import annotations

import timeit

import numpy as np


def seconds_per_call(statement: str, grad_out: np.ndarray, weight: np.ndarray) -> float:
    namespace = {"grad_out": grad_out, "weight": weight}
    return min(timeit.repeat(statement, globals=namespace, number=20, repeat=5)) / 20


def main() -> None:
    rng = np.random.default_rng(0)
    for dtype in (np.float64, np.float32):
        grad_out = rng.standard_normal((50000, 1)).astype(dtype)
        weight = rng.standard_normal((50, 1)).astype(dtype)
        if not np.array_equal(grad_out @ weight.T, grad_out * weight.T):
            raise AssertionError("broadcast multiply and matmul disagree")
        matmul = seconds_per_call("grad_out @ weight.T", grad_out, weight)
        broadcast = seconds_per_call("grad_out * weight.T", grad_out, weight)
        print(
            f"{np.dtype(dtype).name}: matmul {matmul * 1e3:.2f} ms, broadcast "
            f"{broadcast * 1e3:.2f} ms, ratio {matmul / broadcast:.1f}x"
        )


if __name__ == "__main__":
    main()
