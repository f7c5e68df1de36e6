"""A backward call of a traced step, planned once: where each gradient lives, which kernel
writes it and what is added where, so that a replay makes only the NumPy calls.

The plan visits the recorded ops in the eager sweep's order (`chainrule.sweep.schedule`) and
sums every gradient in eager's order, so a replay stays bit-identical to eager backward.
What changes is where the numbers land:

- a parameter's gradient is written by its vjp kernel straight into its slice of the flat
  gradient buffer (`chainrule.nn.flat`): the first write overwrites, a later one (a parameter
  read twice) goes to a scratch buffer and is added in place;
- an activation's gradient goes to a buffer the program owns, allocated once; an element-wise
  rule (ReLU) writes its result over its grad_out buffer, which nothing else reads;
- gradients of rules without a kernel stay fresh arrays, handled as the eager sweep does.

A plan runs while every parameter it writes has `.grad` None and requires grad (what
`zero_grad()` leaves); otherwise the program replays the generic sweep, which adds into an
existing `.grad` as eager backward does.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from chainrule import primitives as P
from chainrule.compiler import kernels
from chainrule.compiler.tracer import OpRecord, Slots, bound_slots
from chainrule.graph import (
    READ,
    grad_slot,
    grad_slot_changes,
    hand_out_slot,
    slot_holder_changes,
    store_leaf_grads,
)
from chainrule.modes import STATE
from chainrule.nn.flat import buffer_of
from chainrule.optim.optimizer import Optimizer
from chainrule.primitives.base import Outs
from chainrule.sweep import fit
from chainrule.tensor import Tensor, VersionCounter
from chainrule.tensor import _shared_counter as shared_counter

Values = list[Any]

# Rules whose kernel may write dL/d(input) over grad_out: element-wise, one input of the
# output's shape. Matched by class, as the program's other tables.
_IN_PLACE: frozenset[type[P.Primitive]] = frozenset({P.ReLU})

# What a vjp result becomes, per needed input that no kernel buffer received.
_FIRST = 0  # the input's first gradient: kept as it is (after `fit`)
_ADD_INTO = 1  # added in place into the array that holds the input's gradient
_ADD_FRESH = 2  # added out of place to the input's gradient (a fresh array, as eager)


def vjp_kernel_fits(op: OpRecord, slots: Slots) -> bool:
    """Whether op's vjp kernel may write its inputs' gradients into buffers: a kernel exists,
    every dtype agrees (so out= changes nothing), no input is 0-d, products are 2-D and the
    two inputs of mse_loss have one shape (no broadcasting to undo)."""
    if op.primitive not in kernels.VJP:
        return False
    dtype = slots.dtypes[op.output]
    shapes = [slots.shapes[slot] for slot in op.inputs]
    if any(slots.dtypes[slot] != dtype for slot in op.inputs) or not all(shapes):
        return False
    if op.primitive in (P.Linear, P.MatMul):
        return all(len(shape) == 2 for shape in shapes[:2])
    if op.primitive is P.MSELoss:
        return shapes[0] == shapes[1]
    return True


_MISSING: Any = object()
_GRAD = operator.attrgetter("_grad")
_REQUIRES_GRAD = operator.attrgetter("_requires_grad")

Action = tuple[int, int, int, Any, tuple[int, ...], np.dtype[Any], bool]
"""(input position, what to do: _FIRST/_ADD_INTO/_ADD_FRESH, the input's slot, the array
added into for _ADD_INTO, the input's shape and dtype, whether the result needs `fit`)."""


def _param_slice(leaf: Tensor, shape: tuple[int, ...], dtype: np.dtype[Any]) -> np.ndarray | None:
    """The leaf's slice of a flat gradient buffer, when it has one of its shape and dtype."""
    array = grad_slot(leaf)
    if array is None or array.shape != shape or array.dtype != dtype:
        return None
    return array


class BackwardPlan:
    """One recorded backward call as a list of prebound vjp calls over a list of gradients
    indexed by slot; `usable()` says whether it may run now, `run(values, saved)` runs it."""

    def __init__(
        self,
        order: Sequence[int],
        ops: Sequence[OpRecord],
        saved_of: dict[int, int],
        slots: Slots,
        new_buffer: Callable[[Any, tuple[int, ...], np.dtype[Any]], np.ndarray],
        retained: set[int],
        root: int,
        seed_slot: int | None,
        buffer_ids: set[int],
    ) -> None:
        grads: Values = [None] * slots.count
        self.grads = grads
        # Where each slot's gradient is at this point of the plan: the array that receives
        # it and any later additions in place (a buffer or a parameter's slice), or None for
        # a fresh array kept in `grads` at run time. No entry: no gradient yet.
        held: dict[int, np.ndarray | None] = {root: None}
        self.param_leaves: list[tuple[Tensor, np.ndarray]] = []
        self.calls: list[Callable[[Values], None]] = []
        self.call_ops: list[int] = []  # the recorded op of each call, by index
        self.changes = grad_slot_changes()
        leaves = slots.leaves
        for index in order:
            op = ops[index]
            if op.output not in held:
                continue  # no gradient reaches this op
            grad_out_array = held.pop(op.output)
            fresh_grad_out = grad_out_array is None
            fits = vjp_kernel_fits(op, slots)
            outs: list[np.ndarray | None] = []
            actions: list[Action] = []
            for position, (slot, need) in enumerate(zip(op.inputs, op.needs, strict=True)):
                if not need:
                    outs.append(None)
                    continue
                shape, dtype = slots.shapes[slot], slots.dtypes[slot]
                current = held.get(slot, _MISSING)
                out = None
                if fits and current is not _MISSING:
                    out = new_buffer(("scratch", id(self), index, position), shape, dtype)
                elif fits and slot in leaves:
                    out = _param_slice(leaves[slot], shape, dtype)
                    if out is not None:
                        self.param_leaves.append((leaves[slot], out))
                elif fits and slot not in slots.arguments:
                    if (
                        op.primitive in _IN_PLACE
                        and grad_out_array is not None
                        and grad_out_array.shape == shape
                        and grad_out_array.dtype == dtype
                    ):
                        out, grad_out_array = grad_out_array, None  # nothing else reads it
                    else:
                        out = new_buffer(("grad", id(self), slot), shape, dtype)
                outs.append(out)
                if out is not None and current is _MISSING:
                    held[slot] = grads[slot] = out  # written where it stays: nothing to do
                    continue
                if current is _MISSING:
                    held[slot] = None
                    actions.append((position, _FIRST, slot, None, shape, dtype, out is None))
                elif current is None:
                    actions.append((position, _ADD_FRESH, slot, None, shape, dtype, out is None))
                else:
                    actions.append((position, _ADD_INTO, slot, current, shape, dtype, out is None))
            bare = _bare_call(
                grads, op, slots, outs, saved_of[index], index not in retained, fresh_grad_out
            )
            self.call_ops.append(index)
            if fits and not actions and bare is not None:
                self.calls.append(bare)
                continue
            self.calls.append(
                _call(
                    grads,
                    kernels.VJP[op.primitive] if fits else op.primitive.vjp,
                    tuple(outs) if fits else None,
                    op,
                    saved_of[index],
                    index not in retained,
                    fresh_grad_out,
                    actions,
                )
            )
        self.loose_leaves = [
            (slot, leaf) for slot, leaf in leaves.items() if slot in held and held[slot] is None
        ]
        self.leftover = [slot for slot, array in held.items() if array is None]
        self.seed_slot = seed_slot
        self.root = root
        self.seed = np.ones(slots.shapes[root], slots.dtypes[root])
        self.seed.flags.writeable = False
        self.buffer_ids = buffer_ids
        # The `.grad` Tensors the last replay handed out, and their version counters.
        self.kept_grads: list[Tensor | None] = [None] * len(self.param_leaves)
        # (Placeholders until a first Tensor is made; a counter, once a tensor's own, stays.)
        self.kept_counters = [VersionCounter() for _ in self.param_leaves]
        self.holders = -1  # `slot_holder_changes()` when this plan last handed out its grads
        # Every leaf's flat gradient slot (or None) as the plan was built on them: when slots
        # change elsewhere (another model flattened), the plan stays usable if these hold.
        self.leaf_slots = [(leaf, grad_slot(leaf)) for leaf in leaves.values()]
        self.written_leaves = [leaf for leaf, _ in self.param_leaves]
        self.nones = [None] * len(self.written_leaves)

    def _wrap_grad(self, position: int, array: np.ndarray) -> Tensor:
        """A new `.grad` Tensor around `array` (version 0, with a counter of its own that
        later replays bump), kept for the next replay."""
        wrap = READ.wrap
        assert wrap is not None  # plugged in when chainrule.tensor is imported
        grad = self.kept_grads[position] = wrap(array)
        self.kept_counters[position] = shared_counter(grad)
        hand_out_slot(id(self.param_leaves[position][0]), grad)
        return grad

    def usable(self) -> bool:
        """Whether the plan may run now: the flat gradient slots are the ones it was built
        with, and each parameter it writes requires grad and has `.grad` None."""
        if grad_slot_changes() != self.changes:
            if any(grad_slot(leaf) is not array for leaf, array in self.leaf_slots):
                return False
            self.changes = grad_slot_changes()  # another model's slots changed, not these
        # The `.grad` slots and flags read by C-level maps: this runs at every replay.
        leaves = self.written_leaves
        return not any(map(operator.is_not, map(_GRAD, leaves), self.nones)) and all(
            map(_REQUIRES_GRAD, leaves)
        )

    def run(
        self,
        values: Values,
        saved: Values,
        fused: FusedUpdate | None = None,
        rates: Sequence[float] = (),
    ) -> None:
        """Run the plan; with `fused` (and each optimizer group's learning rate in `rates`),
        make its parameter updates as well, each right after the last call that reads the
        parameter or writes its gradient."""
        grads = self.grads
        seed = grads[self.root] = self.seed if self.seed_slot is None else values[self.seed_slot]
        if fused is None:
            for call in self.calls:
                call(saved)
        else:
            multiply, subtract = np.multiply, np.subtract
            for call, updates in zip(self.calls, fused.after, strict=True):
                call(saved)
                for group, grad_array, value, work in updates:
                    multiply(grad_array, rates[group], out=work)
                    subtract(value, work, out=value)
            for group, grad_array, value, work in fused.tail:
                multiply(grad_array, rates[group], out=work)
                subtract(value, work, out=value)
        # Each parameter's `.grad` is set in its slot directly unless a tracer watches
        # assignments (a replay inside another trace). The Tensor around each flat slice is
        # the one the previous replay handed out, its version bumped (the values under it
        # changed), as long as it still holds that slice and records nothing; else a new
        # one, as eager backward makes (wrapped without `from_numpy`'s checks: the slices
        # were checked when the plan was built).
        if STATE.tracer is None:
            data_of, kept, counters = READ.data, self.kept_grads, self.kept_counters
            for position, (leaf, array) in enumerate(self.param_leaves):
                grad = kept[position]
                if grad is None or grad.requires_grad or data_of(grad) is not array:
                    grad = self._wrap_grad(position, array)
                else:
                    counters[position].value += 1
                leaf._grad = grad
            if slot_holder_changes() != self.holders:
                # An eager backward (or another plan) handed out `.grad` Tensors over these
                # slots since this plan last ran: bump theirs, as eager's store does.
                for (leaf, _), held in zip(self.param_leaves, kept, strict=True):
                    if held is not None:
                        hand_out_slot(id(leaf), held)
                self.holders = slot_holder_changes()
        else:
            for leaf, array in self.param_leaves:
                leaf.grad = Tensor.from_numpy(array)
        if self.loose_leaves:
            # Fresh arrays, as eager's: stored (copied where shared) by eager's own rule.
            store_leaf_grads(
                Tensor,
                [
                    (leaf, grads[slot])
                    for slot, leaf in self.loose_leaves
                    if leaf.requires_grad and grads[slot] is not None
                ],
                {id(seed), *self.buffer_ids},
            )
        for slot in self.leftover:
            grads[slot] = None


def _call(
    grads: Values,
    rule: Callable[..., Sequence[Any]],
    outs: Outs | None,
    op: OpRecord,
    saved_index: int,
    release: bool,
    fresh_grad_out: bool,
    actions: list[Action],
) -> Callable[[Values], None]:
    """One vjp call: read grad_out, run the rule (`vjp`, or its kernel given `outs`), release
    what it saved, and file each gradient no kernel buffer received, in the eager sweep's
    way."""
    output, needs = op.output, op.needs

    def call(saved: Values) -> None:
        grad_out = grads[output]
        if fresh_grad_out:
            grads[output] = None  # consumed: its memory goes as in the eager sweep
        if outs is None:
            results = rule(saved[saved_index], grad_out, needs)
        else:
            results = rule(saved[saved_index], grad_out, needs, outs)
        if release:
            saved[saved_index] = None
        for position, kind, slot, into, shape, dtype, needs_fit in actions:
            grad = results[position]
            if grad is None:
                # A rule that returns no gradient for a needed input contributes nothing.
                grad = np.zeros(shape, dtype)
            elif needs_fit:
                grad = fit(grad, shape, dtype)
            if kind == _FIRST:
                grads[slot] = grad
            elif kind == _ADD_INTO:
                np.add(into, grad, out=into)
            else:
                grads[slot] = grads[slot] + grad

    def call_kernel_only(saved: Values) -> None:
        # Every gradient lands in a buffer: the common case, kept to the bare calls.
        grad_out = grads[output]
        if fresh_grad_out:
            grads[output] = None
        rule(saved[saved_index], grad_out, needs, outs)
        if release:
            saved[saved_index] = None

    return call if actions or outs is None else call_kernel_only


def _bare_call(
    grads: Values,
    op: OpRecord,
    slots: Slots,
    outs: list[np.ndarray | None],
    saved_index: int,
    release: bool,
    fresh_grad_out: bool,
) -> Callable[[Values], None] | None:
    """The vjp kernel of a dense layer (linear), a ReLU or a softmax cross-entropy inlined
    into one call, when every needed gradient has a buffer: the NumPy calls of the rules'
    `vjp_into` themselves, with `product_into`'s choice between matmul and an outer
    product's multiply made here from the recorded shapes (fixed for the program). None for
    other ops, which go through `_call`."""
    needs, output = op.needs, op.output
    if any(need and out is None for need, out in zip(needs, outs, strict=True)):
        return None
    if op.primitive is P.ReLU:
        (out,) = outs
        multiply = np.multiply

        def relu_call(saved: Values) -> None:
            grad_out = grads[output]
            if fresh_grad_out:
                grads[output] = None
            multiply(grad_out, saved[saved_index], out=out)
            if release:
                saved[saved_index] = None

        return relu_call
    if op.primitive is P.SoftmaxCrossEntropy and len(slots.shapes[op.inputs[0]]) == 2:
        (out,) = outs
        if out is None:
            return None
        rows = np.arange(slots.shapes[op.inputs[0]][0])
        count = len(rows)
        multiply = np.multiply

        def cross_entropy_call(saved: Values) -> None:
            # SoftmaxCrossEntropy.vjp_into's calls, with the row indices made once.
            grad_out = grads[output]
            if fresh_grad_out:
                grads[output] = None
            probs, targets = saved[saved_index]
            if release:
                saved[saved_index] = None
            scale = grad_out / count
            multiply(probs, scale, out=out)
            out[rows, targets] -= scale

        return cross_entropy_call
    if op.primitive is not P.Linear:
        return None
    out_x, out_w, out_b = outs
    batch = slots.shapes[op.inputs[0]][0]
    out_features = slots.shapes[op.output][1]
    # product_into(a, b) multiplies where a's inner dimension is 1, as the kernels do.
    product_x = np.multiply if out_features == 1 else np.matmul
    product_w = np.multiply if batch == 1 else np.matmul
    add_reduce = np.add.reduce

    def linear_call(saved: Values) -> None:
        grad_out = grads[output]
        if fresh_grad_out:
            grads[output] = None
        x, w = saved[saved_index]
        if release:
            saved[saved_index] = None
        if out_x is not None:
            product_x(grad_out, w.T, out=out_x)
        if out_w is not None:
            product_w(x.T, grad_out, out=out_w)
        if out_b is not None:
            add_reduce(grad_out, 0, out=out_b)

    return linear_call


# Primitives whose forward result is a new array, never a view of an input: a parameter's
# values reach an op's saved values only through its inputs. Any other op fed (a view of) a
# parameter is taken to hand on a view of it (a transpose, a reshape, a slice). Matched by
# class, as the tables above.
FRESH_RESULT: frozenset[type[P.Primitive]] = frozenset(
    {
        P.Linear,
        P.MatMul,
        P.Add,
        P.Sub,
        P.Mul,
        P.Div,
        P.Neg,
        P.Exp,
        P.Log,
        P.Sqrt,
        P.Tanh,
        P.Sigmoid,
        P.ReLU,
        P.SoftmaxCrossEntropy,
        P.MSELoss,
    }
)

FUSE_MIN_SIZE = 131072
"""The fewest elements for which a parameter is updated inside the backward, right after the
last call that needs its old values; smaller ones are updated after the backward, in runs of
consecutive flat-buffer members (two NumPy calls per run, as the flat step). Measured
(2026-11-30, AMD EPYC 2 vCPU, 512 KiB L2, 1 thread, fastest of 300 replays, load 6): the
backward with its updates took W4 (42 parameters of at most 4096) 630 us fused vs 561 after,
W3 (100352 + 1418) 163 vs 160, W2 (200704 + 65792 + 2570) 1264 vs 1269: two NumPy calls per
parameter cost more than they save while the gradient is still in L2 when the run after the
backward reads it; 2**17 float32 elements fill the 512 KiB L2."""

Update = tuple[int, np.ndarray, np.ndarray, np.ndarray]
"""(group index, gradient, values, work array): value -= gradient * lr of that group."""


class FusedUpdate:
    """A plain SGD step (`p -= lr * g` through a work array) made inside a backward plan:
    each large parameter right after the last call that reads its values or writes its
    gradient (while the gradient is in cache), the small ones after the last call, in runs
    of consecutive flat-buffer members. The arithmetic is the flat step's, element by
    element, so parameters and `.grad` are bit-identical to an eager step.

    `rates()` says, before each replay of the backward, whether the optimizer's next step
    may be made this way (`Optimizer._fused_rates`); the step's own replay then calls
    `finish()` instead of `step()` (`done` tells it)."""

    def __init__(
        self,
        plan: BackwardPlan,
        ops: Sequence[OpRecord],
        slots: Slots,
        optimizer: Optimizer,
        params: list[Tensor],
        last: dict[int, int],
    ) -> None:
        self.optimizer = optimizer
        self.done = False
        groups = optimizer.param_groups
        self.group_params = [list(group["params"]) for group in groups]
        group_of = {id(p): index for index, group in enumerate(groups) for p in group["params"]}
        data_of = READ.data
        self.params = params
        self.values = [data_of(param) for param in params]
        self.counters = [shared_counter(param) for param in params]
        grad_of = {id(leaf): array for leaf, array in plan.param_leaves}
        after: list[list[Update]] = [[] for _ in plan.calls]
        largest: dict[np.dtype[Any], int] = {}
        small: list[tuple[int, int, int, Any]] = []
        for value in self.values:
            if value.size >= FUSE_MIN_SIZE:
                largest[value.dtype] = max(largest.get(value.dtype, 0), value.size)
        scratch = {dtype: np.empty(size, dtype) for dtype, size in largest.items()}
        for param, value in zip(params, self.values, strict=True):
            group = group_of[id(param)]
            if value.size >= FUSE_MIN_SIZE:
                work = scratch[value.dtype][: value.size].reshape(value.shape)
                after[last[id(param)]].append((group, grad_of[id(param)], value, work))
            else:
                buffer = buffer_of(param)
                assert buffer is not None  # checked by `fused_update`
                start, stop = buffer.bounds[buffer.positions[id(param)]]
                small.append((id(buffer), start, stop, group))
        self.after = [tuple(updates) for updates in after]
        # Consecutive small members of one buffer and one group: one run each.
        buffers = {id(buffer_of(param)): buffer_of(param) for param in params}
        runs: list[list[Any]] = []
        for key, start, stop, group in sorted(small, key=lambda entry: entry[:2]):
            if runs and runs[-1][0] == key and runs[-1][2] == start and runs[-1][3] == group:
                runs[-1][2] = stop
            else:
                runs.append([key, start, stop, group])
        self.tail: list[Update] = []
        for key, start, stop, group in runs:
            buffer = buffers[key]
            assert buffer is not None
            self.tail.append(
                (
                    group,
                    buffer.grad[start:stop],
                    buffer.data[start:stop],
                    np.empty(stop - start, buffer.data.dtype),
                )
            )

    def rates(self) -> list[float] | None:
        """Each group's learning rate when this replay may make the optimizer's step inside
        the backward: not inside another trace, the optimizer's groups hold the parameters
        they held when the plan was made, each parameter still holds its flat-buffer values,
        and the optimizer allows it (plain SGD, no hooks; its groups checked as its step
        checks them). None: the step runs as it is, after the backward."""
        if STATE.tracer is not None:
            return None
        groups = self.optimizer.param_groups
        if len(groups) != len(self.group_params):
            return None
        is_ = operator.is_
        for group, expected in zip(groups, self.group_params, strict=True):
            params = group["params"]
            if len(params) != len(expected) or not all(map(is_, params, expected)):
                return None
        if not all(map(is_, map(READ.data, self.params), self.values)):
            return None
        return self.optimizer._fused_rates()

    def finish(self) -> None:
        """The optimizer step's bookkeeping, after the plan made its updates."""
        self.done = False
        self.optimizer._finish_fused_step(self.params, self.counters)


def fused_update(
    plan: BackwardPlan, ops: Sequence[OpRecord], slots: Slots, optimizer: Optimizer
) -> FusedUpdate | None:
    """The optimizer's step fused into `plan` (`FusedUpdate`), or None where it cannot be:
    a parameter of the optimizer whose gradient no kernel writes into its flat slice, or
    whose values are not its flat buffer's."""
    params = [param for group in optimizer.param_groups for param in group["params"]]
    grad_of = {id(leaf): array for leaf, array in plan.param_leaves}
    data_of = READ.data
    for param in params:
        buffer = buffer_of(param)
        position = None if buffer is None else buffer.positions.get(id(param))
        if buffer is None or position is None or id(param) not in grad_of:
            return None
        if (
            data_of(param) is not buffer.data_views[position]
            or grad_of[id(param)] is not buffer.grad_views[position]
        ):
            return None
    # Which parameters each slot's value may share memory with, in the forward's order.
    leaf_slot = {id(leaf): slot for slot, leaf in slots.leaves.items()}
    shares: dict[int, set[int]] = {}
    for param in params:
        shares[leaf_slot[id(param)]] = {id(param)}
    for op in ops:
        read = [*op.inputs, *bound_slots(op)]
        reached = set().union(*(shares.get(slot, set()) for slot in read))
        if reached and op.primitive not in FRESH_RESULT:
            shares[op.output] = shares.get(op.output, set()) | reached
    # The last call that reads a parameter's values (its saved inputs) or writes its
    # gradient: the parameter may change only after it.
    last: dict[int, int] = {}
    for position, index in enumerate(plan.call_ops):
        op = ops[index]
        for slot in (*op.inputs, *bound_slots(op)):
            for key in shares.get(slot, ()):
                last[key] = position
    if any(id(param) not in last for param in params):
        return None
    return FusedUpdate(plan, ops, slots, optimizer, params, last)
