"""The hand-written NumPy floor: forward, backward and SGD written out by hand, as a careful
NumPy programmer would, into buffers allocated once (`out=`, in-place updates).

Shapes: z = h @ W + b;  dW = h.T @ dz,  db = dz.sum(0),  dh = dz @ W.T;  ReLU backward
multiplies by the mask [h > 0]. This is the speed every other implementation is measured against.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from workloads import Problem


def product_into(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """out = a @ b for 2-D operands; an inner dimension of 1 (an outer product) is a
    broadcast multiply, which is several times faster than BLAS there."""
    if a.shape[1] == 1:
        np.multiply(a, b, out=out)
    else:
        np.matmul(a, b, out=out)


def make_step(problem: Problem) -> Callable[[], float]:
    """One SGD step on `problem`, returning the loss computed before the update."""
    weights, biases = problem.fresh_params()
    x, targets, lr = problem.x, problem.targets, np.float32(problem.lr)
    batch, layers = x.shape[0], len(weights)
    acts = [np.empty((batch, w.shape[1]), dtype=np.float32) for w in weights]
    grad_acts = [np.empty_like(a) for a in acts]
    masks = [np.empty(a.shape, dtype=bool) for a in acts[:-1]]
    grad_weights = [np.empty_like(w) for w in weights]
    grad_biases = [np.empty_like(b) for b in biases]
    rows = np.arange(batch)
    row_buffer = np.empty((batch, 1), dtype=np.float32)
    row_sums = np.empty((batch, 1), dtype=np.float32)
    mse = problem.workload.loss == "mse"

    def loss_and_grad(out: np.ndarray, grad_out: np.ndarray) -> float:
        """The loss of `out`, with dL/d(out) written into `grad_out`."""
        if mse:
            np.subtract(out, targets, out=grad_out)
            flat = grad_out.reshape(-1)
            loss = float(np.dot(flat, flat)) / flat.size
            grad_out *= np.float32(2.0 / flat.size)
            return loss
        np.max(out, axis=1, keepdims=True, out=row_buffer)
        np.subtract(out, row_buffer, out=grad_out)
        picked = grad_out[rows, targets]
        np.exp(grad_out, out=grad_out)
        np.sum(grad_out, axis=1, keepdims=True, out=row_sums)
        np.log(row_sums, out=row_buffer)
        loss = float(row_buffer.mean() - picked.mean())
        grad_out /= row_sums
        grad_out[rows, targets] -= 1
        grad_out *= np.float32(1.0 / batch)
        return loss

    def step() -> float:
        h = x
        for i in range(layers):
            z = acts[i]
            np.matmul(h, weights[i], out=z)
            z += biases[i]
            if i < layers - 1:
                np.maximum(z, 0, out=z)
                np.greater(z, 0, out=masks[i])
            h = z
        loss = loss_and_grad(acts[-1], grad_acts[-1])
        for i in range(layers - 1, -1, -1):
            grad_z = grad_acts[i]
            h_in = x if i == 0 else acts[i - 1]
            np.matmul(h_in.T, grad_z, out=grad_weights[i])
            np.sum(grad_z, axis=0, out=grad_biases[i])
            if i > 0:
                grad_h = grad_acts[i - 1]
                product_into(grad_z, weights[i].T, grad_h)
                np.multiply(grad_h, masks[i - 1], out=grad_h)
        for w, b, grad_w, grad_b in zip(weights, biases, grad_weights, grad_biases, strict=True):
            grad_w *= lr
            w -= grad_w
            grad_b *= lr
            b -= grad_b
        return loss

    return step
