"""Recording one eager run of a training step: every op, backward call, effect and `.grad`
assignment, in order.

Values are named by slots: the step's array arguments, parameters (leaves that require grad,
read afresh at each replay), the parameters' `.grad` where the step reads it (read afresh at
that point), frozen constants, and op outputs. The record is turned into a flat program by
`chainrule.compiler.program`.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import numpy as np

from chainrule import placement
from chainrule.compiler.arguments import ArrayArgument, called_by_the_step, marked_source
from chainrule.graph import READ
from chainrule.modes import CompileError as CompileError
from chainrule.modes import refuse_while_tracing as refuse_while_tracing
from chainrule.modes import user_frame
from chainrule.primitives import Primitive
from chainrule.tensor import Tensor


@dataclass(frozen=True)
class OpRecord:
    primitive: type[Primitive]
    inputs: tuple[int, ...]
    params: dict[str, Any]
    bound_params: tuple[tuple[str, int], ...]
    output: int
    needs: tuple[bool, ...]
    requires_grad: bool
    bound_parts: tuple[tuple[str, int, int], ...] = ()
    """(name, position, slot) of each argument that is an entry of a tuple setting (x[:, i],
    take_along_axis's index): replayed with the call's argument there, as `bound_params`."""


def call_params(op: OpRecord, values: Any) -> dict[str, Any]:
    """The settings `op` is replayed with: its recorded ones, with the arguments it took (in
    `values`, by slot) replaced by this call's."""
    params = op.params
    if op.bound_params:
        params = {**params, **{name: values[slot] for name, slot in op.bound_params}}
    if op.bound_parts:
        params = dict(params)
        for name, position, slot in op.bound_parts:
            parts = list(params[name])
            parts[position] = values[slot]
            params[name] = tuple(parts)
    return params


def bound_slots(op: OpRecord) -> tuple[int, ...]:
    """The argument slots `op`'s settings read (`bound_params` and `bound_parts`)."""
    return (*(slot for _, slot in op.bound_params), *(slot for _, _, slot in op.bound_parts))


@dataclass(frozen=True)
class BackwardRecord:
    root: int
    seed: int | None
    ops_before: int


@dataclass(frozen=True)
class EffectRecord:
    effect: Callable[[], Any]
    ops_before: int


@dataclass(frozen=True)
class GradReadRecord:
    """The step read `leaf.grad` here: a replay reads the current one into `slot`."""

    slot: int
    leaf: Tensor
    ops_before: int


@dataclass(frozen=True)
class GradAssignRecord:
    """The step set `leaf.grad` here: to None (`slot` None), or to the value in `slot` (an op's
    output, an argument, or a gradient read), which a replay wraps in a new Tensor."""

    leaf: Tensor
    slot: int | None
    ops_before: int


Event = BackwardRecord | EffectRecord | GradReadRecord | GradAssignRecord


@dataclass
class Slots:
    """What each slot holds: an argument's index, or a leaf tensor (a parameter or a constant,
    whose `.data` is read afresh at each replay)."""

    count: int = 0
    arguments: dict[int, int] = field(default_factory=dict)
    leaves: dict[int, Tensor] = field(default_factory=dict)
    shapes: dict[int, tuple[int, ...]] = field(default_factory=dict)
    dtypes: dict[int, np.dtype[Any]] = field(default_factory=dict)

    def new(self, array: np.ndarray) -> int:
        slot = self.count
        self.count += 1
        self.shapes[slot] = array.shape
        self.dtypes[slot] = array.dtype
        return slot


def _same_view(array: np.ndarray, base: np.ndarray) -> bool:
    return (
        array.shape == base.shape
        and array.strides == base.strides
        and array.dtype == base.dtype
        and array.__array_interface__["data"][0] == base.__array_interface__["data"][0]
    )


def _digest_of(array: Any) -> bytes:
    """A digest of an argument array's values (with its shape and dtype, which the signature
    fixes), to tell whether two calls passed the same data."""
    return hashlib.blake2b(np.ascontiguousarray(array).data, digest_size=16).digest()


class Tracer:
    """Collects the records while `STATE.tracer` points at it (a `modes.StepTracer`)."""

    def __init__(self, arguments: Sequence[np.ndarray | None]) -> None:
        self.slots = Slots()
        self.ops: list[OpRecord] = []
        self.events: list[Event] = []
        self._argument_slot: dict[int, int] = {}
        self._argument_shapes = {a.shape for a in arguments if a is not None and a.size > 1}
        self._argument_arrays = [
            (index, a) for index, a in enumerate(arguments) if a is not None and a.size
        ]
        self._tensor_slot: dict[int, int] = {}
        # The slot of each array an op computed or a leaf holds, by id (kept alive with its
        # tensor): a tensor made of one without an op (`t.detach()`) reads that slot.
        self._array_slot: dict[int, int] = {}
        self._alive: list[Any] = []
        # The frames of the recorded effects (an optimizer's step) while they run: what they
        # change in place is replayed with them, so it is allowed.
        self._effect_frames: dict[int, FrameType] = {}
        # The frames of the recorded backward calls while they run: the `.grad` they store is
        # stored again by the replayed backward.
        self._backward_frames: dict[int, FrameType] = {}
        # What recorded effects returned (clip_grad_norm_'s norm), by id: (the tensor, what it
        # is, the fix); a replay repeats the effect but hands nothing back to the step.
        self._effect_results: dict[int, tuple[Tensor, str, str]] = {}
        # Called as a recorded effect starts: compile lets it write the parameters' arrays.
        self.on_effect: Callable[[], None] | None = None
        # The step's reads of its arguments' values into Python (`compiler.arguments`).
        self.reads: list[str] = []
        # The arguments' digests, taken by compile when the trace froze a constant.
        self.digests: tuple[bytes, ...] | None = None
        # (argument index, its bytes) of the arguments whose values this trace may be
        # replayed on, when its check by the trace before it was inconclusive (compiled.py).
        self.conditions: tuple[tuple[int, bytes], ...] = ()
        for index, array in enumerate(arguments):
            if array is not None:
                slot = self.slots.new(array)
                self.slots.arguments[slot] = index
                self._argument_slot[id(array)] = slot
                self._alive.append(array)

    def argument_digests(self) -> tuple[bytes, ...]:
        """A digest of each array argument's values as they are now (after the step ran), to
        tell later whether another trace saw the same data."""
        return tuple(_digest_of(array) for _, array in self._argument_arrays)

    @property
    def arguments_digested(self) -> list[tuple[int, np.ndarray]]:
        """(argument index, array) of the arguments `argument_digests` covers, in order."""
        return self._argument_arrays

    def slot_of(self, tensor: Tensor) -> int:
        """The slot of a tensor seen in the step, registering leaves and constants."""
        known = self._tensor_slot.get(id(tensor))
        if known is not None:
            return known
        result = self._effect_results.get(id(tensor))
        if result is not None and result[0] is tensor:
            raise CompileError(
                f"compile: the step uses {result[1]} ({user_frame()}); a replay repeats that "
                f"call but not the Python code reading what it returned, so every replay "
                f"would reuse the first call's value. {result[2]}"
            )
        argument = self._argument_of(tensor.data)
        if argument is not None:
            slot = argument
        elif tensor.grad_fn is not None:
            raise CompileError(
                f"compile: the step uses a tensor of shape {tensor.shape} that was computed "
                "outside it by a recorded op; compute it inside the step or pass it (detached) "
                "as an argument"
            )
        elif (owner := self._grad_owner(tensor)) is not None:
            # A backward gives the leaf a new .grad tensor on each call: read it afresh.
            slot = self.slots.new(tensor.data)
            self.events.append(GradReadRecord(slot, owner, len(self.ops)))
        elif (
            not tensor.requires_grad
            and (same := self._array_slot.get(id(READ.data(tensor)))) is not None
        ):
            # The values of a traced tensor without its graph (`out.detach()`, `w.detach()`):
            # its slot, read afresh at each replay; the ops it feeds record that it needs no
            # gradient. (A tensor that requires grad is a leaf of its own, even where it
            # shares its array with another: each gets its gradient.)
            slot = same
        else:
            if not tensor.requires_grad:
                self._refuse_derived(tensor.data, "a constant tensor")
                source = marked_source(READ.data(tensor))
                if source is not None:
                    source.note_constant(f"a constant tensor of shape {tensor.shape}")
            slot = self.slots.new(tensor.data)
            self.slots.leaves[slot] = tensor
            self._array_slot[id(READ.data(tensor))] = slot
        self._tensor_slot[id(tensor)] = slot
        self._alive.append(tensor)
        return slot

    def numpy_of(self, tensor: Tensor, skip: int = 3) -> np.ndarray:
        """`tensor.numpy()` in the traced step: for the step's own code, an ArrayArgument
        view (an argument's: reads noted; another tensor's: reads refused). `skip`: the
        calls up to the caller (past this method and Tensor.numpy)."""
        data = READ.data(tensor)
        if type(data) is not np.ndarray:
            return placement.numpy_copy(data)  # another library's: copied, as eagerly
        if not called_by_the_step(skip):
            return data
        view = data.view(ArrayArgument)
        slot = self._argument_of(data)
        if slot is not None and slot in self.slots.arguments:
            view.position, view.reads = self.slots.arguments[slot], self.reads
        else:
            view.tensor_shape = data.shape
        return view

    def data_of(self, tensor: Tensor) -> Any:
        """`tensor.data` in the traced step: as `numpy_of` for an ndarray; another library's
        array as it is."""
        if type(READ.data(tensor)) is not np.ndarray:
            return READ.data(tensor)
        return self.numpy_of(tensor, 4)  # past numpy_of, this method and the property

    def _argument_of(self, array: Any) -> int | None:
        """The slot of the argument `array` is, or is a whole view of (compile passes the
        step guarded views of its arguments, `compiler.arguments`): it has its values."""
        slot = self._argument_slot.get(id(array))
        if slot is not None or not isinstance(array, np.ndarray) or array.base is None:
            return slot
        for _, argument in self._argument_arrays:
            if _same_view(array, argument):
                return self._argument_slot[id(argument)]
        return None

    def _grad_owner(self, tensor: Tensor) -> Tensor | None:
        """The parameter seen in the step whose `.grad` is `tensor`, if any."""
        for leaf in self.slots.leaves.values():
            if leaf.grad is tensor:
                return leaf
        return None

    def _refuse_derived(self, array: np.ndarray, what: str) -> None:
        for index, argument in self._argument_arrays:
            if np.may_share_memory(array, argument):
                raise CompileError(
                    f"compile: {what} of shape {array.shape} is a NumPy view of argument "
                    f"{index} (of shape {argument.shape}: a reshape, slice or transpose made "
                    "in the step with NumPy); a replay would keep reading the first call's "
                    "array. Make it with chainrule ops (cr.tensor(x).reshape(...)), or "
                    "before the call"
                )
        if array.size > 1 and array.shape in self._argument_shapes:
            raise CompileError(
                f"compile: {what} of shape {array.shape} has the shape of an argument but is "
                "not that argument; it looks computed from one (a dtype conversion or a NumPy "
                "expression), and would be frozen at its first value. Convert it before the "
                "call, or compute it with chainrule ops inside the step"
            )

    def _bind_params(
        self, primitive: type[Primitive], params: dict[str, Any]
    ) -> tuple[tuple[str, int], ...]:
        bound = []
        for name, value in params.items():
            if isinstance(value, np.ndarray):
                slot = self._argument_of(value)
                if slot is not None:
                    bound.append((name, slot))
                else:
                    self._refuse_derived(value, f"the {name!r} of {primitive.name}")
        return tuple(bound)

    def _bind_parts(
        self, primitive: type[Primitive], params: dict[str, Any]
    ) -> tuple[tuple[str, int, int], ...]:
        bound = []
        for name, value in params.items():
            if type(value) is not tuple:
                continue
            for position, part in enumerate(value):
                if isinstance(part, np.ndarray):
                    slot = self._argument_of(part)
                    if slot is not None:
                        bound.append((name, position, slot))
        return tuple(bound)

    def record_op(
        self,
        primitive: type[Primitive],
        inputs: tuple[Tensor, ...],
        params: dict[str, Any],
        result: Tensor,
    ) -> None:
        input_slots = tuple(self.slot_of(x) for x in inputs)
        output = self.slots.new(result.data)
        self._tensor_slot[id(result)] = output
        self._array_slot[id(READ.data(result))] = output
        self._alive.append(result)
        self.ops.append(
            OpRecord(
                primitive=primitive,
                inputs=input_slots,
                params=params,
                bound_params=self._bind_params(primitive, params),
                output=output,
                needs=tuple(x.requires_grad for x in inputs),
                requires_grad=result.requires_grad,
                bound_parts=self._bind_parts(primitive, params),
            )
        )

    def record_backward(self, root: Tensor, grad: Any, create_graph: bool) -> None:
        if create_graph:
            raise CompileError(
                "compile: backward(create_graph=True) inside a compiled step is not supported; "
                "run gradients of gradients eagerly"
            )
        seed = None
        if grad is not None:
            seed_tensor = grad if isinstance(grad, Tensor) else Tensor.from_numpy(np.asarray(grad))
            seed = self.slot_of(seed_tensor)
        self.events.append(BackwardRecord(self.slot_of(root), seed, len(self.ops)))
        frame = sys._getframe(1)
        self._backward_frames[id(frame)] = frame

    def record_effect(self, effect: Callable[[], Any], frame: FrameType | None = None) -> None:
        """Remember that `effect()` ran here; `frame`, the effect's own running call, may then
        change tensors in place (a replay repeats the whole call)."""
        self.events.append(EffectRecord(effect, len(self.ops)))
        if frame is not None:
            self._effect_frames[id(frame)] = frame
            if self.on_effect is not None:
                self.on_effect()

    def record_effect_result(self, result: Tensor, what: str, fix: str) -> None:
        """`result` (`what`) was returned by a recorded effect: the step may not use it in an
        op or return it, since a replay does not hand it back (CompileError naming `fix`)."""
        self._effect_results[id(result)] = (result, what, fix)

    def is_effect_frame(self, frame: FrameType) -> bool:
        """Whether `frame` is the running call of a recorded effect."""
        return self._effect_frames.get(id(frame)) is frame

    def in_effect(self, frame: FrameType | None) -> bool:
        """Whether `frame` runs inside a recorded effect (is one, or is called by one): a
        replay runs that code again (an optimizer's step hooks, a scheduler's `get_lr`)."""
        while frame is not None:
            if self.is_effect_frame(frame):
                return True
            frame = frame.f_back
        return False

    def record_grad_assignment(self, leaf: Tensor, grad: Tensor | None) -> None:
        """`leaf.grad = grad` or `del leaf.grad` by the step itself, recorded so that each
        replay assigns at this point as eager execution does (what a recorded backward or
        effect assigns, its replay assigns again). Refused for a tensor whose values a replay
        cannot recompute: one made without chainrule ops (a replay's backward would keep
        adding into the first call's array) or one that requires grad."""
        if self._inside(self._effect_frames) or self._inside(self._backward_frames):
            return
        read = self._tensor_slot.get(id(leaf.grad))
        if read is not None and read in self.slots.leaves:
            raise CompileError(
                f"compile: the step replaces the .grad of a tensor of shape {leaf.shape} "
                f"({user_frame()}) that it read without using that tensor in any op, so the "
                "trace took the gradient for a constant and a replay would read the first "
                "call's; make the change outside the compiled step"
            )
        slot = None
        if grad is not None:
            if grad.requires_grad:
                raise CompileError(
                    f"compile: the step assigns a tensor that requires grad to the .grad of a "
                    f"tensor of shape {leaf.shape} ({user_frame()}); compute the new gradient "
                    "under chainrule.no_grad() (or from detached values)"
                )
            slot = self.slot_of(grad)
            if slot in self.slots.leaves:
                raise CompileError(
                    f"compile: the step assigns a tensor that no chainrule op in it computed "
                    f"to the .grad of a tensor of shape {leaf.shape} ({user_frame()}); a "
                    "replay would reuse the first call's tensor and keep adding into it. "
                    "Clear the gradient with `.grad = None` instead (the next backward stores "
                    "a fresh one), or compute the new gradient with chainrule ops"
                )
        self.events.append(GradAssignRecord(leaf, slot, len(self.ops)))

    def refuse_requires_grad_change(self, tensor: Tensor) -> None:
        """Raise CompileError if `requires_grad_()` changes the flag of a tensor the step has
        already used: the ops recorded before keep the old flag on every replay. (A change
        before any use, or of a tensor made in the step, holds from then on, as eagerly.)"""
        if id(tensor) in self._tensor_slot and not self._inside(self._effect_frames):
            raise CompileError(
                f"compile: requires_grad_() changes the flag of a tensor of shape "
                f"{tensor.shape} that the step already used ({user_frame()}); the ops recorded "
                "before it would keep the old flag on every replay. Freeze or unfreeze "
                "parameters outside the compiled step"
            )

    def _inside(self, frames: dict[int, FrameType]) -> bool:
        """Whether one of `frames` (running calls) is among the callers of this call."""
        frame: FrameType | None = sys._getframe(1)
        while frame is not None:
            if frames.get(id(frame)) is frame:
                return True
            frame = frame.f_back
        return False

    def refuse_conversion(self, tensor: Tensor, conversion: str, hint: str = "") -> None:
        """Raise CompileError for a traced tensor turned into a Python or NumPy value by the
        step: Python code that reads it (an `if`, a float, a mask) is not replayed, so every
        replay would reuse the value of the first call."""
        if self._inside(self._effect_frames):
            return
        raise CompileError(
            f"compile: {conversion} of a traced tensor of shape {tensor.shape} inside a "
            "compiled step is value-dependent Python control flow or conversion: its value "
            "would be frozen, every replay reusing the first call's; move it out of the step "
            "(return the tensor and convert the result) or pass the value as an argument"
            f"{hint}"
        )

    def refuse_mutation(self, tensor: Tensor, op: str) -> None:
        """Raise CompileError for an in-place change made by the step itself, not by a
        recorded effect: a replay would not repeat it."""
        if self._inside(self._effect_frames):
            return
        owner = self._grad_owner(tensor)
        if owner is not None:
            raise CompileError(
                f"compile: in-place change ({op}) of the .grad of a tensor of shape "
                f"{owner.shape} inside a compiled step ({user_frame()}) is not replayed, so "
                "the gradient would be changed on the first call only; write it out of place "
                "(`p.grad = p.grad * scale`, which a replay repeats) or fold the factor into "
                "the loss"
            )
        raise CompileError(
            f"compile: in-place change ({op}) of a tensor of shape {tensor.shape} inside a "
            "compiled step is not replayed (a replay repeats only chainrule ops, backward() "
            "and optimizer steps), so its values would stop changing after the first call; "
            "update parameters with a chainrule.optim optimizer, whose step() is replayed, "
            "or make the change outside the compiled step"
        )

    def output_slot(self, tensor: Tensor) -> int:
        return self.slot_of(tensor)
