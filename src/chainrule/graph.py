"""The recorded graph and the reverse sweep over it.

Each recorded op leaves a `Node` on its output tensor: the primitive, the parent tensors,
the parents' own nodes at that moment, what the primitive saved, the parents' versions (to
catch in-place changes) and its place in the recording order. `backward` visits the nodes
in reverse topological order (no recursion limit), and applies each primitive's vjp once
every consumer of its output has sent its gradient.
"""

from __future__ import annotations

import operator
import weakref
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from heapq import heappop, heappush
from itertools import count
from typing import TYPE_CHECKING, Any

import numpy as np

from chainrule import primitives as P
from chainrule.dtypes import numpy_dtype
from chainrule.modes import STATE, AnomalyError, enable_grad, no_grad, user_frame
from chainrule.placement import all_finite, copy, is_foreign
from chainrule.primitives import Primitive
from chainrule.primitives.base import plain_values
from chainrule.sweep import Target, fit, schedule, sweep

if TYPE_CHECKING:
    from chainrule.tensor import Tensor

_RELEASED = object()

_GRAD_SLOTS: dict[int, tuple[weakref.ref[Tensor], np.ndarray]] = {}
"""Leaf id -> (the leaf, the array its next fresh `.grad` is written into): its slice of a
flat gradient buffer (`chainrule.nn.flat`). Keyed by id with a weak reference beside it,
because Tensor's `==` is element-wise and a reused id must not find a dead leaf's slot."""


_GRAD_SLOT_CHANGES = [0]
"""How many times `set_grad_slot` has run: a plan built on the slots checks it is unchanged."""


def grad_slot_changes() -> int:
    """A number that changes whenever a leaf's gradient slot is set or removed."""
    return _GRAD_SLOT_CHANGES[0]


def set_grad_slot(leaf: Tensor, slot: np.ndarray | None) -> None:
    """From now on, a backward that finds `leaf.grad` None writes the gradient into `slot`
    and makes `.grad` a view of it (no new array); None goes back to fresh arrays."""
    _GRAD_SLOT_CHANGES[0] += 1
    key = id(leaf)
    _SLOT_HOLDERS.pop(key, None)
    if slot is None:
        _GRAD_SLOTS.pop(key, None)
    else:
        # The entry goes when the leaf does, so that a dead model's buffer is freed.
        _GRAD_SLOTS[key] = (weakref.ref(leaf, partial(_forget_slot, key)), slot)


def _forget_slot(key: int, _: object) -> None:
    _GRAD_SLOTS.pop(key, None)
    _SLOT_HOLDERS.pop(key, None)


_SLOT_HOLDERS: dict[int, weakref.ref[Tensor]] = {}
"""Leaf id -> the last `.grad` Tensor handed out over its slot. The slot is written again by
the next backward after `zero_grad`, under a `.grad` the user may still hold (or a graph may
have saved): its version is bumped then, so such a graph refuses its backward instead of
reading the new values."""


_SLOT_HOLDER_CHANGES = [0]


def slot_holder_changes() -> int:
    """A number that changes whenever a `.grad` Tensor is handed out over a slot (`hand_out_slot`):
    the compiled replay, which reuses its own `.grad` Tensors, checks it once per replay."""
    return _SLOT_HOLDER_CHANGES[0]


def hand_out_slot(key: int, grad: Tensor) -> None:
    """Record `grad` as the Tensor over leaf `key`'s slot, bumping the previous one's version."""
    _SLOT_HOLDER_CHANGES[0] += 1
    previous = _SLOT_HOLDERS.get(key)
    if previous is not None:
        held = previous()
        if held is not None and held is not grad:
            held.increment_version()
    _SLOT_HOLDERS[key] = weakref.ref(grad)


def bump_slot_holder(leaf: Tensor) -> None:
    """Called where `leaf`'s slot is written other than by a backward's hand-out (a flat
    buffer's zero_grad): the `.grad` last handed out over it, which the user may still hold
    or a graph may have saved, changes version, so that such a graph refuses its backward
    instead of reading the new values. (`_slot_outs` does the same, inline.)"""
    holder = _SLOT_HOLDERS.get(id(leaf))
    if holder is not None and (held := holder()) is not None:
        held.increment_version()


def grad_slot(leaf: Tensor) -> np.ndarray | None:
    """The array `set_grad_slot` gave `leaf`, or None."""
    entry = _GRAD_SLOTS.get(id(leaf))
    if entry is None or entry[0]() is not leaf:
        return None
    return entry[1]


_REQUIRES_GRAD_OF = operator.attrgetter("_requires_grad")


class TensorReaders:
    """How the sweep reads a tensor's `version`, `grad_fn` and `data`, for every parent of
    every node. These defaults go through the public properties (a Python call per read);
    chainrule.tensor, which owns the slots behind them, plugs in readers of those slots
    (operator.attrgetter, read in C) when it is imported: a one-way plug, as its
    NUMPY_PROTOCOL, so this module never names Tensor's private attributes."""

    version: Callable[[Tensor], int] = operator.attrgetter("version")
    grad_fn: Callable[[Tensor], Node | None] = operator.attrgetter("grad_fn")
    data: Callable[[Tensor], Any] = operator.attrgetter("data")
    # `tensor_type.from_numpy` without its checks, for a gradient the sweep made (a NumPy
    # array of its leaf's dtype); None until chainrule.tensor plugs it in.
    tensor_type: type[Tensor] | None = None
    wrap: Callable[[np.ndarray], Tensor] | None = None
    # (tensor, node) -> a Tensor over tensor's values and version that `node` computed, or
    # a constant for node None (chainrule.ops.detaching plugs it in): a tensor detached in
    # place, or flagged off, as the op saw it.
    stand_in: Callable[[Tensor, Node | None], Tensor] | None = None


READ = TensorReaders()


_RECORDING_ORDER = count()
"""Numbers the nodes as they are recorded: a node's parents always exist before it, so each
parent's node has a smaller number than its consumers' (see `chainrule.sweep.schedule`)."""


class Node:
    """How one tensor was computed: `primitive(*parents, **params)`, with `saved` for vjp."""

    __slots__ = (
        "needs",
        "params",
        "parents",
        "primitive",
        "producers",
        "recorded",
        "saved",
        "trace",
        "versions",
    )

    def __init__(
        self,
        primitive: type[Primitive],
        parents: tuple[Tensor, ...],
        saved: Any,
        params: dict[str, Any],
        needs: tuple[bool, ...],
        producers: tuple[Node | None, ...],
        versions: tuple[int, ...],
    ) -> None:
        self.primitive = primitive
        self.parents = parents
        self.saved = saved
        self.params = params
        # Each parent's requires_grad, node and version as the op saw them, read by
        # Tensor._apply (which owns those slots). The gradient of a computed parent goes to
        # the node that computed it then: a later `detach_()` of the parent cuts its later
        # uses, not this op's graph; a later version means a change in place.
        self.needs = needs
        self.producers = producers
        self.versions = versions
        self.trace: str | None = None
        self.recorded = next(_RECORDING_ORDER)

    def __setstate__(self, state: tuple[None, dict[str, Any]]) -> None:
        """An unpickled (or deep-copied) node takes a new place in this process's recording
        order: the places it was pickled with count another process's ops, and may be past
        the ones this process records later, which read its output and must be swept first.
        Pickle and deepcopy restore a node's parents (in its state) before the node itself,
        so the new places keep every producer before its consumers."""
        for name, value in state[1].items():
            setattr(self, name, value)
        self.recorded = next(_RECORDING_ORDER)

    @property
    def released(self) -> bool:
        return self.saved is _RELEASED


_FORMER_LAYOUTS: dict[int, tuple[weakref.ref[Tensor], list[tuple[int, Any]]]] = {}
"""Tensor id -> (the tensor, [(version, (shape, dtype))]): the layout its values had up to
that version, for each `.data =` that changed it (rare; keyed as `_GRAD_SLOTS`)."""


def note_new_layout(tensor: Tensor) -> None:
    """Called by `.data =` before it gives `tensor` values of another shape or dtype: the
    ops recorded before send it gradients in the old layout, and their backward refuses."""
    key = id(tensor)
    entry = _FORMER_LAYOUTS.get(key)
    if entry is None or entry[0]() is not tensor:
        entry = (weakref.ref(tensor, partial(_forget_layouts, key)), [])
        _FORMER_LAYOUTS[key] = entry
    entry[1].append((READ.version(tensor), _layout(tensor)))


def _forget_layouts(key: int, _: object) -> None:
    _FORMER_LAYOUTS.pop(key, None)


def _layout_at(tensor: Tensor, version: int) -> Any:
    """(shape, dtype) of `tensor`'s values when its version was `version`."""
    entry = _FORMER_LAYOUTS.get(id(tensor))
    if entry is not None and entry[0]() is tensor:
        for until, layout in entry[1]:
            if version <= until:
                return layout
    return _layout(tensor)


def _layout(tensor: Tensor) -> tuple[tuple[int, ...], np.dtype[Any]]:
    data = READ.data(tensor)
    return data.shape, numpy_dtype(data.dtype)  # NumPy's: comparable across libraries


def _check_modified(node: Node, every: bool) -> None:
    """Called when an input of `node` changed in place since the op: refuse the backward if
    its vjp reads that input's values (`_reads_changed`), or, with `every` (a recorded
    backward, which redoes the forward on the inputs' current values), if any input changed,
    and always if `.data =` changed an input's shape or dtype (its gradient has the old)."""
    for position, (parent, version) in enumerate(zip(node.parents, node.versions, strict=True)):
        if parent.version == version:
            continue
        (shape, dtype), now = _layout_at(parent, version), _layout_at(parent, parent.version)
        if (shape, dtype) != now:
            raise RuntimeError(
                f"backward: input {position} of {node.primitive.name} had shape {shape} and "
                f"dtype {dtype} when the op used it, and `.data =` has since given it shape "
                f"{now[0]} and dtype {now[1]}, so its gradient no longer fits it; assign the "
                "new values before the forward, or run the forward again"
            )
        if every or _reads_changed(node, position):
            label = f" {parent.name!r}" if parent.name else ""
            raise RuntimeError(
                f"backward: input {position}{label} (shape {parent.shape}) of "
                f"{node.primitive.name} was modified in place after the op used it (version "
                f"{version}, now {parent.version}), so its gradient would be wrong; "
                "compute with a copy, or modify it only after backward"
            )


# What a saved value may be that holds no array (shapes, axes, indices, dtypes, scalars).
_HOLDS_NO_ARRAY = (
    type(None),
    type(Ellipsis),
    bool,
    int,
    float,
    complex,
    str,
    slice,
    type,
    np.dtype,
    np.generic,
)


def _may_hold(saved: Any, array: Any) -> bool:
    """Whether `saved` may hold values in `array`'s memory: True for a NumPy array that may
    overlap it, and for anything it cannot look into (another library's array, an object)."""
    if isinstance(saved, np.ndarray):
        return type(array) is not np.ndarray or np.may_share_memory(saved, array)
    if isinstance(saved, (tuple, list)):
        return any(_may_hold(item, array) for item in saved)
    if isinstance(saved, dict):
        return any(_may_hold(item, array) for item in saved.values())
    return not isinstance(saved, _HOLDS_NO_ARRAY)


def _reads_changed(node: Node, position: int) -> bool:
    """Whether the vjp of `node` reads the values of its input at `position`: it reads only
    what the forward saved (and, where `Primitive.reads` says so, only the inputs it names),
    so an input whose memory it holds nowhere (x + y, exp saving its output, relu its mask)
    may change in place without changing the gradient."""
    changed = READ.data(node.parents[position])
    reads = node.primitive.reads
    if reads is None:
        return _may_hold(node.saved, changed)
    read = [
        READ.data(parent)
        for parent, wanted in zip(node.parents, reads(node.needs), strict=True)
        if wanted
    ]
    return _may_hold(read, changed)


def _check_detached(node: Node, parent: Tensor) -> None:
    """Called when `parent`, computed by a recorded op when `node` used it, has been cut
    from the graph in place since (`detach_()`): its gradient still goes to the node that
    computed it, but the backward is refused where the vjp of `node` reads its values (as
    PyTorch refuses a saved tensor detached in place): a recorded backward would redo the
    op on a constant."""
    for position, candidate in enumerate(node.parents):
        if candidate is parent and _reads_changed(node, position):
            label = f" {parent.name!r}" if parent.name else ""
            raise RuntimeError(
                f"backward: input {position}{label} (shape {parent.shape}) of "
                f"{node.primitive.name} was detached in place (detach_()) after the op saved "
                "it for its gradient; detach out of place instead (y = x.detach()), which "
                "leaves x on the graph"
            )


def _edge(parent: Tensor, producer: Node | None) -> Any:
    """The key of the gradient sent to `parent`: its recorded producer, or id(leaf)."""
    return id(parent) if producer is None else producer


def _raise_output_modified(output: Tensor, node: Node) -> None:
    label = f" {output.name!r}" if output.name else ""
    raise RuntimeError(
        f"backward: the output of {node.primitive.name}{label} (shape {output.shape}) was "
        f"modified in place after the op (version {output.version}), and its vjp reads that "
        "output, so its gradient would be wrong; modify a copy (out.detach() * 1) instead"
    )


def _raise_released(node: Node) -> None:
    raise RuntimeError(
        f"backward: the graph through {node.primitive.name} was already freed "
        "by an earlier backward, which releases saved values to save memory; "
        "pass retain_graph=True to the first backward to call it twice"
    )


def _nodes_leading_to(root: Node, wanted: dict[Any, int]) -> set[Node]:
    """The nodes reachable from root through which a gradient reaches a wanted tensor; the
    sweep for `inputs` visits only these (as torch.autograd.grad), so it neither computes
    gradients nobody asked for nor needs the graph recorded before the inputs."""
    leading: set[Node] = set()
    entered: set[Node] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, parents_done = stack.pop()
        if parents_done:
            if any(
                _edge(parent, producer) in wanted or producer in leading
                for parent, producer in zip(node.parents, node.producers, strict=True)
            ):
                leading.add(node)
            continue
        if node in entered:
            continue
        entered.add(node)
        stack.append((node, True))
        for producer in node.producers:
            if producer is not None and producer not in entered:
                stack.append((producer, False))
    return leading


def _recorded_parent_grads(node: Node, grad_out: Any, needs: tuple[bool, ...]) -> Sequence[Any]:
    # Recorded path: redo the forward on the parent Tensors so that every saved value is a
    # Tensor on the graph, then run the same rule on Tensors; its ops are recorded in turn.
    parents = tuple(map(_as_recorded, node.parents, node.producers, node.needs))
    with enable_grad():
        _, saved = node.primitive.forward(*parents, **node.params)
        return node.primitive.vjp(saved, grad_out, needs)


def _as_recorded(parent: Tensor, producer: Node | None, needed: bool) -> Tensor:
    """`parent` as the op saw it: where detach_() has cut it from its producer since (or
    `requires_grad = False` was assigned to it), a stand-in on that producer, so that the
    redone forward (exp's saved output, say) depends on what computed the parent, as the
    recorded op did; on the constant, every second derivative through it would silently
    be lost. A parent the op took for a constant (its flag was off then) stays one: a
    stand-in on its producer would add terms through it to every second derivative."""
    if READ.stand_in is None:
        return parent
    if not needed:
        return READ.stand_in(parent, None) if _REQUIRES_GRAD_OF(parent) else parent
    if producer is None or (READ.grad_fn(parent) is producer and _REQUIRES_GRAD_OF(parent)):
        return parent
    return READ.stand_in(parent, producer)


def check_forward(primitive: type[Primitive], result: Tensor) -> None:
    """Under detect_anomaly: note where the user's code made `result` (shown when its
    backward fails) and refuse an output holding NaN or inf."""
    node = result.grad_fn
    location = user_frame()
    if node is not None:
        node.trace = location
    if result.dtype.kind == "f" and not all_finite(result.data):
        raise AnomalyError(
            f"{primitive.name} produced NaN or inf in its output (shape {result.shape}) at "
            f"{location}"
        )


def _check_finite(node: Node, grads: Sequence[Any]) -> None:
    for grad in grads:
        if grad is not None and not all_finite(plain_values(grad)):
            raise AnomalyError(
                f"backward of {node.primitive.name} produced NaN or inf in a gradient; the op "
                f"was created at {node.trace}"
            )


class _EagerSweep:
    """What the eager sweep carries: graph nodes, keyed by node (a computed tensor) or by
    id(leaf); each visit checks the node against in-place changes and freed graphs."""

    def __init__(
        self,
        create_graph: bool,
        retain_graph: bool,
        leading: set[Node] | None,
        wanted: dict[Any, int] | None,
    ) -> None:
        self.create_graph = create_graph
        self.retain_graph = retain_graph
        self.leading = leading
        self.wanted = wanted
        self.anomaly = STATE.anomaly
        self.leaves: dict[int, Tensor] = {}
        # With `into_slots`, the sweep's gradients (set by `_run_sweep`): a parameter whose
        # first gradient a kernel can write goes straight into its flat-buffer slot.
        self.into_slots = False
        self.grads: dict[Any, Any] = {}
        # Leaf id -> the slot `_slot_outs` gave the kernel for its first gradient.
        self.claimed: dict[int, np.ndarray] = {}
        # The tensor each node produced, seen as a parent: to check a vjp reading its output.
        self.outputs: dict[Node, Tensor] = {}

    # A sweep calls the methods below for every node and parent: each Tensor property is
    # read once (a Python-level call), and no comprehension frame is made where a map does.
    def parents(self, node: Node) -> list[Node]:
        producers = filter(None, node.producers)  # a Node is always true
        leading = self.leading
        if leading is None:
            return list(producers)
        return [producer for producer in producers if producer in leading]

    def targets(self, node: Node) -> list[Target[Any] | None]:
        found: list[Target[Any] | None] = []
        for parent, producer in zip(node.parents, node.producers, strict=True):
            if producer is None:
                if not parent.requires_grad:  # a leaf's flag is read now, as torch's
                    found.append(None)
                    continue
                data = parent.data
                self.leaves[id(parent)] = parent
                found.append((id(parent), data.shape, data.dtype))
            else:
                if parent.grad_fn is not producer:
                    _check_detached(node, parent)
                data = parent.data
                self.outputs[producer] = parent
                found.append((producer, data.shape, data.dtype))
        return found

    def vjp(self, node: Node, grad_out: Any) -> Sequence[Any]:
        saved = node.saved
        if saved is _RELEASED:
            _raise_released(node)
        output = self.outputs.get(node)
        if output is not None and output.version and node.primitive.saves_output:
            _raise_output_modified(output, node)
        parents = node.parents
        if tuple(map(READ.version, parents)) != node.versions:
            _check_modified(node, self.create_graph)
        needs = node.needs
        leading, wanted = self.leading, self.wanted
        if leading is not None and wanted is not None:
            needs = tuple(
                [
                    need and (_edge(parent, producer) in wanted or producer in leading)
                    for need, parent, producer in zip(needs, parents, node.producers, strict=True)
                ]
            )
        if self.create_graph:
            grads = _recorded_parent_grads(node, grad_out, needs)
        elif self.into_slots and node.primitive in _SLOT_KERNELS and _GRAD_SLOTS:
            outs = self._slot_outs(node, grad_out, needs)
            if outs is None:
                grads = node.primitive.vjp(saved, grad_out, needs)
            else:
                grads = _SLOT_KERNELS[node.primitive](saved, grad_out, needs, outs)
        else:
            grads = node.primitive.vjp(saved, grad_out, needs)
        if self.anomaly:
            _check_finite(node, grads)
        if not self.retain_graph:
            node.saved = _RELEASED
        return grads

    def _slot_outs(
        self, node: Node, grad_out: Any, needs: tuple[bool, ...]
    ) -> tuple[np.ndarray | None, ...] | None:
        return _slot_outs(node, grad_out, needs, self.grads, self.claimed)


def _slot_outs(
    node: Node,
    grad_out: Any,
    needs: tuple[bool, ...],
    grads: dict[Any, Any],
    claimed: dict[int, np.ndarray],
) -> tuple[np.ndarray | None, ...] | None:
    """For a 2-D product or affine layer of one dtype: the flat-buffer slot of each leaf
    parent that gets its first gradient here (`.grad` None, none yet in this sweep, its
    flag on), for the kernel to write into; None when there is none. A slot is given only
    where its shape and dtype are the leaf's, so the gradient written into it needs no fit,
    and it is entered in `claimed` (leaf id -> slot): `store_leaf_grads` knows, without
    looking again, that a gradient which is still that array lies in its leaf's own slot.
    Called for every such node, so it looks for a slot with dictionary lookups before
    reading any Tensor property."""
    parents = node.parents
    outs: list[np.ndarray | None] | None = None
    dtype = grad_out.dtype
    for position, parent in enumerate(parents):
        key = id(parent)
        entry = _GRAD_SLOTS.get(key)  # only leaves have one: a computed input stops here
        if (
            entry is None
            or not needs[position]
            or node.producers[position] is not None  # computed then detached in place
            or parent._grad is not None
            or not parent._requires_grad  # read now, as the sweep reads it
            or entry[0]() is not parent
            or key in grads
            or key in claimed  # the same leaf twice in one op: its second gradient is added
        ):
            continue
        slot, data = entry[1], READ.data(parent)
        if slot.dtype != dtype or data.dtype != dtype or slot.shape != data.shape:
            continue
        if outs is None:
            first, second = READ.data(parents[0]), READ.data(parents[1])
            if first.ndim != 2 or second.ndim != 2 or first.dtype != dtype or second.dtype != dtype:
                return None  # before any slot is claimed: the kernels take 2-D operands
            outs = [None] * len(parents)
        outs[position] = claimed[key] = slot
        # The kernel is about to write under the `.grad` last handed out over this slot,
        # which the user may hold or a graph may have saved: its version changes now, not
        # at the hand-out, which a later node's refusal or a failing store never reaches.
        holder = _SLOT_HOLDERS.get(key)
        if holder is not None and (held := holder()) is not None:
            held.increment_version()
    return None if outs is None else tuple(outs)


_SLOT_KERNELS: dict[type[Primitive], Any] = {
    primitive: primitive.vjp_into
    for primitive in (P.Linear, P.MatMul)
    if primitive.vjp_into is not None
}
"""The rules whose kernels write a weight's (and a bias's) gradient into a given array."""


_RECORDED_AT = operator.attrgetter("recorded")


def _run_sweep(
    root: Tensor, grad_root: Any, carrier: _EagerSweep, *, create_graph: bool, keep: bool
) -> dict[Any, Any]:
    """The sweep from `root` over the nodes the carrier lets through: the gradients of the
    leaves by id (and, with `keep`, of every node)."""
    root_node = root.grad_fn
    if root_node is None:
        return {id(root): grad_root}
    if root.version and root_node.primitive.saves_output:
        _raise_output_modified(root, root_node)
    leading = carrier.leading
    order = (
        []
        if leading is not None and root_node not in leading
        else schedule(root_node, carrier.parents, _RECORDED_AT)
    )
    grads: dict[Any, Any] = {root_node: grad_root}
    carrier.grads = grads
    with enable_grad() if create_graph else no_grad():
        sweep(order, grads, output=_same, targets=carrier.targets, vjp=carrier.vjp, keep=keep)
    return grads


def _same(node: Node) -> Node:
    return node


def _sweep_to_leaves(
    root_node: Node, grad_root: Any, retain_graph: bool, claimed: dict[int, np.ndarray]
) -> list[tuple[Tensor, Any]]:
    """`_run_sweep` of a plain backward (no create_graph, no anomaly mode, every leaf
    wanted), with `_EagerSweep`'s per-node work written into the loop of `sweep`: the same
    checks, rules and additions, without three Python calls per node and one per parent.
    Returns each reached leaf with its gradient; `claimed` receives the slots the kernels
    were given (`_slot_outs`).

    The order is `schedule`'s, the recording order reversed (a tape), found without a walk
    before the sweep: a node is pending from its first incoming gradient on, and the
    latest-recorded pending node is visited next; every consumer of its output was recorded
    after it, so every consumer the root reaches has sent its gradient by then. Only the
    nodes the root's gradient reaches are visited (never another loss's graph)."""
    # A min-heap of (-place in the recording order, node): the latest-recorded pops first.
    pending = [(-root_node.recorded, root_node)]
    grads: dict[Any, Any] = {root_node: grad_root}
    leaves: dict[int, Tensor] = {}
    # The tensor each node produced, where its vjp reads that output (`saves_output`).
    outputs: dict[Node, Tensor] = {}
    slot_kernels = _SLOT_KERNELS if _GRAD_SLOTS else {}
    version_of, grad_fn_of, data_of = READ.version, READ.grad_fn, READ.data
    previous_mode = STATE.grad_enabled
    STATE.grad_enabled = False
    try:
        while pending:
            node = heappop(pending)[1]
            grad_out = grads.pop(node)
            saved = node.saved
            primitive = node.primitive
            if saved is _RELEASED:
                _raise_released(node)
            output = outputs.get(node)
            if output is not None and version_of(output):
                _raise_output_modified(output, node)
            parents = node.parents
            if tuple(map(version_of, parents)) != node.versions:
                _check_modified(node, False)
            needs = node.needs
            kernel = slot_kernels.get(primitive)
            outs = None if kernel is None else _slot_outs(node, grad_out, needs, grads, claimed)
            written: Sequence[object]  # the slots the kernel wrote into, by parent
            if kernel is None or outs is None:
                parent_grads = primitive.vjp(saved, grad_out, needs)
                written = needs  # bools: no gradient is one of them
            else:
                parent_grads = kernel(saved, grad_out, needs, outs)
                written = outs
            producers = node.producers
            for parent, parent_node, grad, out in zip(
                parents, producers, parent_grads, written, strict=True
            ):
                if grad is None:
                    continue
                if grad is out:
                    # The leaf's first gradient, in its slot: `_slot_outs` checked all else.
                    key: Any = id(parent)
                    leaves[key] = parent
                    grads[key] = grad
                    continue
                if parent_node is None:
                    if not parent.requires_grad:  # a leaf's flag is read now, as torch's
                        continue
                    key = id(parent)
                    leaves[key] = parent
                else:
                    if grad_fn_of(parent) is not parent_node:
                        _check_detached(node, parent)
                    key = parent_node
                    if parent_node.primitive.saves_output:
                        outputs[parent_node] = parent
                data = data_of(parent)
                if (
                    type(grad) is not np.ndarray
                    or grad.shape != data.shape
                    or grad.dtype != data.dtype
                ):
                    grad = fit(grad, data.shape, data.dtype)
                previous = grads.get(key)
                if previous is not None:
                    grads[key] = previous + grad
                else:
                    grads[key] = grad
                    if parent_node is not None:
                        heappush(pending, (-parent_node.recorded, parent_node))
            if not retain_graph:
                node.saved = _RELEASED
    finally:
        STATE.grad_enabled = previous_mode
    # Every node's entry was popped when it was visited (each one given a gradient is),
    # so the keys left are leaf ids: paired with their leaves in C, in the same order.
    return list(zip(map(leaves.__getitem__, grads), grads.values(), strict=True))


def backward_into_grads(
    root: Tensor, grad_root: Any, *, retain_graph: bool, create_graph: bool
) -> None:
    """Push `grad_root` = dL/d(root) back to every leaf that requires grad and accumulate
    dL/d(leaf) into its `.grad`, as `Tensor.backward` (and torch's) does."""
    root_node = READ.grad_fn(root)
    if not create_graph and not STATE.anomaly and root_node is not None:
        if READ.version(root) and root_node.primitive.saves_output:
            _raise_output_modified(root, root_node)
        claimed: dict[int, np.ndarray] = {}
        leaf_grads = _sweep_to_leaves(root_node, grad_root, retain_graph, claimed)
        store_leaf_grads(type(root), leaf_grads, {id(grad_root)}, claimed=claimed)
        return
    carrier = _EagerSweep(create_graph, retain_graph, None, None)
    carrier.into_slots = not create_graph
    grads = _run_sweep(root, grad_root, carrier, create_graph=create_graph, keep=False)
    if root.grad_fn is None:
        carrier.leaves[id(root)] = root
    leaf_grads = [
        (carrier.leaves[key], grad) for key, grad in grads.items() if isinstance(key, int)
    ]
    store_leaf_grads(type(root), leaf_grads, {id(grad_root)}, create_graph, carrier.claimed)


def gradients(
    root: Tensor,
    grad_root: Any,
    inputs: Sequence[Tensor],
    *,
    retain_graph: bool,
    create_graph: bool,
) -> list[Any]:
    """dL/d(input) for each of `inputs` (None where no gradient reaches it), given
    `grad_root` = dL/d(root), leaving every `.grad` untouched (as torch.autograd.grad)."""
    wanted: dict[Any, int] = {_edge(t, t.grad_fn): i for i, t in enumerate(inputs)}
    root_node = root.grad_fn
    leading = _nodes_leading_to(root_node, wanted) if root_node is not None else set()
    carrier = _EagerSweep(create_graph, retain_graph, leading, wanted)
    # A computed input's gradient is complete when its node is visited, so the sweep keeps
    # visited entries; only the wanted ones are read.
    grads = _run_sweep(
        root,
        grad_root,
        carrier,
        create_graph=create_graph,
        keep=any(t.grad_fn is not None for t in inputs),
    )
    results: list[Any] = []
    for tensor in inputs:
        if tensor is root:
            results.append(grad_root)
        else:
            key = id(tensor) if tensor.grad_fn is None else tensor.grad_fn
            results.append(grads.get(key))
    return results


def run_backward(
    root: Tensor,
    grad_root: Any,
    *,
    retain_graph: bool,
    create_graph: bool,
    inputs: Sequence[Tensor] | None = None,
) -> list[Any] | None:
    """`gradients(root, grad_root, inputs, ...)` with `inputs`, else
    `backward_into_grads(root, grad_root, ...)` (which returns None)."""
    if inputs is not None:
        return gradients(
            root, grad_root, inputs, retain_graph=retain_graph, create_graph=create_graph
        )
    backward_into_grads(root, grad_root, retain_graph=retain_graph, create_graph=create_graph)
    return None


def store_leaf_grads(
    tensor_type: type[Tensor],
    leaf_grads: Iterable[tuple[Tensor, Any]],
    not_ours: set[int],
    create_graph: bool = False,
    claimed: dict[int, np.ndarray] | None = None,
) -> None:
    """Add each leaf's gradient into its `.grad`, giving every leaf an array of its own (its
    slot in a flat gradient buffer when it has one, see `set_grad_slot`): an array shared
    with another leaf, a view, or one whose id is in `not_ours` (the caller's
    seed gradient, a reused buffer) is copied first. An existing `.grad` is added to in place
    (its version bumped; a recorded one keeps its grad_fn, as torch's), or, under
    create_graph, out of place in the new graph.

    `claimed` (leaf id -> slot) names the slots the sweep's kernels wrote first gradients
    into, each checked by `_slot_outs` in this sweep: a leaf whose gradient is still that
    array, and whose `.grad` is still None, is handed its slot without looking it up again."""
    handed_out = set(not_ours)
    if create_graph:
        for leaf, grad in leaf_grads:
            grad_tensor = grad if isinstance(grad, tensor_type) else tensor_type.from_numpy(grad)
            if leaf.grad is None:
                leaf.grad = _own_grad(tensor_type, grad_tensor)
            else:
                leaf.grad = leaf.grad + grad_tensor
        return
    wrap = READ.wrap if READ.wrap is not None and tensor_type is READ.tensor_type else None
    if wrap is None:
        wrap = tensor_type.from_numpy
    # Read once, not per leaf (this loop runs for every parameter at every step).
    untraced, holders, reference = STATE.tracer is None, _SLOT_HOLDERS, weakref.ref
    # Without a tracer only: a traced store goes through `.grad =`, which the tracer watches.
    claimed_slot: Callable[[int], Any] = claimed.get if claimed and untraced else _NO_SLOT.get
    handed = False
    for leaf, grad in leaf_grads:
        key = id(leaf)
        # `hand_out_slot(key, stored)`, inline (once per parameter of every step), its
        # change count bumped once, before the first holder changes: a later leaf's store
        # may raise, and the compiled replay trusts the count.
        if grad is claimed_slot(key) and leaf._grad is None:
            stored = leaf._grad = wrap(grad)  # what `.grad =` does untraced
            if not handed:
                handed = True
                _SLOT_HOLDER_CHANGES[0] += 1
            holders[key] = reference(stored)  # the previous one's version: `_slot_outs`
            continue
        unclaimed = _store_unclaimed(tensor_type, wrap, leaf, grad, handed_out)
        if unclaimed is None:
            continue
        if not handed:
            handed = True
            _SLOT_HOLDER_CHANGES[0] += 1
        previous = holders.get(key)
        if previous is not None:
            held = previous()
            if held is not None and held is not unclaimed:
                held.increment_version()
        holders[key] = reference(unclaimed)


def _store_unclaimed(
    tensor_type: type[Tensor],
    wrap: Callable[[np.ndarray], Tensor],
    leaf: Tensor,
    grad: Any,
    handed_out: set[int],
) -> Tensor | None:
    """`store_leaf_grads` for one leaf whose gradient is not a claimed slot: returns the new
    `.grad` where it lies over the leaf's slot (for the caller's hand-out), else None."""
    if type(grad) is not np.ndarray:
        if is_foreign(grad):
            _store_foreign_grad(tensor_type, leaf, grad, handed_out)
            return None
        grad = np.asarray(grad)
    existing = leaf._grad  # `.grad`, without its Python-level getter
    if existing is not None:
        # In place, as torch's no-grad accumulation: a recorded .grad (create_graph) keeps
        # its grad_fn, the new gradient entering it as a constant, and a graph that saved
        # it sees the version change rather than the new values.
        try:
            np.add(existing.data, grad, out=existing.data)
        except ValueError as error:
            _refuse_read_only_grad(leaf, existing.data, error)
        existing.increment_version()
        return None
    slot = grad_slot(leaf) if _GRAD_SLOTS else None
    if grad is slot:
        in_slot = True  # the sweep's kernel wrote it there already
    elif slot is not None and slot.shape == grad.shape and slot.dtype == grad.dtype:
        np.copyto(slot, grad)
        grad = slot
        in_slot = True
    else:
        in_slot = False
        if id(grad) in handed_out or not grad.flags.owndata or not grad.flags.writeable:
            grad = grad.copy()
    handed_out.add(id(grad))
    if STATE.tracer is None:
        # What `.grad =` does untraced; `grad` is a NumPy array in the leaf's dtype.
        stored = leaf._grad = wrap(grad)
    else:
        leaf.grad = stored = tensor_type.from_numpy(grad)
    return stored if in_slot else None


_NO_SLOT: dict[int, np.ndarray] = {}


def _own_grad(tensor_type: type[Tensor], grad: Tensor) -> Tensor:
    """A first `.grad` stored under create_graph, in memory of its own: the sweep hands one
    tensor to several leaves (add passes its output gradient through, and the root's is the
    caller's seed), and a later plain backward adds into `.grad` in place. A recorded one is
    copied in the graph (grad * 1), so it stays differentiable, as torch's clone."""
    if grad.requires_grad:
        with enable_grad():
            return grad * 1
    return tensor_type(copy(grad.data), requires_grad=False)


def _refuse_read_only_grad(leaf: Tensor, array: np.ndarray, error: ValueError) -> None:
    """Say why a gradient could not be added into `leaf.grad`'s array, where that array is
    read-only (a broadcast, as torch refuses an expanded .grad, or its writeable flag off)."""
    if array.flags.writeable:
        raise error
    label = f"tensor {leaf.name!r}" if leaf.name else "a leaf tensor"
    broadcast = 0 in array.strides and array.size > 1
    what = "a broadcast view whose entries share memory" if broadcast else "not writeable"
    raise RuntimeError(
        f"backward: the .grad of {label} (shape {leaf.shape}) holds an array that is {what}, "
        "so the new gradient cannot be added into it; set .grad = None before backward, or "
        "give it an array of its own (t.grad = t.grad.clone())"
    ) from error


def _store_foreign_grad(
    tensor_type: type[Tensor], leaf: Tensor, grad: Any, handed_out: set[int]
) -> None:
    """`store_leaf_grads` for a gradient of another library (CuPy, JAX, ...): added out of
    place into a `.grad` of the same tensor (JAX arrays cannot be written into), its version
    bumped; a first one is copied when it is the caller's or another leaf's array."""
    existing = leaf.grad
    if existing is not None:  # a recorded one (create_graph) keeps its grad_fn, as torch's
        existing.data = existing.data + grad
        return
    if id(grad) in handed_out:
        grad = copy(grad)
    handed_out.add(id(grad))
    leaf.grad = tensor_type(grad, requires_grad=False)  # a float array is kept, not copied
