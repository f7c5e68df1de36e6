"""Indexing and scatter-add on any array library: `select(x, index)` is x[index],
`add_at(total, index, values)` adds `values` into total at [index], summing repeats, and
`scatter_add(values, shape, index)` does so into zeros (the backward of indexing).

NumPy, JAX and CuPy take NumPy's whole indexing language; the array API standard takes
basic indexing and little of the rest, and has no scatter at all. For other libraries both
go through the flat positions the index selects (NumPy applies the index to the positions,
so its rules hold everywhere): `take` reads them; the scatter adds them with gathers, one
round per repeat of a position, so each sum runs in the order NumPy's `np.add.at` runs it.
"""

from __future__ import annotations

import importlib
import math
from typing import Any

import numpy as np

from chainrule.backends import is_recording, module_name, namespace, to_numpy

_NUMPY_INDEXING = frozenset({"jax.numpy", "cupy"})
"""Libraries whose arrays take NumPy's indexing (integer arrays mixed with slices, masks)."""


def is_basic_index(index: Any) -> bool:
    """True for ints, slices, None and Ellipsis only: such an index never repeats an entry."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(
        isinstance(part, (int, np.integer, slice)) or part is None or part is Ellipsis
        for part in parts
    )


def owned_index(index: Any) -> Any:
    """`index` (or a mask) with each of its NumPy arrays copied, for a node to save: the
    caller's array stays theirs to change (i[0] = 2 after y = x[i]) without moving the
    gradient of y to other entries of x. PyTorch copies a NumPy index into a tensor
    likewise. Arrays of other types are kept: a compiled step's argument (an ndarray
    subclass) must stay that argument, and JAX arrays cannot change."""
    if type(index) is np.ndarray:
        return index.copy()
    if isinstance(index, tuple):
        return tuple(part.copy() if type(part) is np.ndarray else part for part in index)
    return index


def _indexes_like_numpy(xp: Any) -> bool:
    return xp is np or module_name(xp) in _NUMPY_INDEXING


def _with_ellipsis(index: Any) -> tuple[Any, ...]:
    """A basic index with a trailing ... where it has none: the standard asks every axis to
    be indexed, NumPy leaves the trailing ones implied."""
    parts = index if isinstance(index, tuple) else (index,)
    return parts if any(part is Ellipsis for part in parts) else (*parts, Ellipsis)


def _flat_positions(shape: tuple[int, ...], index: Any) -> np.ndarray:
    """The flat positions, in an array of shape(x[index]), of the entries x[index] selects
    from an array of `shape` (its index arrays brought to NumPy)."""
    parts = index if isinstance(index, tuple) else (index,)
    host = tuple(
        part
        if part is None or part is Ellipsis or isinstance(part, (int, slice, np.ndarray))
        else to_numpy(part)
        for part in parts
    )
    positions: np.ndarray = np.arange(math.prod(shape)).reshape(shape)[host]
    return positions


def refuse_out_of_range(x: Any, index: Any) -> None:
    """Raise NumPy's IndexError where `index` reaches past the shape of `x`, an array of
    another library than NumPy. JAX clamps such an index to the nearest entry (x[5] of 3
    entries reads x[2], x[-4] reads x[0]) and CuPy's integer arrays wrap around, both
    without a word, where NumPy, PyTorch and array_api_strict raise. An index traced by
    jax.jit has no values to check here; compile's XLA backend checks those arguments on
    the host before each call (chainrule.compiler.xla_indices)."""
    xp = namespace(x)
    if xp is np or module_name(xp) not in _NUMPY_INDEXING:
        return  # NumPy raises, and the others index through NumPy (`_flat_positions`)
    parts = index if isinstance(index, tuple) else (index,)
    host: list[Any] = []
    for part in parts:
        if part is None or part is Ellipsis or isinstance(part, (int, slice, np.ndarray)):
            host.append(part)
        elif _is_traced(part):
            return
        else:
            host.append(to_numpy(part))
    # NumPy's own check, on a broadcast view that holds one byte for any shape.
    np.broadcast_to(np.empty((), dtype=np.bool_), tuple(x.shape))[tuple(host)]


def _is_traced(value: Any) -> bool:
    """True for a value traced by jax.jit (it has a shape and dtype, but no values yet)."""
    if not type(value).__module__.startswith("jax"):
        return False
    return isinstance(value, importlib.import_module("jax").core.Tracer)


def select(x: Any, index: Any) -> Any:
    """x[index] with NumPy's indexing rules, on an array of any library."""
    xp = namespace(x)
    if _indexes_like_numpy(xp) or is_recording(x):
        return x[index]
    if is_basic_index(index):
        return x[_with_ellipsis(index)]
    positions = _flat_positions(tuple(x.shape), index)
    positions_there = xp.asarray(positions.reshape(-1), device=getattr(x, "device", None))
    flat = xp.take(xp.reshape(x, (-1,)), positions_there, axis=0)
    return xp.reshape(flat, positions.shape)


def scatter_add(values: Any, shape: tuple[int, ...], index: Any) -> Any:
    """zeros(shape) with `values` added at [index], an entry selected n times receiving n
    values (np.add.at); `values` broadcasts to the shape of zeros(shape)[index]."""
    xp = namespace(values)
    if xp is np:
        out = np.zeros(shape, dtype=values.dtype)
        if is_basic_index(index):
            out[index] = values
        else:
            np.add.at(out, index, values)
        return out
    device = getattr(values, "device", None)
    return add_at(xp.zeros(shape, dtype=values.dtype, device=device), index, values)


def add_at(total: Any, index: Any, values: Any) -> Any:
    """total with `values` added at [index], repeats summing in index order (np.add.at).
    `total` is the caller's to give up: NumPy and CuPy add into it, JAX and the standard
    return a new array."""
    xp = namespace(total)
    name = "numpy" if xp is np else module_name(xp)
    if name in ("numpy", "cupy") and is_basic_index(index):
        total[index] += values
        return total
    if xp is np:
        np.add.at(total, index, values)
        return total
    if name == "jax.numpy":
        return total.at[index].add(values)
    if name == "cupy":
        importlib.import_module("cupyx").scatter_add(total, index, values)
        return total
    return total + _scatter_add_by_gathers(xp, values, tuple(total.shape), index)


def _scatter_add_by_gathers(xp: Any, values: Any, shape: tuple[int, ...], index: Any) -> Any:
    """scatter_add in the standard alone: round r gathers, for each position, the value of
    its r-th occurrence (or 0), and the rounds are added in order, as np.add.at adds."""
    positions = _flat_positions(shape, index)
    flat_values = xp.reshape(xp.broadcast_to(values, positions.shape), (-1,))
    positions = positions.reshape(-1)
    count, size = positions.size, math.prod(shape)
    order = np.argsort(positions, kind="stable")
    ordered = positions[order]
    first = np.concatenate(([True], ordered[1:] != ordered[:-1])) if count else ordered
    group_start = np.maximum.accumulate(np.where(first, np.arange(count), 0))
    rank = np.empty(count, dtype=np.intp)
    rank[order] = np.arange(count) - group_start
    device = getattr(values, "device", None)  # the index arrays go there too (device1)
    out = xp.zeros((size,), dtype=values.dtype, device=device)
    for round_number in range(int(rank.max()) + 1 if count else 0):
        chosen = np.flatnonzero(rank == round_number)
        lookup = np.full(size, chosen.size)
        lookup[positions[chosen]] = np.arange(chosen.size)
        taken = xp.take(flat_values, xp.asarray(chosen, device=device), axis=0)
        padded = xp.concat([taken, xp.zeros((1,), dtype=values.dtype, device=device)])
        out = out + xp.take(padded, xp.asarray(lookup, device=device), axis=0)
    return xp.reshape(out, shape)
