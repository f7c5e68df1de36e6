"""A traced step as a flat list of NumPy calls: no Tensors, no graph, no topological sort.

Forward entries call each primitive's forward on the arrays in their input slots; a backward
entry is the eager reverse sweep (`chainrule.sweep`) recorded: the vjp calls it makes, in its
order, carried over buffer slots instead of graph nodes; effects (an optimizer's step) run
where they ran in the trace. Ops nothing needs are dropped.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from chainrule import primitives as P
from chainrule.compiler import kernels
from chainrule.compiler.backward import (
    FRESH_RESULT,
    BackwardPlan,
    FusedUpdate,
    fused_update,
    vjp_kernel_fits,
)
from chainrule.compiler.tracer import (
    BackwardRecord,
    CompileError,
    EffectRecord,
    GradAssignRecord,
    GradReadRecord,
    OpRecord,
    Slots,
    Tracer,
    bound_slots,
)
from chainrule.compiler.tracer import call_params as call_params_of
from chainrule.graph import READ, store_leaf_grads
from chainrule.optim.optimizer import Optimizer
from chainrule.sweep import Target, schedule, sweep
from chainrule.tensor import Tensor

Values = list[Any]
Step = Callable[[Values, Values], None]


def ancestors(ops: Sequence[OpRecord], wanted: set[int]) -> set[int]:
    """Indices of the ops whose outputs the slots in `wanted` depend on."""
    producer = {op.output: index for index, op in enumerate(ops)}
    needed: set[int] = set()
    stack = [producer[slot] for slot in wanted if slot in producer]
    while stack:
        index = stack.pop()
        if index in needed:
            continue
        needed.add(index)
        stack.extend(producer[slot] for slot in ops[index].inputs if slot in producer)
    return needed


def wanted_slots(tracer: Tracer, outputs: Sequence[int]) -> set[int]:
    """The slots a replay must produce: the step's outputs, every backward's root and seed,
    and every value assigned to a `.grad`."""
    wanted = set(outputs)
    for event in tracer.events:
        if isinstance(event, BackwardRecord):
            wanted.add(event.root)
            if event.seed is not None:
                wanted.add(event.seed)
        elif isinstance(event, GradAssignRecord) and event.slot is not None:
            wanted.add(event.slot)
    return wanted


def state_views(tracer: Tracer) -> set[int]:
    """The slots whose array may be (a view of) state that outlives the call: a leaf's values
    (a parameter, which the next replay's optimizer step changes in place), a `.grad` read
    or assigned by the step (a flat buffer's slot, which the next replay's backward
    overwrites; an assigned one, which the next zero_grad(set_to_none=False) zeroes), and
    the output of every op not known to make a new array (`FRESH_RESULT`: a transpose, a
    reshape, a slice) fed one of them."""
    reached = set(tracer.slots.leaves)
    for event in tracer.events:
        if isinstance(event, (GradReadRecord, GradAssignRecord)) and event.slot is not None:
            reached.add(event.slot)
    for op in tracer.ops:
        if op.primitive not in FRESH_RESULT and any(
            slot in reached for slot in (*op.inputs, *bound_slots(op))
        ):
            reached.add(op.output)
    return reached


class Buffers:
    """Arrays the program owns and reuses on every replay, allocated once when it is built."""

    def __init__(self) -> None:
        self.arrays: dict[Any, np.ndarray] = {}
        self.ids: set[int] = set()

    def new(self, key: Any, shape: tuple[int, ...], dtype: np.dtype[Any]) -> np.ndarray:
        array = self.arrays[key] = np.empty(shape, dtype)
        self.ids.add(id(array))
        return array


def _kernel_fits(op: OpRecord, slots: Slots, kept: set[int]) -> bool:
    """Whether op's output may live in a reused buffer computed by a kernel: a kernel exists,
    every dtype agrees (so out= changes nothing), products are 2-D, and nothing outside the
    replay (a returned value, a backward root) holds the output."""
    if op.primitive not in kernels.FORWARD or op.params or op.output in kept:
        return False
    dtype = slots.dtypes[op.output]
    if any(slots.dtypes[slot] != dtype for slot in op.inputs) or not slots.shapes[op.output]:
        return False
    if op.primitive in (P.Linear, P.MatMul):
        return all(len(slots.shapes[slot]) == 2 for slot in op.inputs[:2])
    return True


def _inner(op: OpRecord, slots: Slots) -> int:
    """The inner dimension of a linear op's product x @ w (x's last axis), else 0."""
    if op.primitive is not P.Linear:
        return 0
    return slots.shapes[op.inputs[0]][-1]


def _forward_step(
    op: OpRecord,
    keep_saved: bool,
    saved_index: int,
    buffer: np.ndarray | None = None,
    inner: int = 0,
) -> Step:
    """One recorded forward op; with a `buffer`, its kernel writes into it (`inner`: the
    inner dimension of a linear op's product, from the recorded shapes)."""
    forward = op.primitive.forward
    inputs, output, params = op.inputs, op.output, op.params
    bound = op.bound_params or op.bound_parts
    if buffer is not None and op.primitive is P.Linear:
        # Linear.forward_into's calls inlined, as in `_fused_relu_step`.
        in_x, in_w, in_b = inputs
        product = np.multiply if inner == 1 else np.matmul
        add = np.add

        def run_linear_into(values: Values, saved: Values) -> None:
            x, w = values[in_x], values[in_w]
            product(x, w, out=buffer)
            add(buffer, values[in_b], out=buffer)
            values[output] = buffer
            if keep_saved:
                saved[saved_index] = (x, w)

        return run_linear_into
    if buffer is not None:
        kernel = kernels.FORWARD[op.primitive]
        arguments = _reader(inputs)

        def run_into(values: Values, saved: Values) -> None:
            out, keep = kernel(*arguments(values), out=buffer)
            values[output] = out
            if keep_saved:
                saved[saved_index] = keep

        return run_into

    def run(values: Values, saved: Values) -> None:
        call_params = call_params_of(op, values) if bound else params
        out, keep = forward(*[values[i] for i in inputs], **call_params)
        values[output] = out if type(out) is np.ndarray else np.asarray(out)
        if keep_saved:
            saved[saved_index] = keep

    return run


def _cross_entropy_step(
    op: OpRecord, slots: Slots, keep_saved: bool, saved_index: int
) -> Step | None:
    """Softmax cross-entropy of 2-D float logits through `kernels.CrossEntropyKernels` (its
    arrays allocated once), or None for other ops and shapes."""
    if op.primitive is not P.SoftmaxCrossEntropy or set(op.params) != {"targets"}:
        return None
    (logits_slot,) = op.inputs
    shape, dtype = slots.shapes[logits_slot], slots.dtypes[logits_slot]
    if len(shape) != 2 or dtype.kind != "f" or not isinstance(op.params["targets"], np.ndarray):
        return None
    kernel = kernels.CrossEntropyKernels((shape[0], shape[1]), dtype)
    forward, output, constant = kernel.forward, op.output, op.params["targets"]
    targets_slot = dict(op.bound_params).get("targets")
    asarray = np.asarray

    def run(values: Values, saved: Values) -> None:
        targets = constant if targets_slot is None else values[targets_slot]
        if type(targets) is not np.ndarray or targets.shape != constant.shape:
            loss, keep = op.primitive.forward(values[logits_slot], targets=targets)
        else:
            loss, keep = forward(values[logits_slot], targets)
        values[output] = asarray(loss)
        if keep_saved:
            saved[saved_index] = keep

    return run


def _reader(slots: tuple[int, ...]) -> Callable[[Values], tuple[Any, ...]]:
    """values -> the tuple of values[slot] for `slots`, prebound (no list built per call)."""
    if len(slots) == 1:
        (slot,) = slots
        return lambda values: (values[slot],)
    reader: Callable[[Values], tuple[Any, ...]] = operator.itemgetter(*slots)
    return reader


# Producers whose output array is fresh and not among what they save, so a ReLU that is their
# only consumer may overwrite it in place instead of allocating its own output. Matched by
# class: a primitive named like one of these is not one of these.
_FRESH_OUTPUT: frozenset[type[P.Primitive]] = frozenset({P.Linear, P.MatMul, P.Add})


def _fused_relu_step(
    producer: OpRecord,
    relu: OpRecord,
    producer_saved: int | None,
    relu_saved: int | None,
    buffer: np.ndarray | None,
    mask: np.ndarray | None = None,
    inner: int = 0,
) -> Step:
    """producer then relu in one step, the relu applied in place: z = max(p(...), 0), with
    ReLU's mask [z != 0] (1 at NaN, as ReLU.forward).
    The same NumPy arithmetic as the two ops apart, so the results are identical. With a
    `buffer` (and a boolean `mask` of its shape) every array is reused: no allocation."""
    forward, relu_forward = producer.primitive.forward, relu.primitive.forward
    kernel = kernels.FORWARD[producer.primitive] if buffer is not None else None
    inputs, output = producer.inputs, relu.output
    if kernel is not None and buffer is not None and mask is not None:
        arguments = _reader(inputs)
        not_equal, maximum = np.not_equal, np.maximum
        # Zero in the buffer's dtype: the same value the Python 0 becomes, without the
        # conversion each call would make (about a microsecond per call).
        zero = buffer.dtype.type(0)
        if producer.primitive is P.Linear:
            # Linear.forward_into's calls inlined: product_into(x, w, out) (a multiply for
            # an inner dimension of 1, known from the buffer's recorded shapes), out += b.
            in_x, in_w, in_b = inputs
            product = np.multiply if inner == 1 else np.matmul
            add = np.add

            def run_linear_into(values: Values, saved: Values) -> None:
                x, w = values[in_x], values[in_w]
                product(x, w, out=buffer)
                add(buffer, values[in_b], out=buffer)
                maximum(buffer, zero, out=buffer)
                not_equal(buffer, zero, out=mask)
                values[output] = buffer
                if producer_saved is not None:
                    saved[producer_saved] = (x, w)
                if relu_saved is not None:
                    saved[relu_saved] = mask

            return run_linear_into

        def run_into(values: Values, saved: Values) -> None:
            out, keep = kernel(*arguments(values), out=buffer)
            maximum(out, zero, out=out)
            not_equal(out, zero, out=mask)
            values[output] = out
            if producer_saved is not None:
                saved[producer_saved] = keep
            if relu_saved is not None:
                saved[relu_saved] = mask

        return run_into

    def run(values: Values, saved: Values) -> None:
        if kernel is not None and buffer is not None:
            out, keep = kernel(*[values[i] for i in inputs], out=buffer)
        else:
            out, keep = forward(*[values[i] for i in inputs])
        if type(out) is np.ndarray and out.ndim:
            np.maximum(out, 0, out=out)
            mask = out != 0
        else:
            out, mask = relu_forward(np.asarray(out))
        values[output] = out
        if producer_saved is not None:
            saved[producer_saved] = keep
        if relu_saved is not None:
            saved[relu_saved] = mask

    return run


def _relu_fusions(ops: Sequence[OpRecord], live: set[int], kept: set[int]) -> dict[int, int]:
    """{producer index: relu index} for each ReLU that is the only reader of a fresh output
    (one nothing else keeps: not returned, not a backward root)."""
    readers: dict[int, list[int]] = {}
    for index in sorted(live):
        for slot in ops[index].inputs:
            readers.setdefault(slot, []).append(index)
    fusions = {}
    for index in sorted(live):
        op = ops[index]
        if op.primitive not in _FRESH_OUTPUT or bound_slots(op) or op.output in kept:
            continue
        reader = readers.get(op.output, [])
        if len(reader) == 1 and ops[reader[0]].primitive is P.ReLU:
            fusions[index] = reader[0]
    return fusions


def _vjp_buffer(op: OpRecord, slots: Slots, buffers: Buffers, key: Any) -> np.ndarray | None:
    """A reused buffer for dL/d(first input) when a kernel can write it: the input is an
    activation (not a leaf, whose gradient is handed out as `.grad`) and dtypes agree."""
    if not op.needs[0] or not vjp_kernel_fits(op, slots):
        return None
    first = op.inputs[0]
    if first in slots.leaves or first in slots.arguments:
        return None
    return buffers.new(key, slots.shapes[first], slots.dtypes[first])


def _backward_order(record: BackwardRecord, ops: Sequence[OpRecord]) -> list[int]:
    """Indices of the recorded ops a backward call goes through, in the order the eager sweep
    visits their nodes (`chainrule.sweep.schedule` over the same graph: latest-recorded
    first, the recorded ops' indices being their recording order), so that every
    gradient is summed in eager's order and the replay is bit-identical to it."""
    producer = {
        op.output: index for index, op in enumerate(ops[: record.ops_before]) if op.requires_grad
    }
    root = producer.get(record.root)
    if root is None:
        return []

    def parents(index: int) -> list[int]:
        return [producer[slot] for slot in ops[index].inputs if slot in producer]

    return schedule(root, parents)


class _VjpCall:
    """One vjp call of the recorded sweep: where its grad_out and saved values are, what to
    call, and where each input's gradient goes (slot, shape, dtype)."""

    __slots__ = ("needs", "output", "release", "saved_index", "targets", "vjp")

    def __init__(
        self,
        op: OpRecord,
        vjp: Callable[..., Sequence[Any]],
        saved_index: int,
        release: bool,
        slots: Slots,
    ) -> None:
        self.output = op.output
        self.vjp = vjp
        self.saved_index = saved_index
        self.release = release
        self.needs = op.needs
        self.targets: tuple[Target[int] | None, ...] = tuple(
            (slot, slots.shapes[slot], slots.dtypes[slot]) if need else None
            for slot, need in zip(op.inputs, op.needs, strict=True)
        )


def _output_of(call: _VjpCall) -> int:
    return call.output


def _targets_of(call: _VjpCall) -> tuple[Target[int] | None, ...]:
    return call.targets


def _backward_step(
    record: BackwardRecord,
    ops: Sequence[OpRecord],
    saved_of: dict[int, int],
    slots: Slots,
    buffers: Buffers,
    retained: set[int],
    optimizer: Optimizer | None = None,
) -> tuple[Step, FusedUpdate | None]:
    """One backward call: the sweep over the recorded vjp calls, then `.grad`.
    Saved values are released after use, except those of the ops in `retained` (a later
    backward of the step goes through them: the trace used retain_graph=True). With the
    `optimizer` whose step follows it, its update is fused into the plan where it can be
    (`FusedUpdate`, returned for the step's own replay)."""
    calls = []
    order = _backward_order(record, ops)
    for index in order:
        op = ops[index]
        buffer = _vjp_buffer(op, slots, buffers, ("grad", id(record), index))
        vjp = op.primitive.vjp
        if buffer is not None:
            outs = (buffer,) + (None,) * (len(op.inputs) - 1)
            vjp = functools.partial(_run_vjp_kernel, kernels.VJP[op.primitive], outs)
        calls.append(_VjpCall(op, vjp, saved_of[index], index not in retained, slots))
    root, seed_slot = record.root, record.seed
    plan = (
        BackwardPlan(
            order, ops, saved_of, slots, buffers.new, retained, root, seed_slot, buffers.ids
        )
        if order
        else None
    )
    fused = (
        fused_update(plan, ops, slots, optimizer)
        if plan is not None and optimizer is not None
        else None
    )
    root_shape, root_dtype = slots.shapes[root], slots.dtypes[root]
    leaves = slots.leaves

    def run(values: Values, saved: Values) -> None:
        if plan is not None and plan.usable():
            rates = None if fused is None else fused.rates()
            if rates is None:
                plan.run(values, saved)
            else:
                assert fused is not None
                plan.run(values, saved, fused, rates)
                fused.done = True
            return
        grads_seed = np.ones(root_shape, root_dtype) if seed_slot is None else values[seed_slot]

        def vjp(call: _VjpCall, grad_out: Any) -> Sequence[Any]:
            input_grads = call.vjp(saved[call.saved_index], grad_out, call.needs)
            if call.release:
                saved[call.saved_index] = None
            return input_grads

        grads = sweep(calls, {root: grads_seed}, output=_output_of, targets=_targets_of, vjp=vjp)
        # A leaf never keeps a reused buffer: the next replay would overwrite its .grad.
        store_leaf_grads(
            Tensor,
            [
                (leaf, grads[slot])
                for slot, leaf in leaves.items()
                if leaf.requires_grad and grads.get(slot) is not None
            ],
            {id(grads_seed), *buffers.ids},
        )

    return run, fused


def _run_vjp_kernel(
    kernel: kernels.VjpKernel,
    outs: tuple[np.ndarray | None, ...],
    saved: Any,
    grad_out: Any,
    needs: tuple[bool, ...],
) -> tuple[Any, ...]:
    return kernel(saved, grad_out, needs, outs)


def _effect_step(record: EffectRecord) -> Step:
    effect = record.effect

    def run(values: Values, saved: Values) -> None:
        effect()

    return run


def _fused_effect_step(record: EffectRecord, fused: FusedUpdate) -> Step:
    """An optimizer's step whose update the backward before it may have made
    (`FusedUpdate`): then only the step's bookkeeping runs, else the step itself."""
    effect = record.effect

    def run(values: Values, saved: Values) -> None:
        if fused.done:
            fused.finish()
        else:
            effect()

    return run


def _step_of(event: Any) -> Optimizer | None:
    """The optimizer whose own `step()` (not a subclass's override) the event records."""
    if not isinstance(event, EffectRecord):
        return None
    owner = getattr(event.effect, "__self__", None)
    if isinstance(owner, Optimizer) and getattr(event.effect, "__func__", None) is Optimizer.step:
        return owner
    return None


def _effect_label(effect: Callable[[], Any]) -> str:
    """ "SGD.step", "SGD.zero_grad": the recorded method's owner and name."""
    function = effect.func if isinstance(effect, functools.partial) else effect
    owner = getattr(function, "__self__", None)
    name = getattr(function, "__name__", type(function).__name__)
    return name if owner is None else f"{type(owner).__name__}.{name}"


def _grad_assign_step(record: GradAssignRecord) -> Step:
    """`leaf.grad = None`, or a new Tensor around the slot's array, as the step assigned it."""
    leaf, slot = record.leaf, record.slot

    def run(values: Values, saved: Values) -> None:
        leaf.grad = None if slot is None else Tensor.from_numpy(values[slot])

    return run


def _grad_read_step(record: GradReadRecord) -> Step:
    slot, leaf = record.slot, record.leaf

    def run(values: Values, saved: Values) -> None:
        grad = leaf.grad
        if grad is None:
            raise CompileError(
                f"compile: the step reads the .grad of a tensor of shape {leaf.shape}, which "
                "had one when the step was traced but is None on this call"
            )
        values[slot] = grad.data

    return run


class Program:
    """The replayable form of one trace (one key of shapes and dtypes)."""

    def __init__(self, tracer: Tracer, outputs: Sequence[int]) -> None:
        self.slots = tracer.slots
        self.outputs = tuple(outputs)
        # Each output slot, and whether its array is copied when returned: one that may be
        # (a view of) a parameter's values or a `.grad` would change under the returned
        # Tensor, without a version bump, at the next replay.
        views = state_views(tracer)
        self._returned = tuple((slot, slot in views) for slot in outputs)
        ops = tracer.ops
        wanted = wanted_slots(tracer, outputs)
        live = ancestors(ops, wanted)
        saved_of = {index: position for position, index in enumerate(sorted(live))}
        self.saved_count = len(saved_of)
        buffers = self.buffers = Buffers()
        fusions = _relu_fusions(ops, live, wanted)
        fused_away = set(fusions.values())
        steps: list[Step] = []
        # What each step does, for `run_timed`'s report: "linear+relu (64, 64)", "backward".
        labels: list[str] = []
        done = 0

        def saved_slot(index: int) -> int | None:
            return saved_of[index] if ops[index].requires_grad else None

        def output_buffer(index: int, kept: set[int]) -> np.ndarray | None:
            op = ops[index]
            if not _kernel_fits(op, self.slots, kept):
                return None
            shape, dtype = self.slots.shapes[op.output], self.slots.dtypes[op.output]
            return buffers.new(("out", index), shape, dtype)

        def forward_until(stop: int) -> None:
            nonlocal done
            for index in range(done, stop):
                if index not in live or index in fused_away:
                    continue
                op = ops[index]
                relu = fusions.get(index)
                if relu is not None and relu < stop:
                    # The relu's output is the producer's buffer: it must not escape either.
                    escapes = ops[relu].output in wanted
                    buffer = None if escapes else output_buffer(index, wanted)
                    mask = (
                        None
                        if buffer is None
                        else buffers.new(("mask", index), buffer.shape, np.dtype(bool))
                    )
                    steps.append(
                        _fused_relu_step(
                            op,
                            ops[relu],
                            saved_slot(index),
                            saved_slot(relu),
                            buffer,
                            mask,
                            _inner(op, self.slots),
                        )
                    )
                    labels.append(f"{op.primitive.name}+relu {self.slots.shapes[op.output]}")
                    continue
                if relu is not None:
                    fused_away.discard(relu)
                cross_entropy = _cross_entropy_step(
                    op, self.slots, op.requires_grad, saved_of[index]
                )
                if cross_entropy is not None:
                    steps.append(cross_entropy)
                    labels.append(f"{op.primitive.name} {self.slots.shapes[op.output]}")
                    continue
                steps.append(
                    _forward_step(
                        op,
                        op.requires_grad,
                        saved_of[index],
                        output_buffer(index, wanted),
                        _inner(op, self.slots),
                    )
                )
                labels.append(f"{op.primitive.name} {self.slots.shapes[op.output]}")
            done = max(done, stop)

        backwards = [event for event in tracer.events if isinstance(event, BackwardRecord)]
        paths = [set(_backward_order(event, ops)) for event in backwards]
        events = tracer.events
        # A step's single backward followed at once by an optimizer's step (no op, no
        # `.grad` read between): the update may be fused into the backward.
        fusing: dict[int, Optimizer] = {}
        for position, event in enumerate(events[:-1]):
            following = events[position + 1]
            optimizer = _step_of(following)
            if (
                len(backwards) == 1
                and isinstance(event, BackwardRecord)
                and optimizer is not None
                and following.ops_before == event.ops_before
            ):
                fusing[position + 1] = optimizer
        fused: FusedUpdate | None = None
        for position, event in enumerate(events):
            forward_until(event.ops_before)
            if isinstance(event, BackwardRecord):
                later = paths[backwards.index(event) + 1 :]
                retained = set().union(*later)
                step, fused = _backward_step(
                    event, ops, saved_of, self.slots, buffers, retained, fusing.get(position + 1)
                )
                steps.append(step)
                labels.append("backward")
            elif isinstance(event, GradReadRecord):
                steps.append(_grad_read_step(event))
                labels.append(".grad read")
            elif isinstance(event, GradAssignRecord):
                steps.append(_grad_assign_step(event))
                labels.append(".grad assignment")
            elif position in fusing and fused is not None:
                steps.append(_fused_effect_step(event, fused))
                labels.append(_effect_label(event.effect))
            else:
                steps.append(_effect_step(event))
                labels.append(_effect_label(event.effect))
        forward_until(len(ops))
        self.steps = steps
        self.labels = labels
        self.fused = fused
        """The optimizer step fused into the backward plan, if any (`FusedUpdate`)."""
        self._argument_slots = tuple(self.slots.arguments.items())
        self._leaf_slots = tuple(self.slots.leaves.items())
        # The leaves' arrays as traced: a call finding another array of another shape or
        # dtype traces the step again (`compiled._leaf_arrays_changed`).
        self.leaf_tensors = tuple(self.slots.leaves.values())
        self.leaf_arrays = tuple(map(READ.data, self.leaf_tensors))

    def run(self, arguments: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        values: Values = [None] * self.slots.count
        for slot, index in self._argument_slots:
            values[slot] = arguments[index]
        data_of = READ.data  # `.data`'s own field, read in C: no property call per leaf
        for slot, leaf in self._leaf_slots:
            values[slot] = data_of(leaf)
        saved: Values = [None] * self.saved_count
        for step in self.steps:
            step(values, saved)
        return [
            values[slot].copy() if copied else self._detached(values[slot])
            for slot, copied in self._returned
        ]

    def run_timed(
        self, arguments: Sequence[np.ndarray | None], clock: Callable[[], int]
    ) -> tuple[list[np.ndarray], list[int]]:
        """`run`, timing each step with `clock` (time.perf_counter_ns): the outputs, and one
        duration per step, in the order of `steps` and `labels` (benchmarks/replay_times.py)."""
        values: Values = [None] * self.slots.count
        for slot, index in self._argument_slots:
            values[slot] = arguments[index]
        for slot, leaf in self._leaf_slots:
            values[slot] = leaf.data
        saved: Values = [None] * self.saved_count
        durations = []
        for step in self.steps:
            start = clock()
            step(values, saved)
            durations.append(clock() - start)
        returned = [
            values[slot].copy() if copied else self._detached(values[slot])
            for slot, copied in self._returned
        ]
        return returned, durations

    def _detached(self, array: np.ndarray) -> np.ndarray:
        """`array`, or a copy where it is (a view of) a reused buffer that the next replay
        would overwrite."""
        if id(array) in self.buffers.ids or (
            array.base is not None
            and any(np.may_share_memory(array, b) for b in self.buffers.arrays.values())
        ):
            copied: np.ndarray = array.copy()
            return copied
        return array
