"""Shape and indexing ops (issue 14): squeeze, expand_dims, flatten, flip, roll, moveaxis,
repeat, tile, pad, split, vstack/hstack, take, take_along_axis/gather, scatter_add,
masked_fill and one_hot. Views and gathers are composites over Reshape, Transpose, GetItem
and ScatterAdd; flip, roll, tile, repeat and pad are primitives of their own. NumPy's names
and argument names come first, PyTorch's names are methods beside them.
"""

from __future__ import annotations

import builtins
import functools
import itertools
import operator
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from chainrule import ops
from chainrule import primitives as P
from chainrule.modes import refuse_while_tracing
from chainrule.placement import device_of, is_foreign, to_numpy
from chainrule.primitives.shape_more import PAD_MODES, Flip, Pad, Repeat, Roll, Tile
from chainrule.tensor import Tensor, _raw, attach_methods

AxisArg = int | Sequence[int] | None


# ----------------------------------------------------------------- argument checks
def _axis(op: str, axis: Any, ndim: int) -> int:
    """`axis` as a non-negative int, after checking it is an int in range."""
    try:
        value = operator.index(axis)
    except TypeError:
        raise TypeError(f"{op}: axis must be an int, got {axis!r}") from None
    if ndim == 0:
        raise ValueError(f"{op}: axis {value} is out of range: a 0-d tensor has no axes")
    if not -ndim <= value < ndim:
        raise ValueError(
            f"{op}: axis {value} is out of range for a tensor with {ndim} dimensions "
            f"(valid: {-ndim} to {ndim - 1})"
        )
    return value % ndim


def _axes(op: str, axis: Any, ndim: int) -> tuple[int, ...]:
    """One axis or a sequence of distinct axes, as non-negative ints."""
    parts = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    axes = tuple(_axis(op, part, ndim) for part in parts)
    if len(set(axes)) != len(axes):
        raise ValueError(f"{op}: axis {tuple(parts)} repeats an axis")
    return axes


def _integers(op: str, what: str, value: Any) -> np.ndarray:
    """Integer indices (a list, a NumPy integer array or an integer Tensor) as an ndarray;
    float, boolean and differentiable indices are refused, since an index has no gradient."""
    if isinstance(value, Tensor) and value.requires_grad:
        raise TypeError(
            f"{op}: {what} is a tensor that requires grad; indices carry no gradient, pass "
            "integer values (a NumPy integer array, a list, or an integer tensor)"
        )
    array = to_numpy(_raw(value))  # checked here; an op moves it to the tensor's device
    if array.dtype.kind not in "iu" and array.size:
        kind = "boolean (a mask)" if array.dtype.kind == "b" else f"of dtype {array.dtype}"
        raise TypeError(
            f"{op}: {what} must be integers, got values {kind}; pass an integer array "
            "(np.asarray(indices, dtype=np.int64))"
        )
    # No copy of an integer array: in a compiled step an argument stays that argument.
    return array.astype(np.intp, copy=False)


def _read_as_settings(op: str, value: Any) -> None:
    """`value` becomes settings of `op` (counts, shifts, widths): where it is a compiled
    step's argument, the trace holds for its values only (`ArrayArgument.note_setting`),
    instead of replaying them for every later argument."""
    parts = value if isinstance(value, (list, tuple)) else (value,)
    for part in parts:
        note = getattr(_raw(part), "note_setting", None)
        if note is not None:
            note(op)


def _check_in_range(op: str, index: np.ndarray, size: int, axis: int, shape: Any) -> None:
    if index.size and (int(index.max()) >= size or int(index.min()) < -size):
        bad = int(index.max()) if int(index.max()) >= size else int(index.min())
        raise IndexError(
            f"{op}: index {bad} is out of range for axis {axis} of size {size} (tensor shape "
            f"{tuple(shape)}); indices must lie in {-size} to {size - 1}"
        )


# ----------------------------------------------------------------- views of the same values
def squeeze(self: Tensor, axis: AxisArg = None) -> Tensor:
    """The same values without the size-1 axes (only those in `axis`, which must have size 1,
    as NumPy's squeeze); a reshape, so the gradient is reshaped back."""
    if axis is None:
        shape = tuple(n for n in self.shape if n != 1)
    else:
        axes = _axes("squeeze", axis, builtins.max(self.ndim, 1))
        if self.ndim == 0:
            return self.reshape(())
        wrong = [a for a in axes if self.shape[a] != 1]
        if wrong:
            raise ValueError(
                f"squeeze: axis {wrong[0]} has size {self.shape[wrong[0]]}, not 1 (tensor shape "
                f"{self.shape}); only size-1 axes can be squeezed out"
            )
        shape = tuple(n for i, n in enumerate(self.shape) if i not in axes)
    return self.reshape(shape)


def expand_dims(self: Tensor, axis: int | Sequence[int]) -> Tensor:
    """The same values with new size-1 axes at the positions `axis` of the result."""
    count = 1 if isinstance(axis, (int, np.integer)) else len(tuple(axis))
    new_axes = _axes("expand_dims", axis, self.ndim + count)
    sizes = iter(self.shape)
    return self.reshape(
        tuple(1 if i in new_axes else next(sizes) for i in range(self.ndim + count))
    )


def unsqueeze(self: Tensor, dim: int) -> Tensor:
    """PyTorch's name for expand_dims with one axis (dim counts in the result)."""
    return expand_dims(self, dim)


def ravel(self: Tensor) -> Tensor:
    """The values as one axis (a view where NumPy's reshape gives one)."""
    return self.reshape(-1)


def flatten(self: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Axes start_dim to end_dim merged into one, as torch.flatten (a 0-d tensor gives shape
    (1,))."""
    if self.ndim == 0:
        _axis("flatten", start_dim, 1)
        _axis("flatten", end_dim, 1)
        return self.reshape(1)
    start = _axis("flatten", start_dim, self.ndim)
    end = _axis("flatten", end_dim, self.ndim)
    if start > end:
        raise ValueError(
            f"flatten: start_dim {start_dim} comes after end_dim {end_dim} (tensor shape "
            f"{self.shape})"
        )
    merged = int(np.prod(self.shape[start : end + 1]))
    return self.reshape((*self.shape[:start], merged, *self.shape[end + 1 :]))


def moveaxis(self: Tensor, source: int | Sequence[int], destination: int | Sequence[int]) -> Tensor:
    """Axes moved from `source` to `destination`, the others keeping their order (a
    transpose)."""
    sources = _axes("moveaxis", source, self.ndim)
    destinations = _axes("moveaxis", destination, self.ndim)
    if len(sources) != len(destinations):
        raise ValueError(
            f"moveaxis: source {source} and destination {destination} must name as many axes"
        )
    order = [n for n in range(self.ndim) if n not in sources]
    for moved_to, moved_from in sorted(zip(destinations, sources, strict=True)):
        order.insert(moved_to, moved_from)
    return self.transpose(order)


def movedim(self: Tensor, source: int | Sequence[int], destination: int | Sequence[int]) -> Tensor:
    """PyTorch's name for moveaxis."""
    return moveaxis(self, source, destination)


def flip(self: Tensor, axis: AxisArg = None) -> Tensor:
    """The values reversed along `axis` (all axes when None); a view, as NumPy's."""
    axes = tuple(range(self.ndim)) if axis is None else _axes("flip", axis, self.ndim)
    return Tensor._apply(Flip, (self,), {"axis": axes})


# ----------------------------------------------------------------- copies that move values
def roll(self: Tensor, shift: int | Sequence[int], axis: AxisArg = None) -> Tensor:
    """The values shifted cyclically by `shift` along `axis` (the flattened values when
    None), as np.roll; a copy."""
    _read_as_settings("roll", shift)
    shifts = tuple(int(s) for s in _integers("roll", "shift", shift).reshape(-1))
    if axis is None:
        if len(shifts) != 1:
            raise ValueError(f"roll: without an axis, shift must be one int, got {shift!r}")
        return Tensor._apply(Roll, (self,), {"shift": shifts[0], "axis": None})
    parts = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    axes = tuple(_axis("roll", part, self.ndim) for part in parts)
    if len(shifts) != len(axes) and 1 not in (len(shifts), len(axes)):
        raise ValueError(
            f"roll: {len(shifts)} shifts for {len(axes)} axes; give one shift, or one per axis"
        )
    count = builtins.max(len(shifts), len(axes))
    shifts = shifts * (count // len(shifts))
    axes = axes * (count // len(axes))
    return Tensor._apply(Roll, (self,), {"shift": shifts, "axis": axes})


def tile(self: Tensor, reps: int | Sequence[int]) -> Tensor:
    """The whole tensor repeated `reps[i]` times along axis i, as np.tile (torch's
    Tensor.repeat); the gradient sums the copies. A copy."""
    _read_as_settings("tile", reps)
    counts = (reps,) if isinstance(reps, (int, np.integer)) else tuple(reps)
    full = tuple(int(r) for r in counts)
    if any(r < 0 for r in full):
        raise ValueError(f"tile: reps {full} must not be negative (tensor shape {self.shape})")
    return Tensor._apply(Tile, (self,), {"reps": full})


def repeat(self: Tensor, repeats: int | Sequence[int], axis: int | None = None) -> Tensor:
    """Each entry repeated `repeats` times in place along `axis` (the flattened values when
    None), as np.repeat; PyTorch calls this repeat_interleave (torch's repeat is `tile`).
    The gradient of an entry sums the gradients of its copies."""
    _read_as_settings("repeat", repeats)
    counts = _integers("repeat", "repeats", repeats)
    along = None if axis is None else _axis("repeat", axis, builtins.max(self.ndim, 1))
    size = self.size if along is None else (self.shape[along] if self.ndim else 1)
    if counts.ndim > 1 or (counts.ndim == 1 and counts.size not in (1, size)):
        raise ValueError(
            f"repeat: repeats of shape {counts.shape} do not fit axis {axis} of size {size} "
            f"(tensor shape {self.shape}); give one count, or one per entry"
        )
    if counts.size and int(counts.min()) < 0:
        raise ValueError(f"repeat: repeats must not be negative, got {counts.tolist()}")
    count: int | tuple[int, ...] = (
        int(counts.reshape(-1)[0]) if counts.size == 1 else tuple(int(c) for c in counts)
    )
    if self.ndim == 0 and along is not None:
        return Tensor._apply(Repeat, (self,), {"repeats": count, "axis": None})
    return Tensor._apply(Repeat, (self,), {"repeats": count, "axis": along})


def repeat_interleave(self: Tensor, repeats: int | Sequence[int], dim: int | None = None) -> Tensor:
    """PyTorch's name for NumPy's repeat: each entry repeated in place."""
    return repeat(self, repeats, dim)


def _pairs(op: str, what: str, value: Any, ndim: int, kind: str) -> tuple[tuple[Any, Any], ...]:
    """np.pad's forms: one value, (before, after), or one (before, after) per axis."""
    array = np.asarray(value)
    if array.ndim > 2 or array.dtype.kind not in kind:
        raise TypeError(
            f"{op}: {what} must be a number, a (before, after) pair or one pair per axis, "
            f"got {value!r}"
        )
    try:
        pairs = np.broadcast_to(array, (ndim, 2))
    except ValueError:
        raise ValueError(
            f"{op}: {what} {value!r} does not fit a tensor with {ndim} dimensions; give one "
            "number, a (before, after) pair or one pair per axis"
        ) from None
    cast = int if kind == "iu" else float
    return tuple((cast(before), cast(after)) for before, after in pairs)


def pad(
    self: Tensor,
    pad_width: int | Sequence[int] | Sequence[Sequence[int]],
    mode: str = "constant",
    constant_values: float | Sequence[Any] = 0,
) -> Tensor:
    """The tensor padded as np.pad: pad_width is one number, (before, after), or one pair per
    axis; mode "constant" (with constant_values), "reflect" or "edge". A copy. The gradient
    is grad_out's interior, plus, for reflect and edge, the gradients of the padded copies."""
    if mode not in PAD_MODES:
        raise ValueError(f"pad: mode {mode!r} is not supported; use one of {PAD_MODES}")
    _read_as_settings("pad", pad_width)
    widths = _pairs("pad", "pad_width", pad_width, self.ndim, "iu")
    if any(w < 0 for pair in widths for w in pair):
        raise ValueError(
            f"pad: pad_width {pad_width!r} has a negative width; widths count entries added, "
            "so they must be >= 0 (to crop, index: x[1:-1])"
        )
    if mode != "constant":
        if constant_values != 0:
            raise ValueError(f"pad: constant_values applies to mode 'constant', not {mode!r}")
        empty = [i for i, n in enumerate(self.shape) if n == 0 and widths[i] != (0, 0)]
        if empty:
            raise ValueError(
                f"pad: mode {mode!r} cannot pad axis {empty[0]}, which is empty (tensor shape "
                f"{self.shape}); it has no entry to copy"
            )
    values = _pairs("pad", "constant_values", constant_values, self.ndim, "biuf")
    return Tensor._apply(
        Pad, (self,), {"pad_width": widths, "mode": mode, "constant_values": values}
    )


# ----------------------------------------------------------------- split and join
def array_split(
    self: Tensor, indices_or_sections: int | Sequence[int], axis: int = 0
) -> list[Tensor]:
    """The tensor cut along `axis` into `indices_or_sections` parts (the first ones one entry
    longer when they do not divide evenly) or at the given indices, as np.array_split. Each
    part is a view; their gradients add up to the gradient of the whole."""
    return _split("array_split", self, indices_or_sections, axis)


def split(self: Tensor, indices_or_sections: int | Sequence[int], axis: int = 0) -> list[Tensor]:
    """As array_split, but `indices_or_sections` given as a count must divide the axis
    evenly (np.split; torch's split takes a part size instead)."""
    return _split("split", self, indices_or_sections, axis)


def _split(
    op: str, self: Tensor, indices_or_sections: int | Sequence[int], axis: int
) -> list[Tensor]:
    if self.ndim == 0:
        raise ValueError(f"{op}: a 0-d tensor has no axis to split along")
    _read_as_settings(op, indices_or_sections)
    along = _axis(op, axis, self.ndim)
    size = self.shape[along]
    if isinstance(indices_or_sections, (int, np.integer)):
        sections = int(indices_or_sections)
        if sections <= 0:
            raise ValueError(f"{op}: the number of sections must be > 0, got {sections}")
        if op == "split" and size % sections:
            raise ValueError(
                f"split: axis {axis} of size {size} does not divide into {sections} equal "
                f"parts (tensor shape {self.shape}); use array_split for unequal parts"
            )
        each, extra = divmod(size, sections)
        lengths = [each + 1] * extra + [each] * (sections - extra)
        bounds = [0, *np.cumsum(lengths).tolist()]
    else:
        cuts = _integers(op, "indices", list(indices_or_sections))
        if cuts.ndim != 1:
            raise ValueError(f"{op}: indices must be one list of positions, got shape {cuts.shape}")
        bounds = [0, *cuts.tolist(), size]
    before = (slice(None),) * along
    parts = [(*before, slice(start, stop)) for start, stop in itertools.pairwise(bounds)]
    return [self[part] for part in parts]


def vstack(tup: Sequence[Any]) -> Tensor:
    """The tensors stacked as rows (1-D ones become rows of one), as np.vstack."""
    rows = []
    for tensor in ops.join_operands(tup):
        rows.append(tensor.reshape(1, -1) if tensor.ndim < 2 else tensor)
    return ops._join("vstack", P.Concatenate, rows, 0)


def hstack(tup: Sequence[Any]) -> Tensor:
    """The tensors joined along their second axis (the first for 1-D ones), as np.hstack."""
    parts = list(ops.join_operands(tup))
    parts = [part.reshape(1) if part.ndim == 0 else part for part in parts]
    axis = 0 if parts and parts[0].ndim == 1 else 1
    return ops._join("hstack", P.Concatenate, parts, axis)


# ----------------------------------------------------------------- gathers and scatters
def _along_index(axis: int, index: np.ndarray, sizes: Sequence[int]) -> tuple[Any, ...]:
    """The advanced index that takes `index` along `axis` and, along every other axis d,
    positions 0..sizes[d]-1 (broadcast against index)."""
    ndim = index.ndim
    return tuple(
        index if d == axis else np.arange(sizes[d]).reshape((-1,) + (1,) * (ndim - 1 - d))
        for d in range(ndim)
    )


def take(self: Tensor, indices: Any, axis: int | None = None) -> Tensor:
    """The entries at integer `indices` along `axis` (of the flattened values when None), as
    np.take; an entry taken twice gets both gradients. A copy."""
    index = _integers("take", "indices", indices)
    if axis is None:
        _check_in_range("take", index, self.size, 0, (self.size,))
        return self.reshape(-1)[index]
    along = _axis("take", axis, self.ndim)
    _check_in_range("take", index, self.shape[along], along, self.shape)
    selection = (*(slice(None),) * along, index)
    return self[selection]


def _take_along(
    op: str, self: Tensor, index: np.ndarray, axis: int, sizes: Sequence[int]
) -> Tensor:
    if index.ndim != self.ndim:
        raise ValueError(
            f"{op}: indices of shape {index.shape} need as many dimensions as the tensor "
            f"(shape {self.shape})"
        )
    _check_in_range(op, index, self.shape[axis], axis, self.shape)
    try:
        np.broadcast_shapes(*(part.shape for part in _along_index(axis, index, sizes)))
    except ValueError:
        raise ValueError(
            f"{op}: indices of shape {index.shape} do not fit the tensor of shape "
            f"{self.shape} along the axes other than {axis}"
        ) from None
    return self[_along_index(axis, index, sizes)]


def take_along_axis(self: Tensor, indices: Any, axis: int | None = -1) -> Tensor:
    """out[..., j, ...] = x[..., indices[..., j, ...], ...] along `axis`, as
    np.take_along_axis (the other axes broadcast); repeated indices add their gradients."""
    index = _integers("take_along_axis", "indices", indices)
    if axis is None:
        if index.ndim != 1:
            raise ValueError(
                f"take_along_axis: with axis=None the indices must be 1-D, got shape {index.shape}"
            )
        return take_along_axis(self.reshape(-1), index, 0)
    _refuse_zero_dim("take_along_axis", self)
    along = _axis("take_along_axis", axis, self.ndim)
    return _take_along("take_along_axis", self, index, along, self.shape)


def _refuse_zero_dim(op: str, self: Tensor) -> None:
    if self.ndim == 0:
        raise ValueError(f"{op}: a 0-d tensor has no axis to index along; reshape it to (1,) first")


def gather(self: Tensor, dim: int, index: Any) -> Tensor:
    """PyTorch's gather: out[i][j] = x[index[i][j]][j] for dim 0 (and so on), the output
    shaped as index, whose sizes may not exceed x's along the other axes; repeated indices
    add their gradients."""
    _refuse_zero_dim("gather", self)
    positions = _integers("gather", "index", index)
    along = _axis("gather", dim, self.ndim)
    too_big = [
        d
        for d in range(builtins.min(self.ndim, positions.ndim))
        if d != along and positions.shape[d] > self.shape[d]
    ]
    if too_big:
        raise ValueError(
            f"gather: index of shape {positions.shape} is larger than the tensor of shape "
            f"{self.shape} along axis {too_big[0]}; along every axis but dim it may not "
            "exceed it"
        )
    return _take_along("gather", self, positions, along, positions.shape)


def scatter_add(self: Tensor, dim: int, index: Any, src: Any) -> Tensor:
    """PyTorch's out-of-place scatter_add: a copy of x with src[i][j] added at
    [index[i][j]][j] for dim 0 (and so on), repeated positions adding up. The gradient to x
    is grad_out; to src, grad_out gathered at index (zero where src is not used)."""
    _refuse_zero_dim("scatter_add", self)
    positions = _integers("scatter_add", "index", index)
    if isinstance(src, Tensor) and src.dtype != self.dtype:
        raise TypeError(
            f"scatter_add: src has dtype {src.dtype} but the tensor {self.dtype}; convert one "
            "(src.astype(x.dtype))"
        )
    source = src if isinstance(src, Tensor) else Tensor(np.asarray(src, dtype=self.dtype))
    along = _axis("scatter_add", dim, self.ndim)
    if not positions.ndim == source.ndim == self.ndim:
        raise ValueError(
            f"scatter_add: tensor {self.shape}, index {positions.shape} and src "
            f"{source.shape} need the same number of dimensions"
        )
    too_big = [
        d
        for d in range(positions.ndim)
        if positions.shape[d] > source.shape[d]
        or (d != along and positions.shape[d] > self.shape[d])
    ]
    if too_big:
        raise ValueError(
            f"scatter_add: index of shape {positions.shape} is larger than src {source.shape} "
            f"or the tensor {self.shape} along axis {too_big[0]}; index may not exceed src "
            "anywhere, nor the tensor along the axes other than dim"
        )
    _check_in_range("scatter_add", positions, self.shape[along], along, self.shape)
    used = source[tuple(slice(0, n) for n in positions.shape)]
    added = Tensor._apply(
        P.ScatterAdd,
        (used,),
        {"shape": self.shape, "index": _along_index(along, positions, positions.shape)},
    )
    return self + added


def masked_fill(self: Tensor, mask: Any, value: Any) -> Tensor:
    """PyTorch's masked_fill: `value` where the boolean `mask` (broadcast to x's shape) is
    True, x elsewhere; x's gradient is grad_out where mask is False, a 0-d tensor value's
    the sum of grad_out where it is True."""
    flags = to_numpy(_raw(mask))
    if flags.dtype.kind != "b":
        raise TypeError(
            f"masked_fill: mask must be boolean, got dtype {flags.dtype}; pass a comparison "
            "such as x > 0, or mask.astype(bool)"
        )
    try:
        fits = np.broadcast_shapes(flags.shape, self.shape) == self.shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(
            f"masked_fill: mask of shape {flags.shape} does not broadcast to the tensor's "
            f"shape {self.shape}"
        )
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise ValueError(
                f"masked_fill: value must be a number or a 0-d tensor, got shape {value.shape}"
            )
        if value.dtype != self.dtype:
            value = value.astype(self.dtype)
    elif np.ndim(value) != 0:
        raise ValueError(
            f"masked_fill: value must be a number or a 0-d tensor, got shape {np.shape(value)}"
        )
    return ops.where(flags, value, self)


def one_hot(indices: Any, num_classes: int = -1, dtype: npt.DTypeLike = np.float32) -> Tensor:
    """Integer class indices as one-hot rows: shape indices.shape + (num_classes,), 1 at each
    index and 0 elsewhere (float32, where torch.nn.functional.one_hot gives int64), in the
    indices' library and on their device. A constant: indices have no gradient.
    num_classes=-1 takes the largest index + 1."""
    classes = _integers("one_hot", "indices", indices)
    if classes.size and int(classes.min()) < 0:
        raise ValueError(f"one_hot: class indices must be >= 0, got {int(classes.min())}")
    if num_classes == -1:
        # The count read from this call's labels would be replayed for every later batch.
        refuse_while_tracing(
            "one_hot with num_classes=-1",
            "the class count comes from the largest label of the traced batch, and a replay "
            "would keep it for batches whose largest label differs",
            "pass num_classes (chainrule.one_hot(y, 10)), as jax.nn.one_hot requires",
        )
    largest = int(classes.max()) if classes.size else -1
    count = largest + 1 if num_classes == -1 else int(num_classes)
    if count < 0 or (classes.size and largest >= count):
        raise ValueError(
            f"one_hot: class index {largest} does not fit num_classes={num_classes}; "
            "num_classes must exceed every index (or be -1 to take the largest + 1)"
        )
    # The identity's rows picked by an Embedding node: in a compiled step it replays with
    # each call's indices, checking them as above (plain indexing took -1 as the last class).
    # The identity matrix is one array per (size, dtype), so a compiled step's verification
    # trace sees the same constant on each call rather than a fresh one it cannot tell from
    # a copy of data.
    identity = Tensor.from_numpy(_identity(count, np.dtype(dtype)))
    given = _raw(indices)
    if is_foreign(given):  # the rows go where the indices are, as torch's one_hot
        identity = identity.to(device_of(given))
    return Tensor.apply(P.Embedding, identity, indices=classes, padding_idx=None)


@functools.lru_cache(maxsize=8)
def _identity(count: int, dtype: np.dtype[Any]) -> np.ndarray:
    identity = np.eye(count, dtype=dtype)
    identity.flags.writeable = False
    return identity


attach_methods(
    squeeze,
    expand_dims,
    unsqueeze,
    ravel,
    flatten,
    moveaxis,
    movedim,
    flip,
    roll,
    tile,
    repeat,
    repeat_interleave,
    pad,
    array_split,
    split,
    take,
    take_along_axis,
    gather,
    scatter_add,
    masked_fill,
)
