"""The leanest honest define-by-run autodiff for the benchmark's networks: a lower bound on
what any pure-Python eager engine pays per step above the hand-written NumPy floor.

    python benchmarks/eager_bound.py --check            (gradients equal the floor's, W1-W4)
    python benchmarks/eager_bound.py --callgrind [--workloads W3,W4] [--impls numpy,bound,...]
    python benchmarks/eager_bound.py --count IMPL WORKLOAD STEPS   (one callgrind worker)

What makes it an engine and not a compiled plan: every step records its graph anew. Each op
(`linear` = x @ W + b as one op, `relu`, `cross_entropy`, `mse`) computes its value with
NumPy, and if any input needs a gradient appends (vjp, output, inputs) to a tape. `backward`
walks the tape in reverse once: an output no gradient reached is skipped, and a gradient that
reaches a value twice is summed (out of place, so no rule's result is overwritten). SGD then
updates each parameter as the floor does, and zero_grad sets each `.grad` to None.

What it leaves out that a library must pay for (so it is a bound, not a rival): one loss per
tape and no graph kept after backward, no broadcasting, dtype or shape checks, no hooks,
versions or in-place detection, no Module or Optimizer objects, no error messages.

Math (z = x @ W + b, per layer):  dx = dz @ W.T,  dW = x.T @ dz,  db = sum_rows dz;
relu: dx = dy * [x > 0];  softmax cross-entropy over a batch of n rows with classes t:
L = mean(logsumexp(z) - z[t]),  dz = (softmax(z) - onehot(t)) / n;  MSE over m elements:
L = sum((y - target)^2) / m,  dy = 2 (y - target) / m.
"""

from __future__ import annotations

import argparse
import functools
import gc
import inspect
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from workloads import WORKLOADS, Problem, make_problem

Vjp = Callable[[np.ndarray, tuple["Var", ...]], tuple[np.ndarray | None, ...]]


class Var:
    """A value of the recorded graph: its array, its gradient (None until one arrives) and
    whether a gradient should flow to it."""

    __slots__ = ("data", "grad", "needs_grad")

    def __init__(self, data: Any, needs_grad: bool = False) -> None:
        self.data = data
        self.grad: Any = None
        self.needs_grad = needs_grad


TAPE: list[tuple[Vjp, Var, tuple[Var, ...]]] = []
"""The ops recorded since the last backward, in recording order."""


def linear(x: Var, w: Var, b: Var) -> Var:
    """z = x @ W + b, recorded as one op."""
    z = x.data @ w.data
    z += b.data
    needs = x.needs_grad or w.needs_grad or b.needs_grad
    out = Var(z, needs)
    if needs:
        TAPE.append((_linear_vjp, out, (x, w, b)))
    return out


def _linear_vjp(grad_out: np.ndarray, inputs: tuple[Var, ...]) -> tuple[np.ndarray | None, ...]:
    x, w, b = inputs
    grad_x = None
    if x.needs_grad:
        # an inner dimension of 1 is an outer product: a broadcast multiply beats BLAS there
        grad_x = grad_out * w.data.T if grad_out.shape[1] == 1 else grad_out @ w.data.T
    grad_w = x.data.T @ grad_out if w.needs_grad else None
    grad_b = np.add.reduce(grad_out, 0) if b.needs_grad else None
    return grad_x, grad_w, grad_b


def relu(x: Var) -> Var:
    """y = max(x, 0)."""
    out = Var(np.maximum(x.data, 0), x.needs_grad)
    if x.needs_grad:
        TAPE.append((_relu_vjp, out, (x,)))
    return out


def _relu_vjp(grad_out: np.ndarray, inputs: tuple[Var, ...]) -> tuple[np.ndarray | None, ...]:
    return (grad_out * (inputs[0].data > 0),)


def _scaled_vjp(grad_out: Any, inputs: tuple[Var, ...]) -> tuple[np.ndarray | None, ...]:
    """A loss's rule: its gradient, computed in the forward pass (a fused rule) and carried
    as the second input (a constant), times the scalar gradient reaching the loss."""
    return grad_out * inputs[1].data, None


def cross_entropy(logits: Var, targets: np.ndarray) -> Var:
    """Mean softmax cross-entropy of (n, classes) logits against n class indices."""
    z = logits.data
    batch = z.shape[0]
    rows = np.arange(batch)
    shifted = z - z.max(axis=1, keepdims=True)
    picked = shifted[rows, targets]
    grad = np.exp(shifted)
    sums = grad.sum(axis=1, keepdims=True)
    loss = Var(float(np.log(sums).mean() - picked.mean()), logits.needs_grad)
    if logits.needs_grad:
        grad /= sums
        grad[rows, targets] -= 1
        grad *= z.dtype.type(1.0 / batch)
        TAPE.append((_scaled_vjp, loss, (logits, Var(grad))))
    return loss


def mse(prediction: Var, target: np.ndarray) -> Var:
    """Mean squared error over all elements."""
    grad = prediction.data - target
    flat = grad.reshape(-1)
    loss = Var(float(np.dot(flat, flat)) / flat.size, prediction.needs_grad)
    if prediction.needs_grad:
        grad *= grad.dtype.type(2.0 / flat.size)
        TAPE.append((_scaled_vjp, loss, (prediction, Var(grad))))
    return loss


def backward(loss: Var) -> None:
    """Sum d(loss)/d(v) into `v.grad` of every recorded value that needs one; the tape is
    consumed. Intermediate gradients are dropped as soon as their op has used them."""
    loss.grad = 1.0
    entries = TAPE[:]
    TAPE.clear()
    for vjp, out, inputs in reversed(entries):
        grad_out = out.grad
        if grad_out is None:
            continue
        out.grad = None
        for var, grad in zip(inputs, vjp(grad_out, inputs), strict=True):
            if grad is None:
                continue
            if var.grad is None:
                var.grad = grad
            else:
                var.grad = var.grad + grad


def make_model(problem: Problem) -> tuple[list[Var], Callable[[], Var]]:
    """The parameters [W0, b0, W1, b1, ...] and a function recording one forward pass and
    loss (the graph is built anew on every call)."""
    weights, biases = problem.fresh_params()
    params = [Var(p, True) for pair in zip(weights, biases, strict=True) for p in pair]
    x = Var(problem.x)
    targets = problem.targets
    loss_of = mse if problem.workload.loss == "mse" else cross_entropy
    last = len(weights) - 1

    def forward() -> Var:
        h = x
        for i in range(last + 1):
            h = linear(h, params[2 * i], params[2 * i + 1])
            if i < last:
                h = relu(h)
        return loss_of(h, targets)

    return params, forward


def make_step(problem: Problem) -> Callable[[], float]:
    """One SGD step: zero_grad (set to None), record the forward pass, backward, and
    p -= lr * grad for each parameter; returns the loss before the update."""
    return make_training(problem)[1]


def make_training(problem: Problem) -> tuple[list[Var], Callable[[], float]]:
    """The parameters and the step function of `make_step`."""
    params, forward = make_model(problem)
    lr = np.float32(problem.lr)

    def step() -> float:
        for p in params:
            p.grad = None
        loss = forward()
        backward(loss)
        for p in params:
            p.data -= lr * p.grad
        value: float = loss.data
        return value

    return params, step


def check_against_floor(problem: Problem, steps: int = 3) -> None:
    """Assert that the bound's gradients equal the floor's bit for bit for `steps` steps.
    The floor scales its gradient arrays by lr in place, so lr * grad is compared, and the
    updated parameters too."""
    import impl_numpy

    floor_step = impl_numpy.make_step(problem)
    floor = inspect.getclosurevars(floor_step).nonlocals
    params, step = make_training(problem)
    lr = np.float32(problem.lr)
    for index in range(steps):
        floor_loss, loss = floor_step(), step()
        assert loss == floor_loss, (problem.workload.key, index, loss, floor_loss)
        floor_grads = _interleave(floor["grad_weights"], floor["grad_biases"])
        floor_params = _interleave(floor["weights"], floor["biases"])
        for layer, (p, floor_grad, floor_param) in enumerate(
            zip(params, floor_grads, floor_params, strict=True)
        ):
            where = (problem.workload.key, index, layer)
            assert p.grad.dtype == floor_grad.dtype, where
            assert p.grad.shape == floor_grad.shape, where
            assert np.array_equal(lr * p.grad, floor_grad), where
            assert np.array_equal(p.data, floor_param), where


def _interleave(weights: list[np.ndarray], biases: list[np.ndarray]) -> list[np.ndarray]:
    return [array for pair in zip(weights, biases, strict=True) for array in pair]


# --- counting: callgrind instructions per step, the slope between two step counts ---------


def _count_worker(impl: str, workload: str, steps: int) -> None:
    """Run `steps` steps after a warm-up with the collector off (callgrind counts them)."""
    from implementations import BY_KEY, load
    from threads import set_threads

    _handle = set_threads(1)
    problem = make_problem(WORKLOADS[workload], quick=True)
    step = make_step(problem) if impl == "bound" else load(BY_KEY[impl])(problem)
    for _ in range(10):
        step()
    gc.collect()
    gc.disable()
    functools.reduce(lambda _, __: step(), range(steps), None)


def _callgrind_total(impl: str, workload: str, steps: int) -> int:
    """Instructions of a whole worker process run under callgrind."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        # one BLAS thread from the start: OpenBLAS's threaded path spin-waits, which no
        # instruction count can repeat
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
        command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
        command += [sys.executable, __file__, "--count", impl, workload, str(steps)]
        subprocess.run(command, env=env, check=True, capture_output=True)
        match = re.search(r"^summary: (\d+)", out.read_text(), re.MULTILINE)
        assert match, "callgrind wrote no summary"
        return int(match.group(1))


def instructions_per_step(impl: str, workload: str, low: int, high: int) -> float:
    """(instructions at `high` steps - at `low` steps) / (high - low): start-up, imports and
    warm-up cancel, and the count does not depend on the machine's load."""
    low_total = _callgrind_total(impl, workload, low)
    high_total = _callgrind_total(impl, workload, high)
    return (high_total - low_total) / (high - low)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="assert gradients equal the floor's")
    parser.add_argument("--callgrind", action="store_true", help="instructions per step")
    parser.add_argument("--count", nargs=3, metavar=("IMPL", "WORKLOAD", "STEPS"))
    parser.add_argument("--workloads", default="W3,W4")
    parser.add_argument("--impls", default="numpy,bound,nn_optim")
    parser.add_argument("--steps", default="4,14", help="the two step counts of the slope")
    args = parser.parse_args(argv)
    if args.count:
        impl, workload, steps = args.count
        _count_worker(impl, workload, int(steps))
        return 0
    if args.check:
        for key in WORKLOADS:
            check_against_floor(make_problem(WORKLOADS[key], quick=True))
            print(f"{key}: gradients, losses and updates equal the floor's (3 steps)")
    if args.callgrind:
        low, high = (int(s) for s in args.steps.split(","))
        print(f"callgrind instructions per step (quick problems), slope {low}->{high} steps")
        for workload in args.workloads.split(","):
            counts = {
                impl: instructions_per_step(impl, workload, low, high)
                for impl in args.impls.split(",")
            }
            floor = counts.get("numpy")
            cells = [
                f"{impl} {n / 1e6:.3f}M" + (f" ({n / floor:.3f}x)" if floor else "")
                for impl, n in counts.items()
            ]
            print(f"{workload}: " + ", ".join(cells), flush=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
