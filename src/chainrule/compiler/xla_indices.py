"""The range checks of integer arguments a compiled XLA step indexes with.

Eagerly, and in the NumPy replay, an index out of range raises (NumPy's indexing, or the
op's own check). Inside `jax.jit` an index has no value to check, and XLA does not raise:
a gather clamps it to the last entry, a scatter drops it, the losses and the embedding read
NaN. So each argument the program indexes with (an op's setting bound to an argument, as
`x[i]`, `x[:, y]`, take, gather, embedding, cross_entropy's targets) is checked on the host
before each call, against the range the traced op allowed, and refused as eagerly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from chainrule import primitives as P
from chainrule.compiler.tracer import OpRecord, Slots


@dataclass(frozen=True)
class IndexCheck:
    """Argument `position` must hold integers in [low, high] (or equal `allowed`)."""

    position: int
    low: int
    high: int
    allowed: int | None
    error: type[Exception]
    what: str
    """The op and what the range is, for the message."""


def _consumes(part: Any) -> int:
    """How many axes of the indexed array one entry of an index tuple uses."""
    if part is None:
        return 0
    if isinstance(part, np.ndarray) and part.dtype == np.bool_:
        return part.ndim
    return 1


def _axis_of(parts: tuple[Any, ...], position: int, ndim: int) -> int:
    """The axis that entry `position` of the index tuple `parts` indexes."""
    if any(part is Ellipsis for part in parts[:position]):
        return ndim - sum(map(_consumes, parts[position:]))
    return sum(map(_consumes, parts[:position]))


def _along(op: str, shape: Sequence[int], axis: int, position: int) -> IndexCheck:
    size = shape[axis]
    return IndexCheck(
        position,
        -size,
        size - 1,
        None,
        IndexError,
        f"{op}: an index for axis {axis} of size {size} (tensor shape {tuple(shape)}) must lie "
        f"in {-size} to {size - 1}",
    )


def index_checks(ops: Sequence[OpRecord], slots: Slots) -> tuple[IndexCheck, ...]:
    """The checks of the arguments that `ops` index with (by the argument's position)."""
    checks: list[IndexCheck] = []
    for op in ops:
        bound: list[tuple[str, int | None, int]]
        bound = [(name, None, slot) for name, slot in op.bound_params]
        bound += [(name, position, slot) for name, position, slot in op.bound_parts]
        for name, part, slot in bound:
            position = slots.arguments.get(slot)
            if position is None or slots.dtypes[slot].kind not in "iu":
                continue
            check = _check(op, name, part, slots, position)
            if check is not None:
                checks.append(check)
    return tuple(checks)


def _check(
    op: OpRecord, name: str, part: int | None, slots: Slots, position: int
) -> IndexCheck | None:
    primitive = op.primitive
    if primitive in (P.GetItem, P.ScatterAdd) and name == "index":
        shape = slots.shapes[op.inputs[0]] if primitive is P.GetItem else tuple(op.params["shape"])
        axis = 0 if part is None else _axis_of(op.params["index"], part, len(shape))
        return _along(primitive.name, shape, axis, position)
    if primitive is P.Embedding and name == "indices":
        rows = slots.shapes[op.inputs[0]][0]
        what = f"embedding: an index must lie in [0, {rows - 1}], the {rows} rows of the weight"
        return IndexCheck(position, 0, rows - 1, None, ValueError, what)
    if primitive in (P.SoftmaxCrossEntropy, P.NLLLoss) and name == "targets":
        classes = slots.shapes[op.inputs[0]][1]
        allowed = op.params.get("ignore_index")
        what = (
            f"{primitive.name}: a target must be one of the {classes} classes "
            f"[0, {classes - 1}]" + ("" if allowed is None else f" or ignore_index={allowed}")
        )
        if primitive is P.SoftmaxCrossEntropy:  # as `TargetOutsideClasses` says eagerly
            what += (
                " (the traced call's targets were all classes, so it took the fused path, "
                "which has no ignore_index: pass weight=np.ones(C) to trace the general one)"
            )
        return IndexCheck(position, 0, classes - 1, allowed, ValueError, what)
    return None


_smallest, _largest = np.minimum.reduce, np.maximum.reduce


def _outside(values: np.ndarray, check: IndexCheck) -> int | None:
    """The first value outside the check's range, or None."""
    if not values.size:
        return None
    # The ufuncs' reduce itself: ndarray.min and .max wrap it in Python calls (2x slower).
    low, high = _smallest(values, axis=None), _largest(values, axis=None)
    if low >= check.low and high <= check.high:
        return None
    bad = (values < check.low) | (values > check.high)
    if check.allowed is not None:
        bad &= values != check.allowed
    return int(values[bad].flat[0]) if bad.any() else None


def check_indices(checks: Sequence[IndexCheck], arguments: Sequence[Any]) -> None:
    """Raise, as eagerly, where an argument holds an index outside its op's range."""
    for check in checks:
        values = arguments[check.position]
        if type(values) is not np.ndarray:
            values = np.asarray(values)  # a JAX array: copied to the host
        bad = _outside(values, check)
        if bad is not None:
            raise check.error(
                f"{check.what}; argument {check.position} holds {bad}. "
                "compile(backend='xla') checks this before each call: XLA would not raise "
                "(it clamps a gathered index to the last entry, drops a scattered one, "
                "and reads NaN in a loss), so a wrong index would give a wrong result"
            )
