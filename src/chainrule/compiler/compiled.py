"""`chainrule.compile`: trace a training step per input signature, then replay it.

The first call with a given signature (the shapes and dtypes of the array arguments, and the
values of the others) runs the step eagerly while recording it; the second traces it again
and compares the two records (`_verify`: a constant whose values differ was computed from an
argument by NumPy code, and is refused); later calls replay the recording as a flat program.
What a replay repeats: every chainrule op, every `backward()`, every optimizer
`step()`/`zero_grad()` and scheduler `step()`. What it does not: other Python code in the
step. So anything that changes between calls must arrive as an argument, as in `jax.jit`;
what the trace can see would go stale (an in-place write, a Python conversion of a traced
tensor, a random draw) raises CompileError while tracing.
"""

from __future__ import annotations

import copy
import functools
import inspect
import operator
import os
import random
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from types import FrameType, FunctionType, GeneratorType, MethodType, ModuleType
from typing import Any, cast

import numpy as np

from chainrule.compiler.arguments import (
    SETTINGS_READ,
    converting,
    guard_array_arguments,
    separate_aliases,
)
from chainrule.compiler.guards import Guards, attribute_of
from chainrule.compiler.outside_reads import OutsideRead, outside_read
from chainrule.compiler.program import Program
from chainrule.compiler.tracer import CompileError, EffectRecord, Tracer
from chainrule.graph import READ
from chainrule.modes import STATE
from chainrule.placement import is_foreign, library_of
from chainrule.tensor import Tensor

Signature = tuple[Any, ...]


def _argument_arrays(args: tuple[Any, ...]) -> tuple[list[np.ndarray | None], Signature]:
    arrays: list[np.ndarray | None] = []
    signature: list[Any] = []
    data_of = READ.data  # `.data`'s own field, read in C
    for position, value in enumerate(args):
        if isinstance(value, Tensor):
            if value.requires_grad:
                raise CompileError(
                    f"compile: argument {position} is a Tensor of shape {value.shape} that "
                    "requires grad; a replay computes no gradient for an argument, so its "
                    ".grad (set by eager backward) would stay unset and an optimizer would "
                    "skip it. Use a trained tensor from the step's closure (as a model's "
                    "parameters), or pass t.detach()"
                )
            value = data_of(value)
        if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "biu":
            # A 0-d integer or boolean array is a setting (a count, an index, a flag) that the
            # step reads in Python (int(), range(), if), which a replay cannot see: like a
            # Python int, its value is part of the signature.
            arrays.append(None)
            signature.append(("static", value.dtype.str, value.item()))
        elif isinstance(value, np.ndarray):
            arrays.append(value)
            # The dtype itself (hashable, equal to its every spelling), not its `.str`,
            # which builds a new string at every call.
            signature.append((value.shape, value.dtype))
        else:
            arrays.append(None)
            if isinstance(value, (tuple, list, dict)) and _holds_arrays(value):
                raise CompileError(
                    f"compile: argument {position} is a {type(value).__name__} holding arrays "
                    "or Tensors (a batch passed as one argument); a replay binds only "
                    "arguments that are arrays or Tensors themselves, so their values would be "
                    "frozen or not compared. Pass each array as its own argument "
                    "(step(*batch) for a tuple, step(x, y))"
                )
            try:
                hash(value)
            except TypeError:
                raise CompileError(_unhashable_message(position, value)) from None
            signature.append(("static", _static_key(value)))
    # Last: the grad mode the step runs under, which decides what its trace records (a
    # backward behind `if is_grad_enabled()`, results that require grad): a program traced
    # with recording on must not replay for a call under no_grad, nor the reverse.
    signature.append(STATE.grad_enabled)
    return arrays, tuple(signature)


def _static_key(value: Any) -> Any:
    """What identifies a setting argument in the signature: its value and its type, entry by
    entry in a tuple. Python's equality would let a program traced for one setting replay
    for another that is equal yet not the same: `True == 1 == 1.0` (a step that checks
    `flag is True` or `isinstance(n, int)`), `0.0 == -0.0` (`x / s` is +inf or -inf), and
    NumPy scalars equal to Python numbers. A float is told apart by its repr, which keeps the
    sign of zero (and makes NaN equal to itself)."""
    kind = type(value)
    if kind is tuple or kind is frozenset:
        return kind, kind(map(_static_key, value))
    if isinstance(value, (float, complex, np.inexact)):
        return kind, repr(value)
    return kind, value


def _unhashable_message(position: int, value: Any) -> str:
    """Why an argument that is neither a NumPy array nor hashable is refused; an array of
    another library (JAX, CuPy, array_api_strict) is named as one, with the ways to pass it."""
    if is_foreign(value):
        return (
            f"compile: argument {position} is an array of {library_of(value)} "
            f"({type(value).__name__}); the NumPy replay takes NumPy arrays and Tensors that "
            "hold them: pass np.asarray(x) (t.cpu() for a Tensor), or compile the step with "
            "backend='xla', which takes JAX arrays"
        )
    return (
        f"compile: argument {position} of type {type(value).__name__} is neither an array nor "
        "hashable; pass arrays, Tensors, or hashable settings"
    )


def _holds_arrays(value: Any) -> bool:
    """Whether a tuple, list or dict argument holds an array or a Tensor, at any depth."""
    if isinstance(value, (np.ndarray, Tensor)):
        return True
    if isinstance(value, dict):
        value = list(value.values())
    return isinstance(value, (tuple, list)) and any(map(_holds_arrays, value))


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


_SEARCH_DEPTH = 4
"""How many references deep `_reachable` follows functions, objects and containers."""
_SEARCH_WIDTH = 64
"""How many entries of one container `_reachable` looks at."""


def _children(value: Any) -> Iterator[tuple[str, Any]]:
    """(label, value) of what `value` refers to: a user function's globals and closure (by
    their names), a functools.partial's function and arguments, an object's attributes, a
    container's first entries (by a label relative to `value`: `.func`, `.args[0]`, `.rng`,
    `['key']`). Library functions and modules are not entered (their state is not the
    step's)."""
    if isinstance(value, (FunctionType, MethodType)):
        # exec'd code whose globals lack __name__ has __module__ None: the user's own
        if not (getattr(value, "__module__", None) or "").startswith(("numpy", "chainrule.")):
            try:
                closure = inspect.getclosurevars(value)
            except (TypeError, ValueError):
                return
            yield from closure.globals.items()
            yield from closure.nonlocals.items()
        if isinstance(value, MethodType):
            for label, item in _children(value.__self__):
                yield (f".__self__{label}" if label[:1] in ".[" else label), item
    elif isinstance(value, functools.partial):
        # Its function and arguments are not in vars(): a generator may hide among them.
        yield ".func", value.func
        for index, item in enumerate(value.args[:_SEARCH_WIDTH]):
            yield f".args[{index}]", item
        for key, item in list(value.keywords.items())[:_SEARCH_WIDTH]:
            yield f".keywords[{key!r}]", item
    elif isinstance(value, dict):
        for key, item in list(value.items())[:_SEARCH_WIDTH]:
            yield f"[{key!r}]", item
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value[:_SEARCH_WIDTH]):
            yield f"[{index}]", item
    elif (
        attribute_of(value, "__dict__") is not None
        and not isinstance(value, (ModuleType, type, Tensor))
        and not type(value).__module__.startswith("numpy")
    ):
        for key, item in list(vars(value).items())[:_SEARCH_WIDTH]:
            yield f".{key}", item


def _path(holder: str, label: str) -> str:
    """The name of a value found under `holder` by `label`: a variable's own name, or the
    holder's followed by an attribute or entry (`bound.args[0]`, `self.rng`)."""
    if label[:1] not in ".[":
        return label
    if not holder and label.startswith(".__self__"):  # the bound step's own object
        return "self" + label.removeprefix(".__self__")
    return (holder or "the step") + label


def _reachable(step: Callable[..., Any]) -> list[tuple[str, Any]]:
    """(name, value) of everything the step can reach without being passed it, to
    _SEARCH_DEPTH references: its globals and closure, and transitively those of the
    functions it calls, the attributes of the objects it holds (its own, if bound), and the
    entries of their containers. The name is the path the step reaches it by
    (`source.rng`, `bound.args[0]`)."""
    found: list[tuple[str, Any]] = []
    seen = {id(step)}
    frontier = [(_path("", label), item) for label, item in _children(step)]
    for _ in range(_SEARCH_DEPTH):
        following: list[tuple[str, Any]] = []
        for name, value in frontier:
            if id(value) in seen or isinstance(value, (np.ndarray, Tensor)):
                continue
            seen.add(id(value))
            found.append((name, value))
            following.extend((_path(name, label), item) for label, item in _children(value))
        frontier = following
    return found


def _random_types() -> tuple[type, ...]:
    """The generator types a step can draw from; read when a step is traced, since naming
    `np.random` at import would load NumPy's random package (and its Cython runtime) with
    `import chainrule`."""
    return (np.random.Generator, np.random.RandomState, np.random.BitGenerator, random.Random)


def _random_kind(value: Any) -> str:
    if isinstance(value, (np.random.Generator, np.random.RandomState)):
        return f"np.random.{type(value).__name__}"
    if isinstance(value, random.Random):
        return f"random.{type(value).__name__}"
    return type(value).__name__


def _random_sources(reachable: list[tuple[str, Any]], args: tuple[Any, ...]) -> dict[str, Any]:
    """The random generators a step can draw from, each named by what it is and the path the
    step reaches it by: NumPy's global one, Python's random module, the Generators,
    RandomStates, BitGenerators and `random.Random` instances among the values it can reach,
    and those passed as arguments (hashable, they are settings of the signature: a replay
    would repeat the traced call's draws)."""
    sources: dict[str, Any] = {"np.random": np.random, "Python's random module": random}
    random_types = _random_types()
    for name, value in reachable:
        if isinstance(value, random_types):
            sources.setdefault(f"the {_random_kind(value)} {name!r}", value)
    for position, value in enumerate(args):
        if isinstance(value, random_types):
            sources.setdefault(f"the {_random_kind(value)} argument {position}", value)
    return sources


def _iterators(reachable: list[tuple[str, Any]]) -> dict[str, Any]:
    """The iterators a step can advance without being passed them, by what each is and its
    path: Python generators (watched by their frame) and built-in iterators (an `iter()` of a
    list, `itertools.count()`: compared by their `__reduce__()` position)."""
    found: dict[str, Any] = {}
    for name, value in reachable:
        if isinstance(value, GeneratorType):
            if value.gi_frame is not None:  # not yet exhausted
                found[f"the generator {name!r}"] = value
        elif isinstance(value, Iterator) and type(value).__module__ in ("builtins", "itertools"):
            found[f"the {type(value).__name__} {name!r}"] = value
    return found


def _generator_frames(iterators: dict[str, Any]) -> dict[FrameType, str]:
    """The frame of each generator among `iterators`, with its name: resuming one is a
    profile "call" event on that frame."""
    frames: dict[FrameType, str] = {}
    for name, iterator in iterators.items():
        if isinstance(iterator, GeneratorType) and iterator.gi_frame is not None:
            frames[iterator.gi_frame] = name
    return frames


def _position(iterator: Any) -> Any:
    """Where a built-in iterator stands (None for a generator, watched by its frame)."""
    if isinstance(iterator, GeneratorType):
        return None
    try:
        return iterator.__reduce__()
    except (TypeError, ValueError):  # an iterator that cannot say (such as a zip of others)
        return None


def _optimizers(reachable: list[tuple[str, Any]]) -> list[Any]:
    """The optimizers among the values a step can reach (anything with param_groups)."""
    return [
        value for _, value in reachable if isinstance(attribute_of(value, "param_groups"), list)
    ]


def _hyperparameters(optimizer: Any) -> list[dict[str, Any]]:
    return [
        copy.deepcopy({key: value for key, value in group.items() if key != "params"})
        for group in optimizer.param_groups
    ]


def _refuse_changed_hyperparameters(
    optimizer: Any, before: list[dict[str, Any]], tracer: Tracer
) -> None:
    """Raise CompileError if the step changed a param_groups entry itself: only an optimizer's
    or scheduler's step() is replayed (a scheduler stepped in the step may change lr)."""
    scheduled = any(
        isinstance(event, EffectRecord)
        and getattr(getattr(event.effect, "__self__", None), "optimizer", None) is optimizer
        for event in tracer.events
    )
    after = _hyperparameters(optimizer)
    name = type(optimizer).__name__
    if len(after) != len(before):
        raise CompileError(
            f"compile: the step changed the number of param_groups of {name} ({len(before)} "
            f"-> {len(after)}); a replay would not repeat it. Add groups outside the compiled "
            "step"
        )
    for index, (old, new) in enumerate(zip(before, after, strict=True)):
        for key in sorted(old.keys() | new.keys()):
            if key == "lr" and scheduled:
                continue
            if not _same_state(old.get(key), new.get(key)):
                raise CompileError(
                    f"compile: the step changed {name}.param_groups[{index}][{key!r}] from "
                    f"{old.get(key)!r} to {new.get(key)!r}; a replay would not repeat the "
                    "change (only optimizer and scheduler step() calls are replayed). Change "
                    "hyperparameters outside the compiled step, or with a learning-rate "
                    "scheduler"
                )


def _refuse_advanced_iterators(
    iterators: dict[str, Any], positions: dict[str, Any], generator: str | None
) -> None:
    """Raise CompileError if the step took an item from an iterator it holds (`generator`:
    the one its profile hook saw resumed): a replay repeats no Python code, so it would reuse
    the traced call's item on every call."""
    moved = generator or next(
        (
            name
            for name, iterator in iterators.items()
            if positions[name] is not None and not _same_value(_position(iterator), positions[name])
        ),
        None,
    )
    if moved is not None:
        raise CompileError(
            f"compile: the step took an item from {moved} (next() or a loop over it) while it "
            "was traced; a replay repeats no Python code, so every call would reuse the "
            "item of the traced call. Take the item outside the step and pass it as an "
            "argument (step(next(batches)))"
        )


class _EntropyWatch:
    """A profile function noting whether the step asked the OS for entropy: what a random
    generator made without a seed does (np.random.default_rng(), PCG64(), RandomState());
    and the first read of the clock, a file or the terminal by the step's own code
    (`compiler.outside_reads`)."""

    GETRANDBITS = random.SystemRandom.getrandbits.__code__

    def __init__(self, generators: dict[FrameType, str], tracer: Tracer) -> None:
        self.used = False
        self.tracer = tracer
        self.lock: _WriteLock | None = None
        # The frames of the generators the step can reach: a "call" into one is a next().
        self.generators = generators
        self.advanced: str | None = None
        self.outside: OutsideRead | None = None

    def __call__(self, frame: FrameType, event: str, arg: Any) -> None:
        if (event == "call" and frame.f_code is self.GETRANDBITS) or (
            event == "c_call" and arg is os.urandom
        ):
            self.used = True
        elif event == "call" and frame in self.generators:
            self.advanced = self.advanced or self.generators[frame]
        elif self.outside is None and (read := outside_read(frame, event, arg)) is not None:
            # Inside a recorded effect (an optimizer step hook), the read is replayed with it.
            if not self.tracer.in_effect(frame):
                self.outside = read
        elif self.lock is not None:
            self.lock(frame, event)


class _WriteLock:
    """The parameters' arrays, read-only while the step is traced except inside a recorded
    effect (an optimizer's step, replayed): a NumPy write by the step itself
    (`np.clip(p.data, a, b, out=p.data)`, `p.numpy()[...] = 0`) would happen on the first call
    only, so it fails, and the trace reports it as a CompileError."""

    def __init__(self, arrays: list[np.ndarray], tracer: Tracer) -> None:
        self.arrays = arrays
        self.tracer = tracer
        self.locked = False

    def set(self, locked: bool) -> None:
        for array in self.arrays:
            array.flags.writeable = not locked
        self.locked = locked and bool(self.arrays)

    def unlock(self) -> None:
        self.set(False)

    def __call__(self, frame: FrameType, event: str) -> None:
        """The profile hook's part: lock again as a recorded effect returns."""
        if event == "return" and not self.locked and self.tracer.is_effect_frame(frame):
            self.set(True)


def _random_state(source: Any) -> Any:
    if source is random:
        return random.getstate()
    if source is np.random:
        return np.random.get_state(legacy=False)  # noqa: NPY002 (reading, not drawing)
    if isinstance(source, np.random.Generator):
        return source.bit_generator.state
    if isinstance(source, np.random.RandomState):
        return source.get_state(legacy=False)
    if isinstance(source, random.Random):
        return source.getstate()
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

    max_programs = 64
    """How many signatures' programs are kept. A step called with a new setting each time (a
    fresh object, a float that varies) would trace every call and keep every program; past
    this many, a new signature runs the step eagerly, untraced, with one warning (as
    torch.compile falls back to eager past its cache size limit). Raise it on the compiled
    step (`compiled.max_programs = 256`) where more signatures are meant."""

    def __init__(self, step: Callable[..., Any]) -> None:
        self.step = step
        self.warned_full = False
        self.programs: dict[Signature, tuple[Program, Callable[[list[Tensor]], Any]]] = {}
        # The first trace of each signature not yet checked by a second one (`_verify`).
        self.unverified: dict[Signature, tuple[Tracer, list[int]]] = {}
        self.traces = 0
        """How many eager runs traced the step: two per signature (the trace and its check),
        more when a guard or a requires_grad flag changes."""
        functools.update_wrapper(self, step)

    @property
    def trace_count(self) -> int:
        """How many signatures have been traced (each costs two eager runs: the trace and
        the verification trace of the next call)."""
        return len(self.programs)

    def __call__(self, *args: Any) -> Any:
        if STATE.anomaly:
            # detect_anomaly() checks every op's output and gradient for NaN/inf and names the
            # user's line, which only an eager run can do (a replay would return the NaN
            # silently): run the step untraced, keeping the programs for the calls after.
            return self.step(*args)
        arrays, signature = _argument_arrays(args)
        cached = self.programs.get(signature)
        if (
            cached is not None
            and not (
                self.unverified
                and signature in self.unverified
                and not _same_data(self.unverified[signature][0], arrays)
            )
            and not _flags_changed(cached[0])
        ):
            program, rebuild = cached
            # A parameter given new `.data` of another shape or dtype is traced again; the
            # common case, every leaf's array the same object, costs C-level calls only.
            if all(
                map(operator.is_, map(READ.data, program.leaf_tensors), program.leaf_arrays)
            ) or not _leaf_arrays_changed(program):
                return rebuild([Tensor.from_numpy(a) for a in program.run(arrays)])
        return self._trace(args, arrays, signature)

    def _trace(
        self, args: tuple[Any, ...], arrays: list[np.ndarray | None], signature: Signature
    ) -> Any:
        if STATE.tracer is not None:
            raise CompileError("compile: a compiled step cannot call another compiled step")
        if signature not in self.programs and len(self.programs) >= self.max_programs:
            self._warn_full()
            return self.step(*args)
        args, arrays = separate_aliases(args, arrays)
        reads: list[str] = []  # the step's reads of its arguments' values into Python
        args = guard_array_arguments(args, reads)
        first = self.unverified.pop(signature, None)
        cached = self.programs.get(signature)
        if first is not None and (cached is None or _flags_changed(cached[0])):
            first = None  # the step's state changed since: this trace starts afresh
        self.traces += 1
        tracer = Tracer(arrays)
        tracer.reads = reads
        reachable = _reachable(self.step)
        sources = _random_sources(reachable, args)
        states = {name: _random_state(source) for name, source in sources.items()}
        optimizers = [
            (optimizer, _hyperparameters(optimizer)) for optimizer in _optimizers(reachable)
        ]
        # Objects passed as settings (a module, a config), matched by identity in the
        # signature: their state is guarded as the closure's is.
        objects = [
            (f"argument {position}", value)
            for position, value in enumerate(args)
            if not isinstance(value, (np.ndarray, Tensor)) and not is_foreign(value)
        ]
        guards = Guards(self.step, objects)
        iterators = _iterators(reachable)
        positions = {name: _position(iterator) for name, iterator in iterators.items()}
        entropy = _EntropyWatch(_generator_frames(iterators), tracer)
        # Another profiler (cProfile) keeps running; the entropy check is skipped under it.
        watching = sys.getprofile() is None
        lock = _WriteLock(guards.trained_arrays() if watching else [], tracer)
        entropy.lock = lock
        tracer.on_effect = lock.unlock
        STATE.tracer = tracer
        try:
            if watching:
                sys.setprofile(entropy)
            lock.set(True)
            with converting():
                result = self.step(*args)
        except ValueError as error:
            if isinstance(error, CompileError) or "read-only" not in str(error) or not lock.locked:
                raise
            raise CompileError(
                "compile: in-place change of a parameter's array by NumPy code in the step "
                f"(through .data or .numpy(): {error}); a replay repeats only chainrule ops, "
                "backward() and "
                "optimizer steps, so the write would happen on the first call only. Make the "
                "change outside the compiled step (clip the weights after the call)"
            ) from error
        finally:
            lock.set(False)
            if watching:
                sys.setprofile(None)
            STATE.tracer = None
        if entropy.used:
            raise CompileError(
                "compile: the step asked the operating system for fresh randomness (a "
                "generator made without a seed, such as np.random.default_rng(), or "
                "os.urandom, secrets, uuid.uuid4); eagerly each call draws new values, a "
                "replay would repeat the first call's. Draw the random values outside the step "
                "and pass them as an argument (or seed the generator with a constant)"
            )
        if entropy.outside is not None:
            raise CompileError(entropy.outside.refusal())
        _refuse_advanced_iterators(iterators, positions, entropy.advanced)
        for optimizer, before in optimizers:
            _refuse_changed_hyperparameters(optimizer, before, tracer)
        guards.refuse_changes_by_the_step()
        for name, source in sources.items():
            if not _same_state(states[name], _random_state(source)):
                raise CompileError(
                    f"compile: the step drew random numbers from {name}; the draw would be "
                    "frozen at its first values on every replay. Draw the random array "
                    "outside the step and pass it as an argument"
                )
        outputs, rebuild = _flatten_outputs(result)
        output_slots = [tracer.output_slot(t) for t in outputs]
        if _has_array_constants(tracer):
            tracer.digests = tracer.argument_digests()
        try:
            # A trace whose ops took settings from its arguments holds for their values only
            # (below): a constant an op made from them (put_along_axis's mask) may differ
            # from the first trace's, rightly.
            settings_only = bool(reads) and all(SETTINGS_READ in read for read in reads)
            verified = (
                first is not None and not settings_only and _verify(*first, tracer, output_slots)
            )
        except CompileError:
            del self.programs[signature]  # the next call traces afresh, and is checked again
            raise
        if reads and first is not None:
            # Python code took its path from the arguments' values (`compiler.arguments`): the
            # checked trace holds for those values only, and replays on them alone.
            tracer.conditions = tuple((i, a.tobytes()) for i, a in tracer.arguments_digested)
        verified = verified and not reads
        if not verified:
            self.unverified[signature] = (tracer, output_slots)
        program = self._replay(tracer, output_slots)
        program.leaf_flags = tuple(leaf.requires_grad for leaf in tracer.slots.leaves.values())
        program.guards = guards
        self.programs[signature] = (program, rebuild)
        return result

    def _warn_full(self) -> None:
        if self.warned_full:
            return
        self.warned_full = True
        warnings.warn(
            f"compile: {getattr(self.step, '__name__', 'the step')} has been traced for "
            f"{len(self.programs)} different signatures (argument shapes, dtypes and "
            "settings), its limit; calls with a new one now run eagerly, untraced. A setting "
            "that changes every call (a fresh object, a varying float) makes each call a new "
            "signature: pass it as an array instead, or raise the limit with "
            "`compiled.max_programs = N`",
            RuntimeWarning,
            stacklevel=4,
        )

    def _replay(self, tracer: Tracer, outputs: list[int]) -> Any:
        """The replayable form of a finished trace (the XLA backend overrides it)."""
        return Program(tracer, outputs)


def _same_value(first: Any, second: Any) -> bool:
    """Whether two recorded values (an op's parameter, a constant's array) are equal: arrays
    by shape, dtype and values (NaN equal to NaN), containers entry by entry."""
    if isinstance(first, np.ndarray) or isinstance(second, np.ndarray):
        first, second = np.asarray(first), np.asarray(second)
        return (
            first.shape == second.shape
            and first.dtype == second.dtype
            and bool(np.array_equal(first, second, equal_nan=first.dtype.kind in "fc"))
        )
    if isinstance(first, (tuple, list)) and isinstance(second, (tuple, list)):
        return (
            type(first) is type(second)
            and len(first) == len(second)
            and all(_same_value(a, b) for a, b in zip(first, second, strict=True))
        )
    if isinstance(first, float) and isinstance(second, float) and first != first:
        return second != second
    try:
        return type(first) is type(second) and bool(first == second)
    except (TypeError, ValueError):
        return first is second


def _holds_array(value: Any) -> bool:
    return type(value) is tuple and any(isinstance(part, np.ndarray) for part in value)


def _made_afresh(old: Any, new: Any) -> bool:
    """Whether an equal array or float setting (or an array in a tuple setting, an index)
    is a new object in the second trace: the step computed it each call."""
    if isinstance(new, (np.ndarray, float)):
        return new is not old
    return _holds_array(new) and any(
        isinstance(part, np.ndarray) and part is not earlier
        for part, earlier in zip(new, old, strict=True)
    )


def _event_key(event: Any) -> tuple[Any, ...]:
    """What a recorded event does, for comparing two traces (an effect by its function)."""
    if isinstance(event, EffectRecord):
        effect = event.effect
        function = effect.func if isinstance(effect, functools.partial) else effect
        owner = getattr(function, "__self__", None)
        return (EffectRecord, id(owner), getattr(function, "__qualname__", None), event.ops_before)
    fields = tuple(
        id(value) if isinstance(value, Tensor) else value for value in vars(event).values()
    )
    return (type(event), *fields)


def _frozen_message(tracer: Tracer, slot: int, array: np.ndarray, what: str) -> str:
    user = next(
        (
            f"input {op.inputs.index(slot)} of {op.primitive.name}"
            for op in tracer.ops
            if slot in op.inputs
        ),
        None,
    )
    fed = f", the {user}," if user else ""
    return (
        f"compile: {what} of shape {array.shape} (dtype {array.dtype}){fed} had other "
        "values on the step's second call than on its first, yet it is neither an argument nor "
        "a parameter: NumPy code in the step computed it from something that changes between "
        "calls (an argument: np.eye(k)[y], x[idx], y.astype(float), np.log(x); or Python "
        "state read into an op), and a replay would reuse the first call's values on every "
        "call. Compute it with chainrule ops from the argument (chainrule.one_hot(y, k), "
        "cr.tensor(x)[idx], cr.tensor(y).astype(...), cr.tensor(x).log()), pass it as an "
        "argument, or run the step eagerly (without compile)"
    )


def _has_array_constants(tracer: Tracer) -> bool:
    """Whether the trace froze a value that is neither an argument nor a parameter: a
    constant leaf (a 0-d one too: a Python float the step computed becomes one), an op's
    array setting (a gather's indices) or a float setting."""
    for leaf in tracer.slots.leaves.values():
        if not leaf.requires_grad and leaf.data.size:
            return True
    for op in tracer.ops:
        bound = {name for name, _ in op.bound_params}
        for name, value in _unbound_params(op).items():
            if name not in bound and isinstance(value, (np.ndarray, float)):
                return True
            if type(value) is tuple and any(isinstance(part, np.ndarray) for part in value):
                return True
    return False


def _unbound_params(op: Any) -> dict[str, Any]:
    """`op`'s recorded settings, each argument inside a tuple setting (`bound_parts`) left
    out (None): what two traces of one program must hold equal."""
    if not op.bound_parts:
        return dict(op.params)
    params = dict(op.params)
    for name, position, _ in op.bound_parts:
        parts = list(params[name])
        parts[position] = None
        params[name] = tuple(parts)
    return params


def _proves_nothing(first: Tracer, second: Tracer, fresh_equal: bool) -> bool:
    """Whether equal constants in two traces say nothing: a value the step made afresh on
    each call was the same both times, and so was an argument it may have been computed
    from (the same batch passed twice, or the same labels with other inputs). Then the
    second trace keeps those arguments' digests (`Tracer.conditions`): it is replayed while
    they hold the same values, and checked again by the first call where one differs."""
    if not fresh_equal:
        return False
    if first.digests is None or second.digests is None:
        return False
    # Their values kept whole: comparing bytes at each call costs a tenth of a digest.
    second.conditions = tuple(
        (index, array.tobytes())
        for (index, array), digest, earlier in zip(
            second.arguments_digested, second.digests, first.digests, strict=True
        )
        if digest == earlier
    )
    return bool(second.conditions)


def _same_data(tracer: Tracer, arrays: Sequence[np.ndarray | None]) -> bool:
    """Whether `arrays` hold the values of the arguments an inconclusive trace was taken
    with where its constants may come from (`_proves_nothing`): it may be replayed then."""
    conditions = tracer.conditions
    return bool(conditions) and all(
        cast(np.ndarray, arrays[index]).tobytes() == kept for index, kept in conditions
    )


def _verify(first: Tracer, first_outputs: list[int], second: Tracer, outputs: list[int]) -> bool:
    """Compare the verification trace (a signature's second call) with the first trace.
    True if they record the same program with equal constants: replay from now on. False if
    the programs differ (Python code in the step took another path), or if an array constant
    made afresh by the step was equal in both while an argument was too (inconclusive: it may
    be computed from that argument): the second trace is then checked by the next call.
    CompileError if only a constant's values differ: a value the step computed from an
    argument outside chainrule's ops, frozen by the trace."""
    a, b = first.slots, second.slots
    if (
        a.count != b.count
        or a.arguments != b.arguments
        or a.shapes != b.shapes
        or a.dtypes != b.dtypes
        or a.leaves.keys() != b.leaves.keys()
        or len(first.ops) != len(second.ops)
        or first_outputs != outputs
        or list(map(_event_key, first.events)) != list(map(_event_key, second.events))
    ):
        return False
    frozen: list[str] = []
    fresh_equal = False  # an array the step made afresh each call, equal in both traces
    for old, new in zip(first.ops, second.ops, strict=True):
        if (
            old.primitive is not new.primitive
            or old.inputs != new.inputs
            or old.output != new.output
            or old.needs != new.needs
            or old.requires_grad != new.requires_grad
            or old.bound_params != new.bound_params
            or old.bound_parts != new.bound_parts
            or old.params.keys() != new.params.keys()
        ):
            return False
        bound = {name for name, _ in new.bound_params}
        old_params = _unbound_params(old)
        for name, value in _unbound_params(new).items():
            if name in bound:
                continue
            if _same_value(old_params[name], value):
                # A float the step computed is a new object each call; a literal is not.
                fresh_equal = fresh_equal or _made_afresh(old_params[name], value)
                continue
            if _holds_array(value):
                value = next(  # the index array whose values changed
                    part
                    for part, earlier in zip(value, old_params[name], strict=True)
                    if isinstance(part, np.ndarray) and not _same_value(part, earlier)
                )
            if isinstance(value, np.ndarray):
                frozen.append(
                    _frozen_message(second, -1, value, f"the {name!r} of {new.primitive.name}")
                )
            else:
                return False  # a Python setting of the op changed: another program
    for slot, leaf in b.leaves.items():
        old_leaf = a.leaves[slot]
        if old_leaf is leaf:
            continue
        if old_leaf.requires_grad != leaf.requires_grad:
            return False
        if not _same_value(old_leaf.data, leaf.data):
            frozen.append(_frozen_message(second, slot, leaf.data, "a NumPy array"))
        elif not leaf.requires_grad and leaf.data.size and leaf.data is not old_leaf.data:
            fresh_equal = True
    if frozen:
        raise CompileError(frozen[0])
    return not _proves_nothing(first, second, fresh_equal)


_REQUIRES_GRAD = operator.attrgetter("_requires_grad")


def _flags_changed(program: Any) -> bool:
    """Whether a tensor the trace read has had its requires_grad changed since (a layer
    frozen or unfrozen between calls): which gradients the program computes is fixed by the
    flags at trace time, so the step is traced again. So is a step whose guarded Python
    state changed (`compiler.guards`: a closure float, a module's mode or parameters)."""
    flags: tuple[bool, ...] = program.leaf_flags
    leaves = program.slots.leaves.values()
    if flags != tuple(map(_REQUIRES_GRAD, leaves)):  # map: no Python call per leaf
        return True
    guards: Guards = program.guards
    return not guards.hold()


def _leaf_arrays_changed(program: Program) -> bool:
    """Whether a tensor the trace read now holds `.data` of another shape or dtype than it
    was traced with (`p.data = p.data.astype(np.float64)` between calls): the program's ops,
    buffers and kernels are fixed for the traced ones, and would compute in the old dtype
    (a float32 gradient for a float64 parameter) or fail deep in NumPy, so the step is traced
    again. Called when `program.leaf_arrays` are no longer each leaf's `.data`; new arrays of
    the traced shape and dtype are kept there, so that the next call finds them again."""
    slots = program.slots
    for slot, leaf in slots.leaves.items():
        data = READ.data(leaf)
        if (
            getattr(data, "shape", None) != slots.shapes[slot]
            or np.dtype(getattr(data, "dtype", object)) != slots.dtypes[slot]
        ):
            return True
    program.leaf_arrays = tuple(map(READ.data, program.leaf_tensors))
    return False


def compile(step: Callable[..., Any], backend: str = "numpy") -> CompiledStep:
    """Trace `step` on its first two calls for each input signature (the second checks the
    first); replay it afterwards.

    `backend="xla"` (extra `[xla]`) runs the replay as one jitted JAX function instead
    (`chainrule.compiler.xla`); "numpy", the default, as the flat program below.

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
    if backend == "xla":
        from chainrule.compiler.xla import XlaCompiledStep

        return XlaCompiledStep(step)
    if backend != "numpy":
        raise ValueError(f"compile: backend must be 'numpy' or 'xla', got {backend!r}")
    return CompiledStep(step)
