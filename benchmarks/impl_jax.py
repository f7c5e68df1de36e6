"""JAX with jit (the peer XLA implementation): the same network written by hand in
jax.numpy, its gradient by jax.grad, the SGD update in the same jitted function, as a JAX
user writes a training step. Parameters and data live on the device; the parameter buffers
are donated, so XLA updates them in place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from workloads import Problem


def network_loss(params: list[tuple[Any, Any]], x: Any, targets: Any, mse: bool) -> Any:
    """The workload's loss: dense layers with ReLU between them, then MSE or softmax
    cross-entropy (mean over the batch)."""
    h = x
    for i, (w, b) in enumerate(params):
        h = h @ w + b
        if i < len(params) - 1:
            h = jnp.maximum(h, 0)
    if mse:
        return jnp.mean((h - targets) ** 2)
    log_probs = jax.nn.log_softmax(h, axis=1)
    return -jnp.mean(jnp.take_along_axis(log_probs, targets[:, None], axis=1))


def make_step(problem: Problem) -> Callable[[], Any]:
    """One jitted SGD step, returning the loss (before the update)."""
    weights, biases = problem.fresh_params()
    params = [(jnp.asarray(w), jnp.asarray(b)) for w, b in zip(weights, biases, strict=True)]
    x, targets = jnp.asarray(problem.x), jnp.asarray(problem.targets)
    lr = problem.lr
    mse = problem.workload.loss == "mse"

    def update(params: list[tuple[Any, Any]], x: Any, targets: Any) -> Any:
        loss, grads = jax.value_and_grad(network_loss)(params, x, targets, mse)
        new = jax.tree_util.tree_map(lambda p, g: p - lr * g, params, grads)
        return new, loss

    update = jax.jit(update, donate_argnums=(0,))
    state = {"params": params}

    def step() -> Any:
        state["params"], loss = update(state["params"], x, targets)
        return loss.block_until_ready()  # JAX dispatches asynchronously: time the work

    return step
