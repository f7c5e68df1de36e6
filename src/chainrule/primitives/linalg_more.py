"""Linear algebra beyond matmul: einsum (any sum of products of any number of operands),
the diagonal of two axes with its adjoint (the embedding of values on a diagonal of zeros),
and the triangles tril and triu. dot, inner, outer, tensordot, trace, diag and kron are built
from these, matmul and the shape primitives (see `chainrule.ops.linalg`).

On NumPy the rules call np.einsum, np.diagonal and friends; on other array libraries they
compute in the inputs' namespace: the library's einsum where it has one (JAX, CuPy), else the
array API standard's functions (broadcast products and sums, `take` for a diagonal).
"""

from __future__ import annotations

import functools
import math
import string
from typing import Any

import numpy as np

from chainrule.backends import creation_device, is_numpy, namespace
from chainrule.primitives.base import Grads, Primitive, Saved, reads_the_others
from chainrule.primitives.call import call, is_array
from chainrule.primitives.reading import Rule, linear_map

Optimize = bool | str | tuple[Any, ...]
"""How einsum orders its contractions: False (left to right, NumPy's own loop), "greedy" or
"optimal" (np.einsum_path's strategies; True means "greedy"), or an explicit path as
np.einsum_path returns it ("einsum_path", (0, 1), ...), as a tuple."""


def split_subscripts(subscripts: str) -> tuple[list[str], str]:
    """('ij,jk->ik') -> (['ij', 'jk'], 'ik') for explicit subscripts of letters only."""
    inputs, output = subscripts.split("->")
    return inputs.split(","), output


# Below this many multiply-adds in NumPy's single loop over every label, that loop (about
# 5 us for 8x8 matrices) beats planning pairwise BLAS contractions (about 40 us); above it,
# BLAS wins (a 64x64 product: 50 us against 360 us; measured with NumPy 2.4).
SINGLE_LOOP_LIMIT = 2**16


@functools.lru_cache(maxsize=1024)
def contraction_path(
    subscripts: str, shapes: tuple[tuple[int, ...], ...], optimize: Optimize
) -> Any:
    """The `optimize` argument np.einsum gets for these operands: np.einsum_path's order of
    pairwise contractions (which runs each pair through BLAS where it can), found once per
    subscripts, shapes and strategy; False (NumPy's single loop) for one operand or a small
    contraction (see SINGLE_LOOP_LIMIT)."""
    if optimize is False or len(shapes) < 2:
        return False
    if isinstance(optimize, tuple):
        return list(optimize)
    inputs, _ = split_subscripts(subscripts)
    sizes = {
        label: size
        for term, shape in zip(inputs, shapes, strict=True)
        for label, size in zip(term, shape, strict=True)
    }
    if math.prod(sizes.values()) <= SINGLE_LOOP_LIMIT:
        return False
    operands = [np.broadcast_to(np.empty((), dtype=np.float64), shape) for shape in shapes]
    path, _ = np.einsum_path(subscripts, *operands, optimize=optimize)
    return path


def einsum_values(subscripts: str, operands: tuple[Any, ...], optimize: Optimize) -> Any:
    """np.einsum on arrays, along the cached contraction path. NumPy returns a view of the
    operand for a pure relabelling ('ij->ji', 'ii->i'): copied, so the output owns its
    memory and an in-place change of it never reaches the operand unseen."""
    path = contraction_path(subscripts, tuple(x.shape for x in operands), optimize)
    out = np.einsum(subscripts, *operands, optimize=path)
    if isinstance(out, np.ndarray) and any(np.may_share_memory(out, x) for x in operands):
        out = out.copy()
    return out


def _fresh_labels(subscripts: str) -> list[str]:
    return [letter for letter in string.ascii_letters if letter not in subscripts]


class Einsum(Primitive):
    """z = einsum(subscripts, x_1, ..., x_n): for each combination of the output's labels,
    the sum over every other label of the product of the operands' entries.

    dL/dx_k = einsum(grad_out and every other operand -> x_k's labels): the output's labels
    are summed against grad_out instead. A label only x_k carries (summed in the forward)
    enters as a vector of ones, so the gradient is constant along it; a label x_k repeats
    (its diagonal, 'ii') enters once, times the identity delta_ij to place the gradient on
    that diagonal. Each gradient is itself an einsum, so second order comes for free.

    `subscripts` are explicit ('->' given) and name every axis by a letter; the ops layer
    turns '...', implicit outputs and size-1 broadcasting into that form (chainrule.einsum).
    """

    name = "einsum"
    function = "einsum"
    reading = Rule(
        "einsum('$subscripts', $args)",
        r"\operatorname{einsum}_{\text{$subscripts}}($args)",
        (
            linear_map(
                "einsum of . with the other operands into operand $i's labels",
                r"\operatorname{einsum}(\cdot,\, \ldots)",
            ),
        ),
    )

    reads = reads_the_others

    @staticmethod
    def forward(*operands: Any, subscripts: str, optimize: Optimize) -> tuple[Any, Saved]:
        saved = (operands, subscripts, optimize)
        if not all(is_array(x) for x in operands):
            # The recorded rerun of forward (create_graph), which needs only `saved`.
            return call(Einsum, *operands, subscripts=subscripts, optimize=optimize), saved
        xp = namespace(*operands)
        if is_numpy(xp):
            return einsum_values(subscripts, operands, optimize), saved
        einsum = getattr(xp, "einsum", None)
        if einsum is not None:
            return einsum(subscripts, *operands), saved
        return einsum_in_standard(xp, subscripts, operands), saved

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        operands, subscripts, optimize = saved
        # An explicit path fits the forward's contraction only; the gradients find their own.
        strategy = optimize if isinstance(optimize, (bool, str)) else "greedy"
        inputs, output = split_subscripts(subscripts)
        return tuple(
            _operand_grad(position, operands, inputs, output, grad_out, strategy) if need else None
            for position, need in enumerate(needs)
        )


def _operand_grad(
    position: int,
    operands: tuple[Any, ...],
    inputs: list[str],
    output: str,
    grad_out: Any,
    optimize: Optimize,
) -> Any:
    """dL/d(operands[position]) of an einsum, as one einsum (see `Einsum`)."""
    xp = namespace(grad_out, *operands)
    term = inputs[position]
    shape = operands[position].shape
    terms = [output] + [t for i, t in enumerate(inputs) if i != position]
    values = [grad_out] + [x for i, x in enumerate(operands) if i != position]
    fresh = iter(_fresh_labels("".join(inputs)))
    available = set("".join(terms))
    seen: set[str] = set()
    target = []
    for letter, size in zip(term, shape, strict=True):
        if letter in seen:
            diagonal = next(fresh)
            terms.append(letter + diagonal)
            values.append(xp.eye(size, dtype=grad_out.dtype, device=creation_device(grad_out)))
            target.append(diagonal)
            continue
        seen.add(letter)
        target.append(letter)
        if letter not in available and term.count(letter) == 1:
            terms.append(letter)
            values.append(xp.ones(size, dtype=grad_out.dtype, device=creation_device(grad_out)))
    subscripts = f"{','.join(terms)}->{''.join(target)}"
    return call(Einsum, *values, subscripts=subscripts, optimize=optimize)


def einsum_in_standard(xp: Any, subscripts: str, operands: tuple[Any, ...]) -> Any:
    """einsum in the array API standard's functions, for a library without its own
    (array_api_strict): each operand's repeated labels taken down to their diagonal, its axes
    laid out along one list of every label (size 1 where it has none), the operands multiplied
    in turn and each label summed out once neither the output nor a later operand has it."""
    inputs, output = split_subscripts(subscripts)
    terms, values = [], []
    for term, x in zip(inputs, operands, strict=True):
        distinct_term, distinct_x = _distinct_labels(xp, term, x)
        terms.append(distinct_term)
        values.append(distinct_x)
    labels = list(dict.fromkeys("".join(terms)))
    sizes = {
        label: size
        for term, x in zip(terms, values, strict=True)
        for label, size in zip(term, x.shape, strict=True)
    }
    product = None
    for position, (term, x) in enumerate(zip(terms, values, strict=True)):
        order = sorted(range(len(term)), key=lambda axis: labels.index(term[axis]))
        laid_out = xp.reshape(
            xp.permute_dims(x, tuple(order)),
            tuple(sizes[label] if label in term else 1 for label in labels),
        )
        product = laid_out if product is None else product * laid_out
        needed = set(output).union(*terms[position + 1 :])
        done = tuple(
            axis for axis, label in enumerate(labels) if label in term and label not in needed
        )
        if done:
            product = xp.sum(product, axis=done, keepdims=True)
    kept = [label for label in labels if label in output]
    out = xp.reshape(product, tuple(sizes[label] for label in kept))
    return xp.permute_dims(out, tuple(kept.index(label) for label in output))


def _distinct_labels(xp: Any, term: str, x: Any) -> tuple[str, Any]:
    """(term, x) with each label that repeats in term taken down to its diagonal (the diagonal
    as the last axis, labelled once), so that every label names one axis."""
    while len(set(term)) < len(term):
        letter = next(label for label in term if term.count(label) > 1)
        first = term.index(letter)
        second = term.index(letter, first + 1)
        x = _standard_diagonal(xp, x, 0, first, second)
        term = "".join(label for axis, label in enumerate(term) if axis not in (first, second))
        term += letter
    return term, x


def _standard_diagonal(xp: Any, x: Any, offset: int, axis1: int, axis2: int) -> Any:
    """np.diagonal(x, offset, axis1, axis2) in standard functions: the two axes moved last and
    flattened into one, then the diagonal's entries taken from it."""
    axis1, axis2 = axis1 % x.ndim, axis2 % x.ndim
    others = tuple(axis for axis in range(x.ndim) if axis not in (axis1, axis2))
    moved = xp.permute_dims(x, (*others, axis1, axis2))
    rows, columns = x.shape[axis1], x.shape[axis2]
    first_row, first_column = max(-offset, 0), max(offset, 0)
    length = max(0, min(rows - first_row, columns - first_column))
    if length == 0:
        return xp.zeros((*moved.shape[:-2], 0), dtype=x.dtype, device=creation_device(x))
    flat = xp.reshape(moved, (*moved.shape[:-2], rows * columns))
    start = first_row * columns + first_column
    steps = xp.arange(length, device=creation_device(x))
    return xp.take(flat, steps * (columns + 1) + start, axis=-1)


def _standard_diagonal_embed(
    xp: Any, x: Any, shape: tuple[int, ...], offset: int, axis1: int, axis2: int
) -> Any:
    """DiagonalEmbed's output in standard functions: each row of the matrix of axis1 and
    axis2 takes the entry of x on that row's diagonal place (`take`), and `where` keeps it on
    the diagonal and puts 0 elsewhere (no writes into an array)."""
    axis1, axis2 = axis1 % len(shape), axis2 % len(shape)
    others = tuple(axis for axis in range(len(shape)) if axis not in (axis1, axis2))
    order = (*others, axis1, axis2)
    rows, columns = shape[axis1], shape[axis2]
    length = x.shape[-1]
    if length == 0:
        return xp.zeros(shape, dtype=x.dtype, device=creation_device(x))
    device = creation_device(x)
    row_steps = xp.arange(rows, device=device)
    column_steps = xp.arange(columns, device=device)
    on_diagonal = column_steps[None, :] - row_steps[:, None] == offset
    places = xp.clip(row_steps - max(-offset, 0), 0, length - 1)
    per_row = xp.take(x, places, axis=-1)
    moved = xp.where(on_diagonal, per_row[..., :, None], xp.zeros((), dtype=x.dtype, device=device))
    return xp.permute_dims(moved, tuple(order.index(axis) for axis in range(len(shape))))


def _move_diagonal_axes(x: np.ndarray, axis1: int, axis2: int) -> np.ndarray:
    """A view of x with axis1 and axis2 moved last, in that order."""
    return np.moveaxis(x, (axis1, axis2), (-2, -1))


def _diagonal_index(length: int, offset: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the diagonal `offset` above the main one (below if negative)."""
    steps = np.arange(length)
    return steps + max(-offset, 0), steps + max(offset, 0)


class Diagonal(Primitive):
    """z = the entries x[..., i, i + offset, ...] over axis1 and axis2, as z's last axis
    (NumPy's diagonal: a read-only view of x);  dL/dx = grad_out placed on that diagonal of
    an array of zeros of x's shape (DiagonalEmbed)."""

    name = "diagonal"
    returns_view = True
    reading = Rule(
        "$a.diagonal($offset, $axis1, $axis2)",
        r"\operatorname{diag}_{$offset}($a)",
        (
            linear_map(
                ". placed on diagonal $offset of zeros shaped $in_shape",
                r"\operatorname{diag}^\top(\cdot)",
            ),
        ),
    )

    @staticmethod
    def forward(x: Any, *, offset: int, axis1: int, axis2: int) -> tuple[Any, Saved]:
        saved = (x.shape, offset, axis1, axis2)
        if not is_array(x):
            return call(Diagonal, x, offset=offset, axis1=axis1, axis2=axis2), saved
        xp = namespace(x)
        if not is_numpy(xp):
            return _standard_diagonal(xp, x, offset, axis1, axis2), saved
        return np.diagonal(x, offset, axis1, axis2), saved

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        shape, offset, axis1, axis2 = saved
        return (
            call(DiagonalEmbed, grad_out, shape=shape, offset=offset, axis1=axis1, axis2=axis2),
        )


class DiagonalEmbed(Primitive):
    """z = zeros of `shape` with x's last axis written on the diagonal `offset` of axis1 and
    axis2 (the adjoint of Diagonal, and diag of a vector);  dL/dx = that diagonal of
    grad_out."""

    name = "diagonal_embed"
    reading = Rule(
        "diagonal_embed($a, $shape, $offset)",
        r"\operatorname{diag}^\top_{$offset}($a)",
        (linear_map("diagonal $offset of .", r"\operatorname{diag}(\cdot)"),),
    )

    @staticmethod
    def forward(
        x: Any, *, shape: tuple[int, ...], offset: int, axis1: int, axis2: int
    ) -> tuple[Any, Saved]:
        saved = (offset, axis1, axis2)
        if not is_array(x):
            return call(
                DiagonalEmbed, x, shape=shape, offset=offset, axis1=axis1, axis2=axis2
            ), saved
        xp = namespace(x)
        if not is_numpy(xp):
            return _standard_diagonal_embed(xp, x, shape, offset, axis1, axis2), saved
        out = np.zeros(shape, dtype=x.dtype)
        rows, columns = _diagonal_index(x.shape[-1], offset)
        _move_diagonal_axes(out, axis1, axis2)[..., rows, columns] = x
        return out, saved

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        offset, axis1, axis2 = saved
        return (call(Diagonal, grad_out, offset=offset, axis1=axis1, axis2=axis2),)


class Tril(Primitive):
    """z = x with the entries above diagonal k of its last two axes set to 0 (np.tril);
    dL/dx = tril(grad_out, k): a mask is its own adjoint."""

    name = "tril"
    reading = Rule(
        "tril($a, $k)",
        r"\operatorname{tril}_{$k}($a)",
        (linear_map("tril(., $k)", r"\operatorname{tril}_{$k}(\cdot)"),),
    )

    @staticmethod
    def forward(x: Any, *, k: int) -> tuple[Any, Saved]:
        if not is_array(x):
            return call(Tril, x, k=k), k
        return namespace(x).tril(x, k=k), k

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        return (call(Tril, grad_out, k=saved),)


class Triu(Primitive):
    """z = x with the entries below diagonal k of its last two axes set to 0 (np.triu);
    dL/dx = triu(grad_out, k): a mask is its own adjoint."""

    name = "triu"
    reading = Rule(
        "triu($a, $k)",
        r"\operatorname{triu}_{$k}($a)",
        (linear_map("triu(., $k)", r"\operatorname{triu}_{$k}(\cdot)"),),
    )

    @staticmethod
    def forward(x: Any, *, k: int) -> tuple[Any, Saved]:
        if not is_array(x):
            return call(Triu, x, k=k), k
        return namespace(x).triu(x, k=k), k

    @staticmethod
    def vjp(saved: Saved, grad_out: Any, needs: tuple[bool, ...]) -> Grads:
        return (call(Triu, grad_out, k=saved),)
