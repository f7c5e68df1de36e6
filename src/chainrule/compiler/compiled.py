"""`chainrule.compile`: trace a training step once per input signature, then replay it.

The first call with a given signature (the shapes and dtypes of the array arguments, and the
values of the others) runs the step eagerly while recording it; later calls replay the
recording as a flat program. What a replay repeats: every chainrule op, every `backward()`,
every optimizer `step()`/`zero_grad()` and scheduler `step()`. What it does not: other Python
code in the step. So anything that changes between calls must arrive as an argument, as in
`jax.jit`; what the trace can see would go stale (an in-place write, a Python conversion of a
traced tensor, a random draw) raises CompileError while tracing.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.compiler.program import Program
from chainrule.compiler.tracer import CompileError, Tracer
from chainrule.modes import STATE
from chainrule.tensor import Tensor

Signature = tuple[Any, ...]


def _argument_arrays(args: tuple[Any, ...]) -> tuple[list[np.ndarray | None], Signature]:
    arrays: list[np.ndarray | None] = []
    signature: list[Any] = []
    for value in args:
        if isinstance(value, Tensor):
            value = value.data
        if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "biu":
            # A 0-d integer or boolean array is a setting (a count, an index, a flag) that the
            # step reads in Python (int(), range(), if), which a replay cannot see: like a
            # Python int, its value is part of the signature.
            arrays.append(None)
            signature.append(("static", value.dtype.str, value.item()))
        elif isinstance(value, np.ndarray):
            arrays.append(value)
            signature.append((value.shape, value.dtype.str))
        else:
            arrays.append(None)
            try:
                hash(value)
            except TypeError:
                raise CompileError(
                    f"compile: argument of type {type(value).__name__} is neither an array nor "
                    "hashable; pass arrays, Tensors, or hashable settings"
                ) from None
            signature.append(("static", value))
    return arrays, tuple(signature)


def _flatten_outputs(result: Any) -> tuple[list[Tensor], Callable[[list[Tensor]], Any]]:
    """The Tensors a step returned, and how to rebuild the same structure from new ones."""
    if result is None:
        return [], lambda tensors: None
    if isinstance(result, Tensor):
        return [result], lambda tensors: tensors[0]
    if isinstance(result, (tuple, list)) and all(isinstance(r, Tensor) for r in result):
        kind = type(result)
        return list(result), lambda tensors: kind(tensors)
    if isinstance(result, dict) and all(isinstance(r, Tensor) for r in result.values()):
        keys = list(result)
        return list(result.values()), lambda tensors: dict(zip(keys, tensors, strict=True))
    raise CompileError(
        f"compile: the step returned {type(result).__name__}; return Tensors (or a tuple, list "
        "or dict of them): a Python number would be frozen at its first value. Call .item() "
        "on the returned tensor instead"
    )


def _random_sources(step: Callable[..., Any]) -> dict[str, Any]:
    """The NumPy random generators a step can draw from without being passed them, by name:
    NumPy's global one, and the Generators, RandomStates and BitGenerators in its closure,
    in the globals it names, and in the attributes of the object it is bound to."""
    sources: dict[str, Any] = {"np.random": np.random}
    candidates: dict[str, Any] = {}
    try:
        closure = inspect.getclosurevars(step)
    except TypeError:  # not a Python function: a builtin or a callable object
        pass
    else:
        candidates.update(closure.globals)
        candidates.update(closure.nonlocals)
    owner = getattr(step, "__self__", None)
    candidates.update(getattr(owner, "__dict__", {}))
    for name, value in candidates.items():
        if isinstance(value, (np.random.Generator, np.random.RandomState,
                              np.random.BitGenerator)):
            sources[repr(name)] = value
    return sources


def _random_state(source: Any) -> Any:
    if source is np.random:
        return np.random.get_state(legacy=False)  # noqa: NPY002 (reading, not drawing)
    if isinstance(source, np.random.Generator):
        return source.bit_generator.state
    if isinstance(source, np.random.RandomState):
        return source.get_state(legacy=False)
    return source.state


def _same_state(first: Any, second: Any) -> bool:
    if isinstance(first, dict) and isinstance(second, dict):
        return first.keys() == second.keys() and all(
            _same_state(first[key], second[key]) for key in first
        )
    if isinstance(first, np.ndarray) or isinstance(second, np.ndarray):
        return bool(np.array_equal(first, second))
    return bool(first == second)


class CompiledStep:
    """A step function with a cache of traced programs, one per signature."""

    def __init__(self, step: Callable[..., Any]) -> None:
        self.step = step
        self.programs: dict[Signature, tuple[Program, Callable[[list[Tensor]], Any]]] = {}
        functools.update_wrapper(self, step)

    @property
    def trace_count(self) -> int:
        """How many signatures have been traced (each costs one eager run)."""
        return len(self.programs)

    def __call__(self, *args: Any) -> Any:
        arrays, signature = _argument_arrays(args)
        cached = self.programs.get(signature)
        if cached is not None:
            program, rebuild = cached
            return rebuild([Tensor.from_numpy(a) for a in program.run(arrays)])
        return self._trace(args, arrays, signature)

    def _trace(self, args: tuple[Any, ...], arrays: list[np.ndarray | None],
               signature: Signature) -> Any:
        if STATE.tracer is not None:
            raise CompileError("compile: a compiled step cannot call another compiled step")
        tracer = Tracer(arrays)
        sources = _random_sources(self.step)
        states = {name: _random_state(source) for name, source in sources.items()}
        STATE.tracer = tracer
        try:
            result = self.step(*args)
        finally:
            STATE.tracer = None
        tracer.refuse_assigned_grads()
        for name, source in sources.items():
            if not _same_state(states[name], _random_state(source)):
                raise CompileError(
                    f"compile: the step drew random numbers from {name}; the draw would be "
                    "frozen at its first values on every replay. Draw the random array "
                    "outside the step and pass it as an argument"
                )
        outputs, rebuild = _flatten_outputs(result)
        program = Program(tracer, [tracer.output_slot(t) for t in outputs])
        self.programs[signature] = (program, rebuild)
        return result


def compile(step: Callable[..., Any]) -> CompiledStep:
    """Trace `step` on its first call for each input signature; replay it afterwards.

    The replay runs the recorded forward ops, backward passes and optimizer effects as a flat
    list of NumPy calls, with no Tensors or graph built per step. Results equal eager
    execution's exactly (the same NumPy calls in the same order).

    Example::

        @chainrule.compile
        def train_step(x, y):
            loss = loss_fn(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            return loss
    """
    return CompiledStep(step)
