"""`chainrule.compile(step, backend="xla")`: the traced step as one pure JAX function, jitted.

The trace is the one the NumPy replay uses (`tracer.py`). From it this module writes one
function of (parameters, gradients it reads, optimizer state, optimizer coefficients,
arguments) -> (new parameters, gradients left, new optimizer state, outputs) that calls
chainrule's own rules on JAX arrays: each recorded op's `forward`, each backward as the
recorded sweep (`chainrule.sweep`, the eager order of vjp calls and sums), the optimizer
steps as the functional updates of `chainrule.optim.functional`. JAX's autodiff is not used.
`jax.jit` compiles it once per signature (and per optimizer settings), with the parameter
and state buffers donated.

State: the parameters, the gradients the step leaves and the optimizer state stay on the
device between calls (a steady-state call feeds the last call's outputs back in, with no work
per parameter), and are written back into the NumPy arrays the user sees when something reads
them: while deferred, every object holding them (tensors, their `.grad`s, the optimizers,
flat buffers) has its class swapped for a subclass whose attributes flush first
(`deferred.py`), and the host arrays are read-only. After a flush the next call uploads them
afresh, so any write made in between is seen.
"""

from __future__ import annotations

import functools
import operator
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
from numpy.lib.array_utils import byte_bounds

from chainrule import nn
from chainrule.compiler.compiled import (
    CompiledStep,
    _argument_arrays,
    _flags_changed,
    _same_data,
)
from chainrule.compiler.deferred import Deferral, flush
from chainrule.compiler.guards import Guards
from chainrule.compiler.program import ancestors, wanted_slots
from chainrule.compiler.tracer import (
    BackwardRecord,
    CompileError,
    EffectRecord,
    GradAssignRecord,
    GradReadRecord,
    OpRecord,
    Tracer,
    call_params,
)
from chainrule.compiler.xla_indices import check_indices, index_checks
from chainrule.compiler.xla_products import vjp_rule
from chainrule.graph import READ, grad_slot, store_leaf_grads
from chainrule.modes import STATE
from chainrule.nn.flat import buffer_of
from chainrule.optim import SGD, Adam, AdamW, LRScheduler, Optimizer
from chainrule.optim import functional as OF
from chainrule.sweep import Target, schedule, sweep
from chainrule.tensor import Tensor

try:
    import jax
    import jax.numpy as jnp
except ImportError as error:  # pragma: no cover - the [xla] extra installs it
    raise ImportError(
        "compile(backend='xla') needs JAX: pip install 'chainrule[xla]' (or use "
        "backend='numpy', the default)"
    ) from error

_NUMPY_ONLY = "backend='numpy' (the default) replays it"
_ABSTRACT = cast(Callable[..., Any], jax.ShapeDtypeStruct)
"""An argument's shape and dtype, for tracing without its values."""
_WRAP = READ.wrap or Tensor.from_numpy
"""A Tensor around an output array, without from_numpy's checks (made when traced)."""


# ----------------------------------------------------------------- the recorded program
@dataclass(frozen=True)
class _Forward:
    index: int


@dataclass(frozen=True)
class _Backward:
    root: int
    seed: int | None
    order: tuple[int, ...]


@dataclass(frozen=True)
class _GradRead:
    tensor: int
    slot: int


@dataclass(frozen=True)
class _GradAssign:
    tensor: int
    slot: int | None


@dataclass(frozen=True)
class _ZeroGrad:
    tensors: tuple[int, ...]
    set_to_none: bool


@dataclass(frozen=True)
class _OptimizerStep:
    optimizer: int
    occurrence: int


Instruction = _Forward | _Backward | _GradRead | _GradAssign | _ZeroGrad | _OptimizerStep


def _backward_order(record: BackwardRecord, ops: Sequence[OpRecord]) -> tuple[int, ...]:
    """The recorded ops a backward goes through, in the eager sweep's order."""
    producer = {
        op.output: index for index, op in enumerate(ops[: record.ops_before]) if op.requires_grad
    }
    root = producer.get(record.root)
    if root is None:
        return ()
    return tuple(
        schedule(root, lambda index: [producer[s] for s in ops[index].inputs if s in producer])
    )


def _effect_name(effect: Callable[[], Any]) -> str:
    function = effect.func if isinstance(effect, functools.partial) else effect
    return str(getattr(function, "__qualname__", repr(function)))


def _owner(effect: Callable[[], Any]) -> tuple[Any, str]:
    """(the object whose method `effect` is, the method's name), or (None, "")."""
    function = effect.func if isinstance(effect, functools.partial) else effect
    owner = getattr(function, "__self__", None)
    return owner, getattr(function, "__name__", "")


_FUNCTIONAL_OPTIMIZERS = (SGD, Adam, AdamW)


def _refuse_effect(effect: Callable[[], Any], why: str) -> CompileError:
    return CompileError(
        f"compile(backend='xla'): the step calls {_effect_name(effect)}, which {why}; {_NUMPY_ONLY}"
    )


# ----------------------------------------------------------------- gradients, packed
_PACKED_SIZE = 16384
"""Gradients of at most this many elements leave the program packed: one flat output per
dtype. Each output is a device array the call must allocate and wrap in a Python object
(about 3 us each on the calling thread, while XLA's threads wait for the next call): W4's 42
gradients cost JAX's own step 14-30% when returned one by one, 2-7% packed. A larger one
stays its own output, written by its kernel directly (packing a 784x256 product's result
made XLA fuse the product into the concatenation: 4-6x slower)."""


@dataclass(frozen=True)
class _Place:
    """Where one gradient sits among the program's gradient outputs."""

    output: int
    start: int
    """Its first element in a packed output; -1 when it is the whole output."""
    shape: tuple[int, ...]


def _pack(
    grads: Sequence[Any], concatenate: Callable[[list[Any]], Any]
) -> tuple[tuple[Any, ...], tuple[_Place | None, ...]]:
    """(the gradient outputs, each gradient's place among them, None where it is None): the
    small ones of each dtype concatenated, flattened, into one output (`_PACKED_SIZE`).
    `concatenate` is NumPy's (host gradients, at an upload) or JAX's (in the program)."""
    outputs: list[Any] = []
    places: list[_Place | None] = [None] * len(grads)
    small: dict[Any, list[int]] = {}
    for position, grad in enumerate(grads):
        if grad is None:
            continue
        if grad.size > _PACKED_SIZE:
            places[position] = _Place(len(outputs), -1, tuple(grad.shape))
            outputs.append(grad)
        else:
            small.setdefault(np.dtype(grad.dtype), []).append(position)
    for positions in small.values():
        if len(positions) == 1:
            grad = grads[positions[0]]
            places[positions[0]] = _Place(len(outputs), -1, tuple(grad.shape))
            outputs.append(grad)
            continue
        start = 0
        for position in positions:
            grad = grads[position]
            places[position] = _Place(len(outputs), start, tuple(grad.shape))
            start += grad.size
        outputs.append(concatenate([grads[position].reshape(-1) for position in positions]))
    return tuple(outputs), tuple(places)


def _unpack(outputs: Sequence[Any], places: Sequence[_Place | None]) -> tuple[Any, ...]:
    """Each gradient from the outputs `_pack` made (views of the packed ones), or None."""
    unpacked: list[Any] = []
    for place in places:
        if place is None:
            unpacked.append(None)
        elif place.start < 0:
            unpacked.append(outputs[place.output])
        else:
            size = int(np.prod(place.shape, dtype=np.int64))
            flat = outputs[place.output][place.start : place.start + size]
            unpacked.append(flat.reshape(place.shape))
    return tuple(unpacked)


# ----------------------------------------------------------------- per-call state
@dataclass
class _Live:
    """The values of the last call, held on the device until something reads the host
    objects (`deferred.Deferral`): the program's next inputs."""

    stepped: tuple[Any, ...]
    fixed: tuple[Any, ...]
    state: dict[tuple[int, str], Any]
    grads: tuple[Any, ...]
    """The gradients the step leaves, on the device, as `_pack` made them (`grad_places`)."""
    grad_places: tuple[_Place | None, ...]
    """Aligned with `grads_touched`: where each gradient sits in `grads`, or None."""
    held: tuple[Tensor | None, ...]
    """The `.grad` Tensors on entry (aligned with `grads_touched`)."""
    pattern: tuple[Any, ...]
    """Which gradients and state entries exist, and the leaves' flags: the emission's key."""
    steps: list[list[np.ndarray]]
    """Per optimizer and group, each parameter's Adam step count (after the pending calls)."""
    updated: np.ndarray
    """Per stepped parameter, how many updates the pending calls made."""
    deferral: Deferral | None = None
    called: bool = False


@dataclass
class _Emission:
    """One jitted function (one pattern of held gradients, optimizer state and settings), and
    what its trace found out: how many times the step updates each parameter."""

    jitted: Callable[..., Any] = field(default=lambda *args: None)
    updates: dict[int, int] = field(default_factory=dict)
    next_pattern: tuple[Any, ...] = ()
    """The pattern its outputs leave (known after its first call; empty before)."""
    grad_places: tuple[_Place | None, ...] = ()
    """Where its calls leave each gradient among their gradient outputs (set by its trace)."""
    increments: list[list[np.ndarray]] = field(default_factory=list)
    """Per Adam optimizer (`XlaProgram._adams`) and group, the updates a call makes to each
    parameter: the step counts the next call's coefficients and the write-back read."""
    updated: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def _rules(*rules: Callable[..., Any]) -> None:
    """Nothing: the function of the partial whose arguments `_user_rule_guards` follows."""


def _user_rule_guards(ops: Sequence[OpRecord]) -> Guards | None:
    """Guards over what the forward and vjp rules of the user's own primitives read (a class
    attribute `Scaled.factor`, a global, a closure value), or None if the step uses none. The
    NumPy replay calls those rules at each call and reads that state afresh, as eagerly; the
    jitted body runs them once, when JAX traces it, so a change since would be replayed stale:
    it is traced again instead."""
    user = dict.fromkeys(
        op.primitive for op in ops if not op.primitive.__module__.startswith("chainrule.")
    )
    if not user:
        return None
    rules = [rule for primitive in user for rule in (primitive.forward, primitive.vjp)]
    return Guards(functools.partial(_rules, *rules))


class XlaProgram:
    """The replay of one trace (one signature) as jitted JAX functions."""

    def __init__(self, tracer: Tracer, outputs: Sequence[int]) -> None:
        self.slots = slots = tracer.slots
        self.ops = tracer.ops
        self.outputs = tuple(outputs)
        self._check_dtypes()
        self.tensors: list[Tensor] = []
        self._tensor_index: dict[int, int] = {}
        self.leaf_slots = [(slot, self._index(leaf)) for slot, leaf in slots.leaves.items()]
        self._leaves = tuple(slots.leaves.values())
        self._leaf_kinds = tuple((slots.shapes[slot], slots.dtypes[slot]) for slot in slots.leaves)
        """Each leaf's traced (shape, dtype): another one is traced again (`must_retrace`)."""
        self._rule_guards = _user_rule_guards(self.ops)
        """The Python state the rules of the user's own primitives read (`_user_rule_guards`),
        or None where the step uses chainrule's primitives only."""
        self.argument_slots = list(slots.arguments.items())
        self._index_checks = index_checks(self.ops, slots)
        self.optimizers: list[Optimizer] = []
        self.schedulers: list[Callable[[], Any]] = []
        self.instructions = self._instructions(tracer)
        self.slot_of = {index: slot for slot, index in self.leaf_slots}
        self._params_of = [
            [[self._index(p) for p in group["params"]] for group in optimizer.param_groups]
            for optimizer in self.optimizers
        ]
        self._members = self._group_members()
        self.live_in, self.grads_touched = self._gradient_flow()
        self.stepped = sorted({i for groups in self._params_of for ps in groups for i in ps})
        self.fixed = [i for i in range(len(self.tensors)) if i not in set(self.stepped)]
        self._stepped_position = {index: position for position, index in enumerate(self.stepped)}
        self._refuse_shared_memory()
        self._optimizer_of = {
            index: optimizer
            for optimizer, groups in zip(self.optimizers, self._params_of, strict=True)
            for params in groups
            for index in params
        }
        self._steps_per_call = [
            sum(isinstance(i, _OptimizerStep) and i.optimizer == number for i in self.instructions)
            for number in range(len(self.optimizers))
        ]
        touched = set(self.grads_touched)
        replaced = {
            index
            for instruction in self.instructions
            for index in (
                instruction.tensors
                if isinstance(instruction, _ZeroGrad) and instruction.set_to_none
                else (instruction.tensor,)
                if isinstance(instruction, _GradAssign)
                else ()
            )
        }
        # The tensors whose `.grad` Tensor on entry, when there is one, is the one the step
        # leaves (accumulated into and zeroed in place, never replaced), as eagerly.
        self._keeps_grad = (set(self.live_in) & touched) - replaced
        self._live_positions = [self.grads_touched.index(index) for index in self.live_in]
        self._hyper: dict[tuple[int, int], tuple[Any, Any, Any]] = {}
        self._adam = [isinstance(optimizer, Adam) for optimizer in self.optimizers]
        self._adams = [number for number, adam in enumerate(self._adam) if adam]
        """The Adam optimizers: only their step counts are read (SGD keeps none)."""
        self._settings: tuple[Any, ...] = ()
        """The last settings `_optimizer_inputs` returned: the same object while unchanged."""
        self._last_emission: tuple[Any, Any, _Emission] | None = None
        """(pattern, settings, emission) of the last call: its emission is found again
        when the same two objects come back (the steady state: the pattern an emission
        leaves is one object, and so are unchanged settings)."""
        positions = [position for _, position in self.argument_slots]
        self._pick_arguments: Callable[[Sequence[Any]], tuple[Any, ...]] = (
            operator.itemgetter(*positions)
            if len(positions) > 1
            else lambda arguments: tuple(arguments[position] for position in positions)
        )
        """The arguments the program takes, from the step's (a tuple, in C when several)."""
        self._live: _Live | None = None
        self._emissions: dict[Any, _Emission] = {}
        # Trace the function once now, abstractly, so that a rule JAX cannot run fails at
        # compile time (the call that traced the step), not on the next call.
        live = self._read_host()
        settings, coefficients = self._optimizer_inputs(live.steps)
        emission = self._emission((live.pattern, settings))
        jax.eval_shape(
            emission.jitted,
            live.stepped,
            live.state,
            live.fixed,
            self._grads_in(live),
            coefficients,
            self._argument_placeholders(),
        )

    # ------------------------------------------------------------- building
    def _check_dtypes(self) -> None:
        if jax.dtypes.canonicalize_dtype(np.float64) == np.float64:
            return  # jax_enable_x64 is on
        wide = sorted({str(d) for d in self.slots.dtypes.values() if d.itemsize == 8})
        if any(d.startswith(("float", "complex")) for d in wide):
            raise CompileError(
                f"compile(backend='xla'): the step computes in {', '.join(wide)}, but JAX holds "
                "64-bit floats only with jax.config.update('jax_enable_x64', True) (or "
                "chainrule.compiler.xla.enable_float64()); enable it "
                "before compiling, or train in float32"
            )

    def _index(self, tensor: Tensor) -> int:
        index = self._tensor_index.get(id(tensor))
        if index is None:
            index = self._tensor_index[id(tensor)] = len(self.tensors)
            self.tensors.append(tensor)
        return index

    def _optimizer_index(self, optimizer: Optimizer) -> int:
        for index, known in enumerate(self.optimizers):
            if known is optimizer:
                return index
        self.optimizers.append(optimizer)
        return len(self.optimizers) - 1

    def _instructions(self, tracer: Tracer) -> list[Instruction]:
        ops, events = self.ops, tracer.events
        wanted = wanted_slots(tracer, self.outputs)
        live = ancestors(ops, wanted)
        instructions: list[Instruction] = []
        done = 0
        occurrences: dict[int, int] = {}

        def forward_until(stop: int) -> None:
            nonlocal done
            instructions.extend(_Forward(i) for i in range(done, stop) if i in live)
            done = max(done, stop)

        for event in events:
            forward_until(event.ops_before)
            if isinstance(event, BackwardRecord):
                order = _backward_order(event, ops)
                instructions.append(_Backward(event.root, event.seed, order))
            elif isinstance(event, GradReadRecord):
                instructions.append(_GradRead(self._index(event.leaf), event.slot))
            elif isinstance(event, GradAssignRecord):
                instructions.append(_GradAssign(self._index(event.leaf), event.slot))
            else:
                instruction = self._effect(event, occurrences)
                if instruction is not None:
                    if self.schedulers and isinstance(instruction, _OptimizerStep):
                        raise CompileError(
                            "compile(backend='xla'): the step steps a learning-rate scheduler "
                            f"before {_effect_name(event.effect)}; the XLA program takes the "
                            "learning rate as an input, so a scheduler may step only after "
                            f"the optimizer steps; {_NUMPY_ONLY}"
                        )
                    instructions.append(instruction)
        forward_until(len(ops))
        return instructions

    def _effect(self, event: EffectRecord, occurrences: dict[int, int]) -> Instruction | None:
        """The instruction an effect becomes; None for a scheduler step, which runs in Python
        after the call (it only sets param_groups' lr)."""
        effect = event.effect
        owner, method = _owner(effect)
        if method == "zero_grad" and isinstance(effect, functools.partial):
            if isinstance(owner, Optimizer):
                params = [p for group in owner.param_groups for p in group["params"]]
            elif isinstance(owner, nn.Module):
                params = list(owner.parameters())
            else:
                raise _refuse_effect(effect, "is not a chainrule optimizer's or module's")
            set_to_none = bool(effect.args[0]) if effect.args else True
            return _ZeroGrad(tuple(self._index(p) for p in params), set_to_none)
        if method == "step" and isinstance(owner, LRScheduler):
            self.schedulers.append(effect)
            return None
        if method == "step" and isinstance(owner, Optimizer):
            if type(owner) not in _FUNCTIONAL_OPTIMIZERS:
                raise _refuse_effect(
                    effect, "has no functional form (only SGD, Adam and AdamW have)"
                )
            self._refuse_hooks(owner)
            self._refuse_settings(owner)
            index = self._optimizer_index(owner)
            occurrence = occurrences[index] = occurrences.get(index, -1) + 1
            return _OptimizerStep(index, occurrence)
        raise _refuse_effect(effect, "the XLA backend cannot express")

    @staticmethod
    def _refuse_hooks(optimizer: Optimizer) -> None:
        if optimizer._pre_hooks or optimizer._post_hooks:  # Python code around the update
            raise CompileError(
                f"compile(backend='xla'): {type(optimizer).__name__} has step hooks, Python "
                f"code the XLA program cannot run; {_NUMPY_ONLY}"
            )

    @staticmethod
    def _refuse_settings(optimizer: Optimizer) -> None:
        """Settings with no functional form (Adam's amsgrad) refused as the program is made,
        as a CompileError, rather than by the first replayed call."""
        for group in optimizer.param_groups:
            try:
                if isinstance(optimizer, Adam):
                    OF.AdamSettings.of(group, optimizer.decoupled_weight_decay)
                else:
                    OF.SGDSettings.of(group)
            except ValueError as error:
                raise CompileError(f"compile(backend='xla'): {error}") from error

    def _gradient_flow(self) -> tuple[list[int], list[int]]:
        """(the tensors whose `.grad` on entry the step reads, the tensors whose `.grad` it
        changes). A read is an accumulation, a `.grad` read, an optimizer step or a zeroing
        that keeps the tensors; `.grad = ...` and zero_grad() replace it."""
        first_touch: dict[int, bool] = {}  # tensor -> whether its first touch reads

        def touch(index: int, reads: bool) -> None:
            first_touch.setdefault(index, reads)

        for instruction in self.instructions:
            if isinstance(instruction, _Backward):
                for index in self._backward_leaves(instruction):
                    touch(index, True)
            elif isinstance(instruction, (_GradRead, _GradAssign)):
                touch(instruction.tensor, isinstance(instruction, _GradRead))
            elif isinstance(instruction, _ZeroGrad):
                for index in instruction.tensors:
                    touch(index, not instruction.set_to_none)
            elif isinstance(instruction, _OptimizerStep):
                for params in self._params_of[instruction.optimizer]:
                    for index in params:
                        touch(index, True)
        live_in = [index for index, reads in first_touch.items() if reads]
        return live_in, list(first_touch)

    def _backward_leaves(self, instruction: _Backward) -> list[int]:
        """The tensors a backward may give a gradient: leaves requiring grad that an op of
        its sweep takes as an input it needs."""
        reached = {
            slot
            for index in instruction.order
            for slot, need in zip(self.ops[index].inputs, self.ops[index].needs, strict=True)
            if need
        }
        return [
            index
            for slot, index in self.leaf_slots
            if slot in reached and self.tensors[index].requires_grad
        ]

    def _group_members(self) -> list[tuple[tuple[Tensor, ...], ...]]:
        return [
            tuple(tuple(group["params"]) for group in optimizer.param_groups)
            for optimizer in self.optimizers
        ]

    def must_retrace(self) -> bool:
        """Whether the step must be traced again: an optimizer's parameter groups changed
        since the trace (a group added, a parameter added, removed or moved: the program
        steps the ones it traced; the NumPy replay reads them at each call), or a tensor the
        trace read holds `.data` of another shape or dtype (`p.data = p.data.astype(...)`
        between calls: the body computes with the traced ones, e.g. a float32 gradient for a
        float64 parameter). `.data` can only have been replaced after a flush (a deferred
        tensor flushes when its `_data` is read or set), so the leaves are read only then:
        never in the steady state, where reading them would flush. So is a step whose own
        primitives' rules read Python state that changed since (`_user_rule_guards`)."""
        if self._rule_guards is not None and not self._rule_guards.hold():
            return True
        live = self._live
        if live is None or live.deferral is None or not live.deferral.active:
            for tensor, (shape, dtype) in zip(self._leaves, self._leaf_kinds, strict=True):
                data = READ.data(tensor)
                if getattr(data, "shape", None) != shape or getattr(data, "dtype", None) != dtype:
                    return True
        for optimizer, members in zip(self.optimizers, self._members, strict=True):
            groups = optimizer.param_groups
            if len(groups) != len(members):
                return True
            for group, traced in zip(groups, members, strict=True):
                params = group["params"]
                # By identity, in C (map): no Python call, nothing made, per parameter.
                if len(params) != len(traced) or not all(map(operator.is_, params, traced)):
                    return True
        return False

    def _refuse_shared_memory(self) -> None:
        """CompileError if a parameter the step updates shares memory with another tensor
        the step uses (one a view of the other, or two Tensors of one array): eagerly an
        update of one is seen through the other, while XLA holds each as its own array."""
        stepped = set(self.stepped)
        spans = sorted(
            (*byte_bounds(tensor.data), index)
            for index, tensor in enumerate(self.tensors)
            if type(tensor.data) is np.ndarray and tensor.data.size
        )
        earlier: list[tuple[int, int]] = []  # (end, index) of the spans before, by start
        for start, end, index in spans:
            for other_end, other in earlier:
                if (
                    other_end > start
                    and (index in stepped or other in stepped)
                    and np.shares_memory(self.tensors[index].data, self.tensors[other].data)
                ):
                    one, two = self.tensors[other], self.tensors[index]
                    raise CompileError(
                        f"compile(backend='xla'): the step uses tensors of shapes {one.shape} "
                        f"and {two.shape} that share memory (one is a view of the other, or "
                        "both wrap one array) and updates one of them; eagerly the update is "
                        "seen through the other, but XLA holds each as its own array. Give "
                        f"each its own memory (Parameter(array.copy())); {_NUMPY_ONLY}"
                    )
            earlier = [(other_end, other) for other_end, other in earlier if other_end > start]
            earlier.append((end, index))

    # ------------------------------------------------------------- the JAX function
    def _emission(self, key: Any) -> _Emission:
        emission = self._emissions.get(key)
        if emission is None:
            emission = self._emissions[key] = _Emission()
            body = functools.partial(self._body, key, emission)
            emission.jitted = jax.jit(body, donate_argnums=(0, 1))
        return emission

    def _body(
        self,
        key: Any,
        emission: _Emission,
        stepped: tuple[Any, ...],
        state: dict[tuple[int, str], Any],
        fixed: tuple[Any, ...],
        grads_in: tuple[Any, ...],
        coefficients: tuple[Any, ...],
        arguments: tuple[Any, ...],
    ) -> tuple[Any, ...]:
        """The step on JAX arrays (traced by jax.jit): returns the new values of the stepped
        parameters, the gradients it leaves, the new optimizer state and the outputs."""
        _, settings = key
        ops = self.ops
        tensor_values: dict[int, Any] = dict(zip(self.stepped, stepped, strict=True))
        tensor_values.update(zip(self.fixed, fixed, strict=True))
        values: list[Any] = [None] * self.slots.count
        for (slot, _), value in zip(self.argument_slots, arguments, strict=True):
            values[slot] = value
        for slot, index in self.leaf_slots:
            values[slot] = tensor_values[index]
        grads: dict[int, Any] = dict.fromkeys(self.grads_touched)
        if self.live_in:
            places_in = cast(tuple[_Place | None, ...], key[0][0])
            grads.update(zip(self.live_in, _unpack(grads_in, places_in), strict=True))
        state = dict(state)
        saved: dict[int, Any] = {}
        updates: dict[int, int] = {}
        for instruction in self.instructions:
            if isinstance(instruction, _Forward):
                op = ops[instruction.index]
                params = {
                    name: jnp.asarray(value) if isinstance(value, np.ndarray) else value
                    for name, value in call_params(op, values).items()
                }
                inputs = [values[slot] for slot in op.inputs]
                out, keep = _rule(op, "forward", op.primitive.forward, inputs, params)
                values[op.output] = out
                if op.requires_grad:
                    saved[instruction.index] = keep
            elif isinstance(instruction, _Backward):
                self._backward(instruction, values, saved, grads)
            elif isinstance(instruction, _GradRead):
                grad = grads[instruction.tensor]
                if grad is None:
                    raise CompileError(
                        "compile(backend='xla'): the step reads the .grad of a tensor of shape "
                        f"{self.tensors[instruction.tensor].shape}, which is None on this call"
                    )
                values[instruction.slot] = grad
            elif isinstance(instruction, _GradAssign):
                source = instruction.slot
                grads[instruction.tensor] = None if source is None else values[source]
            elif isinstance(instruction, _ZeroGrad):
                for index in instruction.tensors:
                    grad = grads[index]
                    grads[index] = (
                        None if instruction.set_to_none or grad is None else jnp.zeros_like(grad)
                    )
            else:
                self._optimizer_step(
                    instruction,
                    settings,
                    coefficients,
                    tensor_values,
                    values,
                    grads,
                    state,
                    updates,
                )
        emission.updates = updates
        grads_out, emission.grad_places = _pack(
            [grads[index] for index in self.grads_touched], jnp.concatenate
        )
        return (
            tuple(tensor_values[index] for index in self.stepped),
            state,
            grads_out,
            tuple(values[slot] for slot in self.outputs),
        )

    def _backward(
        self,
        instruction: _Backward,
        values: list[Any],
        saved: dict[int, Any],
        grads: dict[int, Any],
    ) -> None:
        """The eager sweep over the recorded vjp calls, then each leaf's gradient added to the
        one it holds (as `store_leaf_grads`)."""
        ops, slots = self.ops, self.slots
        if not instruction.order:
            return
        root = instruction.root
        seed = (
            jnp.ones(slots.shapes[root], slots.dtypes[root])
            if instruction.seed is None
            else values[instruction.seed]
        )

        def targets(index: int) -> tuple[Target[int] | None, ...]:
            op = ops[index]
            return tuple(
                (slot, slots.shapes[slot], slots.dtypes[slot]) if need else None
                for slot, need in zip(op.inputs, op.needs, strict=True)
            )

        def vjp(index: int, grad_out: Any) -> Any:
            op = ops[index]
            return _rule(op, "vjp", vjp_rule(op.primitive), (saved[index], grad_out, op.needs), {})

        leaf_grads = sweep(
            instruction.order,
            {root: seed},
            output=lambda index: ops[index].output,
            targets=targets,
            vjp=vjp,
        )
        for slot, index in self.leaf_slots:
            grad = leaf_grads.get(slot)
            if grad is None or not self.tensors[index].requires_grad:
                continue
            held = grads[index]
            grads[index] = grad if held is None else held + grad

    def _optimizer_step(
        self,
        instruction: _OptimizerStep,
        settings: tuple[Any, ...],
        coefficients: tuple[Any, ...],
        tensor_values: dict[int, Any],
        values: list[Any],
        grads: dict[int, Any],
        state: dict[tuple[int, str], Any],
        updates: dict[int, int],
    ) -> None:
        """The optimizer's update of every parameter holding a gradient, functionally."""
        optimizer = self.optimizers[instruction.optimizer]
        group_settings = settings[instruction.optimizer]
        group_coefficients = coefficients[instruction.optimizer]
        for group, params in enumerate(self._params_of[instruction.optimizer]):
            for position, index in enumerate(params):
                grad = grads[index]
                if grad is None:
                    continue
                value = tensor_values[index]
                count = updates.get(index, 0)
                if isinstance(optimizer, Adam):
                    table = group_coefficients[group]  # one row for all when steps agree
                    row = table[position if table.shape[0] > 1 else 0][count]
                    numbers = _cast(row, value.dtype)
                    value, exp_avg, exp_avg_sq = OF.adam_update(
                        value,
                        grad,
                        state.get((index, "exp_avg")),
                        state.get((index, "exp_avg_sq")),
                        numbers,
                        group_settings[group],
                    )
                    state[(index, "exp_avg")] = exp_avg
                    state[(index, "exp_avg_sq")] = exp_avg_sq
                else:
                    numbers = _cast(group_coefficients[group], value.dtype)
                    value, buffer = OF.sgd_update(
                        value,
                        grad,
                        state.get((index, "momentum_buffer")),
                        numbers,
                        group_settings[group],
                    )
                    if buffer is not None:
                        state[(index, "momentum_buffer")] = buffer
                updates[index] = count + 1
                tensor_values[index] = value
                slot = self.slot_of.get(index)
                if slot is not None:
                    values[slot] = value

    # ------------------------------------------------------------- calls
    def _argument_placeholders(self) -> tuple[Any, ...]:
        arguments: list[Any] = [None] * (max(self.slots.arguments.values(), default=-1) + 1)
        for slot, position in self.argument_slots:
            arguments[position] = _ABSTRACT(self.slots.shapes[slot], self.slots.dtypes[slot])
        return self._arguments(arguments)

    def _arguments(self, arguments: Sequence[Any]) -> tuple[Any, ...]:
        return tuple(self._pick_arguments(arguments))

    def _grads_in(self, live: _Live) -> tuple[Any, ...]:
        """The gradient outputs the program reads on entry: none when the step reads no
        `.grad` it holds on entry (zero_grad() first), else all (it unpacks the ones it
        reads, whose places are in the pattern)."""
        return live.grads if self.live_in else ()

    def _places_in(self, places: tuple[_Place | None, ...]) -> tuple[_Place | None, ...]:
        """The places of the gradients the program reads on entry: part of its key."""
        return tuple(places[position] for position in self._live_positions)

    def _read_host(self) -> _Live:
        """Device copies of everything the program reads from the host objects: the
        parameters, the `.grad`s it reads, the optimizer state and step counts."""
        tensors = self.tensors
        held = tuple(tensors[index].grad for index in self.grads_touched)
        host_grads, places = _pack(
            [None if grad is None else grad.data for grad in held], np.concatenate
        )
        grads = tuple(jnp.array(grad, copy=True) for grad in host_grads)
        state: dict[tuple[int, str], Any] = {}
        steps: list[list[np.ndarray]] = []
        for optimizer, groups in zip(self.optimizers, self._params_of, strict=True):
            adam = isinstance(optimizer, Adam)
            names = ("exp_avg", "exp_avg_sq") if adam else ("momentum_buffer",)
            optimizer_steps = []
            for group, params in zip(optimizer.param_groups, groups, strict=True):
                entries_of = [optimizer.state.get(tensors[index]) or {} for index in params]
                optimizer_steps.append(
                    np.array([int(e.get("step", 0)) for e in entries_of], dtype=np.int64)
                )
                if not adam and group["momentum"] == 0:
                    continue
                for index, entries in zip(params, entries_of, strict=True):
                    for name in names:
                        array = entries.get(name)
                        if array is not None:
                            state[(index, name)] = jnp.array(array, copy=True)
            steps.append(optimizer_steps)
        # The leaves' requires_grad flags are read when the body is traced: a flag changed
        # between calls (freezing a layer) needs its own trace (compiled.py retraces).
        flags = tuple(tensors[index].requires_grad for _, index in self.leaf_slots)
        return _Live(
            stepped=tuple(jnp.array(tensors[i].data, copy=True) for i in self.stepped),
            fixed=tuple(jnp.array(tensors[i].data, copy=True) for i in self.fixed),
            state=state,
            grads=grads,
            grad_places=places,
            held=held,
            pattern=(self._places_in(places), tuple(sorted(state)), flags),
            steps=steps,
            updated=np.zeros(len(self.stepped), dtype=np.int64),
        )

    def _upload(self) -> _Live:
        """Read the host objects afresh and defer them: until one of them is read, their
        values are the device arrays of the calls since."""
        flush()
        self._refuse_shared_memory()  # `.data` may have been replaced by a view since
        live = self._read_host()
        # The deferral (held by the registry until a flush) refers to this program weakly, so
        # that dropping the step frees it: `__del__` writes back what its calls left.
        write_back = functools.partial(
            _write_back_if_alive, weakref.WeakMethod(self._write_back), live
        )
        deferral = live.deferral = Deferral(write_back)
        tensors = self.tensors
        grads = [grad for grad in live.held if grad is not None]
        buffers = {id(b): b for t in tensors if (b := buffer_of(t)) is not None}.values()
        arrays: list[Any] = [tensor.data for tensor in (*tensors, *grads)]
        arrays += [b.data for b in buffers] + [b.grad_and_spare for b in buffers]
        for index, optimizer in self._optimizer_of.items():
            arrays += (optimizer.state.get(tensors[index]) or {}).values()
        deferral.lock(arrays)
        deferral.hold([*tensors, *grads], _TENSOR_ATTRIBUTES)
        deferral.hold(self.optimizers, ("state",))
        deferral.hold(buffers, _BUFFER_ATTRIBUTES)
        return live

    def _optimizer_inputs(
        self, steps: list[list[np.ndarray]]
    ) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        """(each optimizer's settings per group, its coefficients per group): the groups'
        hyperparameters are checked as eager `step()` checks them and read again only when
        they changed (a scheduler, a `param_groups` edit)."""
        settings: list[tuple[Any, ...]] = []
        coefficients: list[tuple[Any, ...]] = []
        unchanged = True
        for number, optimizer in enumerate(self.optimizers):
            if optimizer._pre_hooks or optimizer._post_hooks:
                self._refuse_hooks(optimizer)
            adam = self._adam[number]
            optimizer_settings: list[Any] = []
            optimizer_coefficients: list[Any] = []
            for position, group in enumerate(optimizer.param_groups):
                optimizer._recheck_if_changed(group)  # eager step checks the same way
                checked = optimizer._checked[id(group)]
                cached = self._hyper.get((number, position))
                if cached is None or cached[0] is not checked:
                    unchanged = False
                    made: OF.AdamSettings | OF.SGDSettings
                    if isinstance(optimizer, Adam):
                        made = OF.AdamSettings.of(group, optimizer.decoupled_weight_decay)
                        numbers = None
                    else:
                        made = OF.SGDSettings.of(group)
                        # On the device once: a NumPy argument is copied there at each call.
                        numbers = jax.device_put(np.array(OF.sgd_coefficients(group)))
                    cached = self._hyper[(number, position)] = (checked, made, numbers)
                optimizer_settings.append(cached[1])
                optimizer_coefficients.append(
                    _adam_coefficients(group, steps[number][position], self._steps_per_call[number])
                    if adam
                    else cached[2]
                )
            settings.append(tuple(optimizer_settings))
            coefficients.append(tuple(optimizer_coefficients))
        # The same object while no group changed, so that the emission is found by identity.
        if not unchanged or len(settings) != len(self._settings):
            self._settings = tuple(settings)
        return self._settings, tuple(coefficients)

    def run(self, arguments: Sequence[Any]) -> list[np.ndarray]:
        """One call: from the values the last call left on the device while nothing has
        read them since (no per-parameter work), else from the host objects."""
        if self._index_checks:
            check_indices(self._index_checks, arguments)
        live = self._live
        deferral = None if live is None else live.deferral
        if live is None or deferral is None or not deferral.active:
            live = self._live = self._upload()
            deferral = live.deferral
        settings, coefficients = self._optimizer_inputs(live.steps)
        pattern, last = live.pattern, self._last_emission
        if last is not None and last[0] is pattern and last[1] is settings:
            emission = last[2]  # the same key as the last call's: no key to hash
        else:
            emission = self._emission((pattern, settings))
        try:
            stepped, state, grads, outputs = emission.jitted(
                live.stepped,
                live.state,
                live.fixed,
                live.grads if self.live_in else (),
                coefficients,
                self._pick_arguments(arguments),
            )
        except BaseException:
            if deferral is not None:
                deferral.flush()  # what earlier calls left, then the classes
            raise
        if not emission.next_pattern:
            self._learn(emission, state, live.pattern[2])
        live.stepped, live.state, live.grads = stepped, state, grads
        live.grad_places = emission.grad_places
        live.pattern = emission.next_pattern
        self._last_emission = (pattern, settings, emission)
        for number, increments in zip(self._adams, emission.increments, strict=True):
            for group_steps, group_increments in zip(live.steps[number], increments, strict=True):
                group_steps += group_increments
        live.updated += emission.updated
        live.called = True
        if deferral is not None and not deferral.active:  # read while the body was traced
            self._write_back(live)
        for scheduler_step in self.schedulers:
            scheduler_step()
        # Waited for first: converting an array still being computed costs more.
        return [np.array(output.block_until_ready()) for output in outputs]

    def __del__(self) -> None:
        """Write back what the calls left when the step is dropped while they are deferred,
        so that the model (if still held) has them and nothing else holds it."""
        live: _Live | None = getattr(self, "_live", None)  # None if __init__ raised
        if live is not None and live.deferral is not None and live.deferral.active:
            live.deferral.flush()  # restores the classes; the weak reference is gone by now
            # Collected at any moment, perhaps while another step is traced: the write-back
            # is not that step's doing, so its tracer does not see it.
            tracer, STATE.tracer = STATE.tracer, None
            try:
                self._write_back(live)
            finally:
                STATE.tracer = tracer

    def _learn(
        self,
        emission: _Emission,
        state: dict[tuple[int, str], Any],
        flags: tuple[bool, ...],
    ) -> None:
        """What an emission's calls leave, found on its first call: the next pattern and the
        updates counted per parameter."""
        emission.next_pattern = (
            self._places_in(emission.grad_places),
            tuple(sorted(state)),
            flags,
        )
        updates = emission.updates
        emission.increments = [
            [np.array([updates.get(i, 0) for i in params], dtype=np.int64) for params in groups]
            for groups in map(self._params_of.__getitem__, self._adams)
        ]
        emission.updated = np.array([updates.get(i, 0) for i in self.stepped], dtype=np.int64)

    def _write_back(self, live: _Live) -> None:
        """Copy the values the calls left into the host objects (a flush): parameters into
        their `.data`, gradients into `.grad` (the same Tensor where eager keeps it), state
        entries into the optimizers' arrays, and the step counts."""
        if not live.called:
            return
        live.called = False
        tensors = self.tensors
        for position, (index, device) in enumerate(zip(self.stepped, live.stepped, strict=True)):
            updates = int(live.updated[position])
            if updates:
                tensor = tensors[index]
                np.copyto(tensor.data, np.asarray(device))
                for _ in range(updates):  # one per update, as eagerly
                    tensor.increment_version()
        grads = _unpack([np.asarray(output) for output in live.grads], live.grad_places)
        for index, values, held in zip(self.grads_touched, grads, live.held, strict=True):
            tensor = tensors[index]
            if values is None:
                tensor.grad = None
                continue
            if (
                held is not None
                and not held.requires_grad
                and held.shape == values.shape
                and held.dtype == values.dtype
                and (index in self._keeps_grad or held.data is grad_slot(tensor))
            ):
                # Kept eagerly, or its slot in a flat buffer, which eager backward refills.
                np.copyto(held.data, values)
                held.increment_version()
                tensor.grad = held
                continue
            tensor.grad = None
            store_leaf_grads(Tensor, [(tensor, values)], set())
        for (index, name), device in live.state.items():
            entries = self._optimizer_of[index].state.setdefault(tensors[index], {})
            array, values = entries.get(name), np.asarray(device)
            if (
                isinstance(array, np.ndarray)
                and array.shape == values.shape
                and array.dtype == values.dtype
            ):
                np.copyto(array, values)  # the same array: flat optimizer spans view it
            else:
                entries[name] = np.array(values)
        for optimizer, groups, steps in zip(
            self.optimizers, self._params_of, live.steps, strict=True
        ):
            adam = isinstance(optimizer, Adam)
            for params, group_steps in zip(groups, steps, strict=True):
                for index, step in zip(params, group_steps.tolist(), strict=True):
                    if live.updated[self._stepped_position[index]]:
                        entries = optimizer.state.setdefault(tensors[index], {})
                        if adam:
                            entries["step"] = step
        live.updated[:] = 0


def _write_back_if_alive(
    write_back: weakref.WeakMethod[Callable[[_Live], None]], live: _Live
) -> None:
    method = write_back()
    if method is not None:
        method(live)


_TENSOR_ATTRIBUTES = ("_counter", "_data", "_grad")
"""What reads a deferred Tensor's values, gradient or version (`.data`, `.grad`, `.shape`, ...
go through these slots)."""

_BUFFER_ATTRIBUTES = ("data", "data_views", "grad", "grad_and_spare", "grad_views")
"""What reads a deferred flat buffer's arrays."""


def _adam_coefficients(group: dict[str, Any], steps: np.ndarray, count: int) -> np.ndarray:
    """(parameters, count, 8): the coefficients of each parameter's next `count` Adam
    updates (`optim.functional.adam_coefficients`, in Python floats as eagerly), from its
    step count; computed once per distinct count. (1, count, 8) when every parameter of the
    group is at the same step (the usual case)."""
    first = int(steps[0])
    if (steps == first).all():
        rows = [OF.adam_coefficients(group, first + k) for k in range(1, count + 1)]
        return np.array([rows], dtype=np.float64)
    distinct, inverse = np.unique(steps, return_inverse=True)
    table = np.array(
        [
            [OF.adam_coefficients(group, int(done) + k) for k in range(1, count + 1)]
            for done in distinct
        ],
        dtype=np.float64,
    )
    return table[inverse]


def _cast(numbers: tuple[Any, ...], dtype: Any) -> tuple[Any, ...]:
    """Coefficients in the parameter's dtype, as NumPy casts a Python float it multiplies."""
    return tuple(jnp.asarray(number).astype(dtype) for number in numbers)


def _rule(
    op: OpRecord,
    which: str,
    rule: Callable[..., Any],
    args: Sequence[Any],
    params: dict[str, Any],
) -> Any:
    """`rule(*args, **params)`, the `which` rule of `op`; a CompileError naming the op if it
    cannot run on JAX arrays."""
    try:
        return rule(*args, **params)
    except CompileError:
        raise
    except Exception as error:
        raise CompileError(
            f"compile(backend='xla'): the {which} rule of {op.primitive.name!r} failed on JAX "
            f"arrays ({type(error).__name__}: {str(error).splitlines()[0][:160]}); its rule does "
            f"not yet compute through the array API standard. {_NUMPY_ONLY}"
        ) from error


def enable_float64() -> None:
    """Let JAX hold float64 arrays (`jax_enable_x64`, off by default in JAX): needed to
    compile a float64 step. It is process-wide, as JAX's setting is."""
    update = cast(Callable[[str, Any], None], jax.config.update)
    update("jax_enable_x64", True)


def _is_jax_array(value: Any) -> bool:
    return isinstance(value, jax.Array)


_STAND_INS: dict[tuple[Any, Any], np.ndarray] = {}
"""A zero-strided NumPy array per (shape, dtype) of JAX arguments seen: copies nothing."""


def _described(value: Any) -> np.ndarray:
    """A NumPy array of `value`'s shape and dtype that copies nothing (zero strides), or the
    value itself for a 0-d integer or boolean array (a setting, whose value counts)."""
    shape, dtype = value.shape, value.dtype
    if not shape and dtype.kind in "biu":
        return np.asarray(value)
    stand_in = _STAND_INS.get((shape, dtype))
    if stand_in is None:
        empty = np.empty((), dtype=np.dtype(dtype))
        stand_in = _STAND_INS[(shape, dtype)] = np.broadcast_to(empty, shape)
    return stand_in


class XlaCompiledStep(CompiledStep):
    """`chainrule.compile(step, backend="xla")`: traced once per signature (eagerly, as the
    NumPy backend), then run as one jitted JAX function. Arguments may be NumPy arrays,
    Tensors or JAX arrays (already on the device: nothing is copied per call)."""

    _last_arguments: tuple[tuple[Any, ...], Any, list[Any]] | None = None
    """(the last call's arguments, when all were JAX arrays, their signature, the program's
    arguments made of them): a JAX array's shape and dtype never change, so the same
    arrays again (a batch kept on the device) have the same signature."""

    def __call__(self, *args: Any) -> Any:
        if STATE.anomaly:  # run eagerly, as `CompiledStep.__call__` says why
            host = tuple(np.asarray(a) if _is_jax_array(a) else a for a in args)
            return self.step(*host)
        last = self._last_arguments
        if (
            last is not None
            and len(args) == len(last[0])
            and all(map(operator.is_, args, last[0]))
            and last[1][-1] == STATE.grad_enabled  # the grad mode, last in the signature
        ):
            _, signature, device = last
        else:
            signature, device = self._signature(args)
        cached = self.programs.get(signature)
        if (
            cached is None
            or (
                self.unverified
                and signature in self.unverified
                and not self._same_data(args, signature)
            )
            or _flags_changed(cached[0])
            or cast(XlaProgram, cached[0]).must_retrace()
        ):
            self._last_arguments = None
            host = tuple(np.asarray(a) if _is_jax_array(a) else a for a in args)
            return self._trace(host, _argument_arrays(host)[0], signature)
        program, rebuild = cached
        # The outputs' dtypes are the traced ones, checked then: wrapped without checks.
        return rebuild(list(map(_WRAP, program.run(device))))

    def _same_data(self, args: tuple[Any, ...], signature: Any) -> bool:
        """Whether an unverified program may run on `args`: they hold the values of the
        arguments its inconclusive check depends on (`compiled._same_data`)."""
        host = tuple(np.asarray(a) if _is_jax_array(a) else a for a in args)
        return _same_data(self.unverified[signature][0], _argument_arrays(host)[0])

    def _signature(self, args: tuple[Any, ...]) -> tuple[Any, list[Any]]:
        """(the arguments' signature, the arguments the program takes: JAX arrays as they
        are, NumPy arrays of Tensors); remembers JAX arrays for the next call."""
        # A JAX argument's signature is its shape and dtype: it stays on the device (a
        # zero-strided stand-in takes its place), save a 0-d integer one, a setting.
        described = tuple(_described(a) if _is_jax_array(a) else a for a in args)
        arrays, signature = _argument_arrays(described)
        device = [a if _is_jax_array(a) else array for a, array in zip(args, arrays, strict=True)]
        if all(map(_is_jax_array, args)):
            self._last_arguments = (args, signature, device)
        else:
            self._last_arguments = None
        return signature, device

    def _replay(self, tracer: Tracer, outputs: list[int]) -> XlaProgram:
        return XlaProgram(tracer, outputs)


__all__ = ["XlaCompiledStep", "XlaProgram", "enable_float64", "flush"]
