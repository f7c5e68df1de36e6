"""The table of implementations the benchmark times, each a step factory in its own module.

A module `impl_<name>.py` defines `make_step(problem) -> step`, where `step()` runs one
training step and returns its loss (computed before the update) or None for a reference
without a loss. A row whose module is missing, or whose imports fail, is reported "n/a".
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workloads import Problem

HERE = Path(__file__).resolve().parent

StepFactory = Callable[[Problem], Callable[[], Any]]


@dataclass(frozen=True)
class Implementation:
    key: str
    label: str
    module: str


FLOOR = "numpy"
TORCH = "torch"

IMPLEMENTATIONS: tuple[Implementation, ...] = (
    Implementation(FLOOR, "hand-written NumPy (floor)", "impl_numpy"),
    Implementation("matmul", "matmul-only", "impl_matmul"),
    Implementation("manual", "chainrule.manual", "impl_manual"),
    Implementation("autograd", "chainrule autograd (Tensor ops + hand SGD)", "impl_autograd"),
    Implementation("nn_optim", "chainrule nn + optim", "impl_nn_optim"),
    Implementation("compiled", "chainrule.compile", "impl_compiled"),
    Implementation("bound", "define-by-run bound (eager_bound)", "eager_bound"),
    Implementation(TORCH, "PyTorch eager (nn + optim.SGD)", "impl_torch"),
    # compile to XLA
    Implementation("jax", "JAX jit (peer)", "impl_jax"),
    Implementation("xla", "chainrule.compile xla", "impl_xla"),
)

BY_KEY = {impl.key: impl for impl in IMPLEMENTATIONS}


class Unavailable(Exception):
    """This implementation cannot run here; the message says why."""


def load(impl: Implementation) -> StepFactory:
    """The `make_step` of `impl`, or Unavailable naming why it is missing."""
    if not (HERE / f"{impl.module}.py").is_file():
        raise Unavailable("not available")
    try:
        module = importlib.import_module(impl.module)
    except ImportError as error:
        raise Unavailable(f"not available: {error}") from None
    factory: StepFactory = module.make_step
    return factory
