"""Where compile(backend="xla")'s time goes against JAX jit's, in one process per workload.

Four ways of taking a step, timed by CPU time in interleaved rounds of back-to-back calls,
each synchronised on its loss as benchmarks/impl_jax.py does:
  jax        impl_jax's step (value_and_grad + SGD, parameters donated)
  jax+grads  the same step also returning the gradients (what ours returns, as `.grad`)
  ours raw   our jitted function alone, called with the last call's outputs
  ours full  the compiled step as a user calls it (`compiled(x, targets)`)
Then the Python around our call: Python function calls per call (cProfile), and the
executables' HLO sizes (inputs, outputs, aliases).

Usage: PYTHONPATH=src python benchmarks/xla_gap.py [--workloads W2,W3,W4] [--rounds 7]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from threads import set_threads


def _timed(step: Any, calls: int) -> tuple[float, float]:
    """(CPU time of the process, of the calling thread alone) per call, in microseconds."""
    start, start_thread = time.process_time(), time.thread_time()
    for _ in range(calls):
        step()
    process, thread = time.process_time() - start, time.thread_time() - start_thread
    return process / calls * 1e6, thread / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workloads", default="W2,W3,W4")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=300)
    options = parser.parse_args()
    # jax first: set_threads sets XLA's flags only for a JAX already imported, and XLA reads
    # them when its backend starts (the first computation), after this.
    import jax  # noqa: F401

    _handle, report = set_threads(1)

    print("threads: " + "; ".join(report) + "; clock: cpu; load average", os.getloadavg())
    for key in options.workloads.split(","):
        _measure(key, options)


def _measure(key: str, options: argparse.Namespace) -> None:
    """One workload: the four steps timed, the Python calls counted, the HLO compared."""
    import jax
    import jax.numpy as jnp

    import chainrule as cr
    from impl_jax import make_step as make_jax_step
    from impl_jax import network_loss
    from impl_nn_optim import build
    from workloads import WORKLOADS, make_problem

    problem = make_problem(WORKLOADS[key])
    jax_step = make_jax_step(problem)

    weights, biases = problem.fresh_params()
    params = [(jnp.asarray(w), jnp.asarray(b)) for w, b in zip(weights, biases, strict=True)]
    x, targets = jnp.asarray(problem.x), jnp.asarray(problem.targets)
    lr, mse = problem.lr, problem.workload.loss == "mse"

    def update(params: Any, x: Any, targets: Any, lr: float = lr) -> Any:
        loss, grads = jax.value_and_grad(network_loss)(params, x, targets, mse)
        new = jax.tree_util.tree_map(lambda p, g: p - lr * g, params, grads)
        return new, grads, loss

    jitted_grads = jax.jit(update, donate_argnums=(0,))
    held: dict[str, Any] = {"params": params}

    def jax_grads_step(jitted: Any = jitted_grads, held: Any = held) -> Any:
        held["params"], held["grads"], loss = jitted(held["params"], x, targets)
        return loss.block_until_ready()

    model, loss_module, optimizer, _, _ = build(problem)

    def train_step(inputs: Any, labels: Any) -> Any:
        optimizer.zero_grad()
        loss = loss_module(model(cr.tensor(inputs)), labels)
        loss.backward()
        optimizer.step()
        return loss

    compiled = cr.compile(train_step, backend="xla")

    def ours_full(compiled: Any = compiled) -> Any:
        return compiled(x, targets)

    for _ in range(5):
        ours_full()
    program = next(iter(compiled.programs.values()))[0]

    def ours_raw(program: Any = program) -> Any:
        live = program._live
        settings, coefficients = program._optimizer_inputs(live.steps)
        emission = program._emission((live.pattern, settings))
        stepped, state, grads, outputs = emission.jitted(
            live.stepped,
            live.state,
            live.fixed,
            live.grads if program.live_in else (),
            coefficients,
            (x, targets),
        )
        live.stepped, live.state, live.grads = stepped, state, grads
        live.pattern = emission.next_pattern
        return outputs[0].block_until_ready()

    steps = {
        "jax": jax_step,
        "jax+grads": jax_grads_step,
        "ours raw": ours_raw,
        "ours full": ours_full,
    }
    for step in steps.values():
        for _ in range(20):
            step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    caller: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(options.rounds):
        for name, step in steps.items():
            process, thread = _timed(step, options.calls)
            times[name].append(process)
            caller[name].append(thread)
    medians = {name: sorted(ts)[len(ts) // 2] for name, ts in times.items()}
    floor = medians["jax"]
    print(
        f"\n{key} ({problem.workload.title}), medians of {options.rounds} rounds of "
        f"{options.calls} calls, CPU us per call (x jax), calling thread's share, "
        f"load {os.getloadavg()[0]:.2f}"
    )
    for name, median in medians.items():
        spread = f"{min(times[name]):.0f}-{max(times[name]):.0f}"
        own = sorted(caller[name])[len(caller[name]) // 2]
        print(
            f"  {name:10s} {median:8.1f}  ({median / floor:.3f})   range {spread:>10s}"
            f"   calling thread {own:7.1f}, other threads {median - own:7.1f}"
        )

    profile = cProfile.Profile()
    profile.enable()
    for _ in range(100):
        ours_full()
    profile.disable()
    stats = pstats.Stats(profile)
    calls = sum(entry[1] for entry in stats.stats.values()) / 100  # type: ignore[attr-defined]
    print(f"  Python/C function calls per ours-full call (cProfile): {calls:.0f}")
    stats.sort_stats("tottime").print_stats(12)

    live = program._live
    settings, coefficients = program._optimizer_inputs(live.steps)
    emission = program._emission((live.pattern, settings))
    ours_args = (
        live.stepped,
        live.state,
        live.fixed,
        live.grads if program.live_in else (),
        coefficients,
        (x, targets),
    )
    for name, text in (
        ("ours", emission.jitted.lower(*ours_args).compile().as_text()),
        (
            "jax",
            jax.jit(update, donate_argnums=(0,)).lower(params, x, targets).compile().as_text(),
        ),
    ):
        entry = text[text.index("ENTRY") :]
        header = entry.splitlines()[0]
        parameters = header.count("parameter") or entry.count(" parameter(")
        aliases = text.count("may-alias") + text.count("must-alias")
        print(
            f"  HLO {name}: ENTRY params {parameters}, fusions {entry.count('fusion(')}, "
            f"copies {entry.count(' copy(')}, dots {entry.count(' dot(')}, aliases {aliases}"
        )


if __name__ == "__main__":
    main()
