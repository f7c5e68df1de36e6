"""Linear algebra with NumPy's rules: einsum, dot, inner, outer, tensordot, trace, diagonal,
diag, tril, triu and kron, taking Tensors or array-likes. einsum and the diagonal are
primitives (chainrule.primitives.linalg_more), as are tril and triu; the rest are built
exactly from them and from matmul, multiply and reshape, so their derivatives come for free.
`NUMPY_FUNCTIONS` lists the NumPy functions that dispatch here (np.dot(t, u), np.einsum(...)).
"""

from __future__ import annotations

import builtins
import operator
import string
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from chainrule import primitives as P
from chainrule.modes import CompileError
from chainrule.ops.operators import _operand
from chainrule.primitives.linalg_more import Optimize
from chainrule.tensor import Tensor, as_tensor

_STRATEGIES = ("greedy", "optimal")


def _tensors(op: str, values: Sequence[Any]) -> tuple[Tensor, ...]:
    """The operands as Tensors: a number or integer array takes the dtype of the first
    Tensor among them (as the operands of `*` and `@` do)."""
    if not values:
        raise ValueError(f"{op}: needs at least one operand")
    like = next((value for value in values if isinstance(value, Tensor)), None)
    if like is None:
        return tuple(as_tensor(value) for value in values)
    return tuple(_operand(value, like) for value in values)


def _pair(op: str, a: Any, b: Any) -> tuple[Tensor, Tensor]:
    left, right = _tensors(op, (a, b))
    return left, right


# ------------------------------------------------------------------ einsum
def _letters(op: str, sublist: Any) -> str:
    """An interleaved-form sublist ([0, 1], [Ellipsis, 1]) as subscripts, with NumPy's
    numbering: 0-25 are A-Z and 26-51 are a-z."""
    labels = []
    for label in sublist:
        if label is Ellipsis:
            labels.append("...")
        elif isinstance(label, (int, np.integer)) and 0 <= label < 52:
            labels.append(string.ascii_letters[(int(label) + 26) % 52])
        else:
            raise ValueError(
                f"{op}: subscript {label!r} in {list(sublist)} is not an integer in [0, 52) or "
                "Ellipsis"
            )
    return "".join(labels)


def _einsum_arguments(operands: tuple[Any, ...]) -> tuple[str, tuple[Any, ...]]:
    """(subscripts, operands) from NumPy's two forms of call: einsum('ij,jk', a, b) and the
    interleaved einsum(a, [0, 1], b, [1, 2], [0, 2])."""
    if not operands:
        raise ValueError("einsum: needs subscripts and at least one operand")
    if isinstance(operands[0], str):
        return operands[0].replace(" ", ""), operands[1:]
    values = operands[0::2] if len(operands) % 2 == 0 else operands[:-1:2]
    sublists = operands[1::2]
    subscripts = ",".join(_letters("einsum", sublist) for sublist in sublists)
    if len(operands) % 2:
        subscripts += "->" + _letters("einsum", operands[-1])
    return subscripts, values


def _split_ellipsis(subscripts: str, term: str, where: str) -> tuple[str, str, bool]:
    """(labels before '...', labels after, whether it holds '...') of one term."""
    head, dots, tail = term.partition("...")
    if "." in head + tail or (not builtins.all(c in string.ascii_letters for c in head + tail)):
        raise ValueError(
            f"einsum: subscripts {subscripts!r}: {where} {term!r} may hold letters and one "
            "'...' only"
        )
    return head, tail, bool(dots)


def _normalize_einsum(
    subscripts: str, shapes: Sequence[tuple[int, ...]]
) -> tuple[str, list[tuple[int, ...]]]:
    """NumPy's subscripts for operands of these shapes made explicit, every axis named by a
    letter ('...' and an implicit output spelled out), and the shape each operand is
    broadcast to first (its size-1 axes stretched to the size its label has elsewhere)."""
    inputs_part, arrow, output_part = subscripts.partition("->")
    if "-" in inputs_part + output_part or ">" in inputs_part + output_part:
        raise ValueError(
            f"einsum: subscripts {subscripts!r} may hold one '->' (before the output) only"
        )
    terms = inputs_part.split(",")
    if len(terms) != len(shapes):
        raise ValueError(
            f"einsum: subscripts {subscripts!r} name {len(terms)} operand(s) but "
            f"{len(shapes)} were given"
        )
    fresh = [c for c in string.ascii_letters if c not in subscripts]
    parts = [_split_ellipsis(subscripts, term, "operand term") for term in terms]
    ellipsis_ndims = []
    for position, ((head, tail, dots), shape) in enumerate(zip(parts, shapes, strict=True)):
        named = len(head) + len(tail)
        if (len(shape) != named and not dots) or len(shape) < named:
            raise ValueError(
                f"einsum: operand {position} has shape {shape} ({len(shape)} axes) but its "
                f"subscripts {terms[position]!r} name {named}"
                + ("" if dots else "; add '...' to stand for the others")
            )
        ellipsis_ndims.append(len(shape) - named)
    rank = builtins.max(ellipsis_ndims, default=0)
    if rank > len(fresh):
        raise ValueError(f"einsum: subscripts {subscripts!r} leave too few free letters")
    broadcast_labels = "".join(fresh[:rank])
    full_terms = [
        head + broadcast_labels[rank - ndim :] + tail
        for (head, tail, _), ndim in zip(parts, ellipsis_ndims, strict=True)
    ]
    if arrow:
        head, tail, dots = _split_ellipsis(subscripts, output_part, "output")
        if rank and not dots:
            raise ValueError(
                f"einsum: subscripts {subscripts!r}: the operands have axes under '...' but "
                "the output has no '...' to put them"
            )
        output = head + broadcast_labels + tail
    else:
        counts = "".join(head + tail for head, tail, _ in parts)
        output = broadcast_labels + "".join(sorted(c for c in set(counts) if counts.count(c) == 1))
    for letter in output:
        if output.count(letter) > 1:
            raise ValueError(f"einsum: subscripts {subscripts!r} repeat {letter!r} in the output")
        if not any(letter in term for term in full_terms):
            raise ValueError(
                f"einsum: subscripts {subscripts!r}: output label {letter!r} names no axis of "
                "an operand"
            )
    return ",".join(full_terms) + "->" + output, _broadcast_targets(subscripts, full_terms, shapes)


def _broadcast_targets(
    subscripts: str, terms: Sequence[str], shapes: Sequence[tuple[int, ...]]
) -> list[tuple[int, ...]]:
    """Each operand's shape with its size-1 axes stretched to its label's size elsewhere, as
    NumPy's einsum broadcasts them; a ValueError naming the label where sizes disagree."""
    sizes: dict[str, tuple[int, int]] = {}
    for position, (term, shape) in enumerate(zip(terms, shapes, strict=True)):
        own: dict[str, int] = {}
        for letter, size in zip(term, shape, strict=True):
            if own.setdefault(letter, size) != size:
                raise ValueError(
                    f"einsum: subscripts {subscripts!r}: operand {position} of shape {shape} "
                    f"repeats label {letter!r} over axes of sizes {own[letter]} and {size}; a "
                    "repeated label takes a diagonal, whose axes must have the same size"
                )
            known = sizes.get(letter)
            if known is None or known[0] == 1:
                sizes[letter] = (size, position)
            elif size not in (1, known[0]):
                raise ValueError(
                    f"einsum: subscripts {subscripts!r}: label {letter!r} has size {known[0]} "
                    f"in operand {known[1]} (shape {shapes[known[1]]}) but {size} in operand "
                    f"{position} (shape {shape}); sizes of one label must match (or be 1)"
                )
    return [tuple(sizes[letter][0] for letter in term) for term in terms]


def _check_path(path: Sequence[Any], count: int) -> tuple[Any, ...]:
    """An explicit path ("einsum_path", (0, 1), ...) for `count` operands as a hashable tuple
    of tuples (NumPy accepts lists too); a ValueError unless each step names distinct
    operands among those left and the steps end with one."""
    steps = []
    left = count
    for step in path[1:]:
        try:
            positions = tuple(operator.index(position) for position in step)
        except TypeError:
            positions = ()
        if not positions or len(set(positions)) != len(positions):
            left = -1
        elif builtins.all(0 <= position < left for position in positions):
            left -= len(positions) - 1
        else:
            left = -1
        if left < 1:
            break
        steps.append(positions)
    if left != 1:
        raise ValueError(
            f"einsum: optimize={list(path)!r} is not a contraction path for {count} operand(s): "
            "each step lists distinct positions among the operands left (a contraction puts "
            "its result last), and the steps must end with one; take it from np.einsum_path"
        )
    return ("einsum_path", *steps)


def _check_optimize(optimize: Any, count: int) -> Optimize:
    if optimize is True:
        return "greedy"
    if optimize is False:
        return False
    if isinstance(optimize, str) and optimize in _STRATEGIES:
        return optimize
    if isinstance(optimize, (list, tuple)) and optimize and optimize[0] == "einsum_path":
        return _check_path(optimize, count)
    raise ValueError(
        f"einsum: optimize={optimize!r} is not a strategy; give False, True, 'greedy', "
        "'optimal' or a path from np.einsum_path"
    )


def einsum(*operands: Any, optimize: Any = "greedy") -> Tensor:
    """Einstein summation, as np.einsum: einsum('ij,jk->ik', a, b) is a @ b, 'ii' a trace,
    'ii->i' a diagonal, 'i,j->ij' an outer product, '...ij,...jk' a batched product; the
    interleaved form einsum(a, [0, 1], b, [1, 2], [0, 2]) too. Without '->' the output holds
    the labels that appear once, in alphabetical order (after '...'). A label of size 1
    broadcasts against the same label's size in another operand.

    Contractions run in the order np.einsum_path picks (`optimize`: 'greedy' by default,
    'optimal', True, False or an explicit path). dL/d(operand) = einsum of grad_out with the
    other operands into that operand's labels (see primitives.linalg_more.Einsum).
    """
    subscripts, values = _einsum_arguments(operands)
    strategy = _check_optimize(optimize, len(values))
    tensors = _tensors("einsum", values)
    shapes = [t.shape for t in tensors]
    explicit, targets = _normalize_einsum(subscripts, shapes)
    stretched = tuple(
        t if t.shape == target else t.broadcast_to(target)
        for t, target in zip(tensors, targets, strict=True)
    )
    try:
        return Tensor._apply(P.Einsum, stretched, {"subscripts": explicit, "optimize": strategy})
    except CompileError:
        raise
    except ValueError as error:
        shown = ", ".join(str(shape) for shape in shapes)
        raise ValueError(
            f"einsum: subscripts {subscripts!r} on operands of shapes {shown}: {error}"
        ) from None


def _einsum_call(subscripts: str, *operands: Tensor) -> Tensor:
    """A contraction whose subscripts the caller built (explicit, every size checked)."""
    return Tensor._apply(P.Einsum, operands, {"subscripts": subscripts, "optimize": "greedy"})


# ------------------------------------------------------------------ products
def dot(a: Any, b: Any) -> Tensor:
    """The dot product with np.dot's rules: a * b if either is 0-d; a @ b for 1-D and 2-D
    operands; otherwise the sum over the last axis of a and the second-to-last of b
    (b's last if b is 1-D): dot(a, b)[i, j, k, m] = sum(a[i, j, :] * b[k, :, m]), every
    axis of a before every axis of b, not matmul's broadcast batches.

    dL/da = grad_out contracted with b over b's free axes, dL/db likewise with a."""
    left, right = _pair("dot", a, b)
    if left.ndim == 0 or right.ndim == 0:
        return left * right
    inner_b = 0 if right.ndim == 1 else right.ndim - 2
    if left.shape[-1] != right.shape[inner_b]:
        raise ValueError(
            f"dot: shapes {left.shape} and {right.shape} are not aligned: the last axis of "
            f"a ({left.shape[-1]}) must match the {'' if right.ndim == 1 else 'second-to-'}"
            f"last axis of b ({right.shape[inner_b]}); transpose one, or use matmul for "
            "batches that broadcast"
        )
    if left.ndim <= 2 and right.ndim <= 2:
        return Tensor._apply(P.MatMul, (left, right), {})
    letters = iter(string.ascii_letters)
    free_a = "".join(next(letters) for _ in range(left.ndim - 1))
    summed = next(letters)
    term_b = "".join(summed if axis == inner_b else next(letters) for axis in range(right.ndim))
    output = free_a + term_b.replace(summed, "")
    return _einsum_call(f"{free_a}{summed},{term_b}->{output}", left, right)


def inner(a: Any, b: Any) -> Tensor:
    """np.inner: a * b if either is 0-d, else the sum over the last axes of both,
    inner(a, b)[i, j] = sum(a[i, :] * b[j, :]) (every axis of a, then every axis of b).

    dL/da = grad_out contracted with b over b's leading axes, dL/db likewise with a."""
    left, right = _pair("inner", a, b)
    if left.ndim == 0 or right.ndim == 0:
        return left * right
    if left.shape[-1] != right.shape[-1]:
        raise ValueError(
            f"inner: shapes {left.shape} and {right.shape} do not match in their last axes "
            f"({left.shape[-1]} and {right.shape[-1]}), which inner sums over"
        )
    letters = iter(string.ascii_letters)
    free_a = "".join(next(letters) for _ in range(left.ndim - 1))
    free_b = "".join(next(letters) for _ in range(right.ndim - 1))
    summed = next(letters)
    return _einsum_call(f"{free_a}{summed},{free_b}{summed}->{free_a}{free_b}", left, right)


def outer(a: Any, b: Any) -> Tensor:
    """np.outer: out[i, j] = a.ravel()[i] * b.ravel()[j] (both flattened first);
    dL/da = (grad_out @ b.ravel()) in a's shape, dL/db = (a.ravel() @ grad_out) in b's."""
    left, right = _pair("outer", a, b)
    return left.reshape(-1, 1) * right.reshape(1, -1)


def _axis_tuple(axes: Any) -> tuple[int, ...]:
    if isinstance(axes, (int, np.integer)):
        return (int(axes),)
    return tuple(operator.index(axis) for axis in axes)


def _paired_axes(shapes: str, axes: Any, left: Tensor, right: Tensor) -> tuple[Any, Any]:
    """np.tensordot's `axes` as two tuples of non-negative axes, in range and not repeated."""
    if isinstance(axes, (int, np.integer)):
        count = int(axes)
        if not 0 <= count <= builtins.min(left.ndim, right.ndim):
            raise ValueError(
                f"{shapes}: axes={count} asks for the last {count} axes of a and the first "
                f"{count} of b"
            )
        return tuple(range(left.ndim - count, left.ndim)), tuple(range(count))
    try:
        first, second = axes
        axes_a, axes_b = _axis_tuple(first), _axis_tuple(second)
    except (TypeError, ValueError):
        raise ValueError(
            f"tensordot: axes={axes!r} must be an integer or a pair of sequences of integer axes"
        ) from None
    if len(axes_a) != len(axes_b):
        raise ValueError(f"{shapes}: axes {axes_a} of a and {axes_b} of b differ in number")
    for axis, shape in [(x, left.shape) for x in axes_a] + [(x, right.shape) for x in axes_b]:
        if not -len(shape) <= axis < len(shape):
            raise ValueError(f"{shapes}: axis {axis} is out of range for a tensor of shape {shape}")
    axes_a = tuple(axis % left.ndim for axis in axes_a)
    axes_b = tuple(axis % right.ndim for axis in axes_b)
    if len(set(axes_a)) != len(axes_a) or len(set(axes_b)) != len(axes_b):
        raise ValueError(f"{shapes}: axes {axes_a} and {axes_b} repeat an axis")
    return axes_a, axes_b


def _tensordot_axes(
    axes: Any, left: Tensor, right: Tensor
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """np.tensordot's `axes` as two tuples of non-negative axes, checked, sizes included."""
    shapes = f"tensordot: shapes {left.shape} and {right.shape}"
    axes_a, axes_b = _paired_axes(shapes, axes, left, right)
    for x, y in zip(axes_a, axes_b, strict=True):
        if left.shape[x] != right.shape[y]:
            raise ValueError(
                f"{shapes}: axis {x} of a has size {left.shape[x]} but axis {y} of b has "
                f"size {right.shape[y]}; paired axes must have the same size"
            )
    return axes_a, axes_b


def tensordot(a: Any, b: Any, axes: Any = 2) -> Tensor:
    """np.tensordot: the sum of products over axes[0] of a paired with axes[1] of b (an
    integer N pairs the last N axes of a with the first N of b); the output holds a's other
    axes, then b's. dL/da = grad_out contracted with b over b's other axes, and likewise."""
    left, right = _pair("tensordot", a, b)
    axes_a, axes_b = _tensordot_axes(axes, left, right)
    letters = iter(string.ascii_letters)
    term_a = [next(letters) for _ in range(left.ndim)]
    term_b = [next(letters) for _ in range(right.ndim)]
    for x, y in zip(axes_a, axes_b, strict=True):
        term_b[y] = term_a[x]
    output = [c for i, c in enumerate(term_a) if i not in axes_a]
    output += [c for i, c in enumerate(term_b) if i not in axes_b]
    subscripts = f"{''.join(term_a)},{''.join(term_b)}->{''.join(output)}"
    return _einsum_call(subscripts, left, right)


def kron(a: Any, b: Any) -> Tensor:
    """np.kron, the Kronecker product: with both padded to the same number of axes by
    leading 1s, out[i * n + k, ...] = a[i, ...] * b[k, ...] along every axis (n = b's
    size there). Built as a broadcast product of interleaved axes, reshaped."""
    left, right = _pair("kron", a, b)
    ndim = builtins.max(left.ndim, right.ndim)
    shape_a = (1,) * (ndim - left.ndim) + left.shape
    shape_b = (1,) * (ndim - right.ndim) + right.shape
    spread_a = tuple(size for n in shape_a for size in (n, 1))
    spread_b = tuple(size for n in shape_b for size in (1, n))
    product = left.reshape(spread_a) * right.reshape(spread_b)
    return product.reshape(tuple(m * n for m, n in zip(shape_a, shape_b, strict=True)))


# ------------------------------------------------------------------ diagonals
def _integer(op: str, name: str, value: Any) -> int:
    """`value` as an int, or a TypeError naming the op: int() would truncate 1.5 to 1
    silently, where NumPy's diagonal and PyTorch refuse it (and np.tril reads k=-1.5 as -2)."""
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(
            f"{op}: {name}={value!r} is not an integer; diagonals are counted in whole steps, "
            f"so pass an int (round it yourself, e.g. {name}=round({name}), if that is meant)"
        ) from None


def _diagonal_axes(op: str, x: Tensor, axis1: int, axis2: int) -> tuple[int, int]:
    if x.ndim < 2:
        raise ValueError(
            f"{op}: needs at least 2 dimensions, the tensor has shape {x.shape}"
            + (
                "; for a matrix with this vector on its diagonal use chainrule.diag"
                if x.ndim == 1
                else ""
            )
        )
    axis1, axis2 = _integer(op, "axis1", axis1), _integer(op, "axis2", axis2)
    for axis in (axis1, axis2):
        if not -x.ndim <= axis < x.ndim:
            raise ValueError(
                f"{op}: axis {axis} is out of range for a tensor of shape {x.shape} "
                f"(valid: {-x.ndim} to {x.ndim - 1})"
            )
    first, second = axis1 % x.ndim, axis2 % x.ndim
    if first == second:
        raise ValueError(f"{op}: axis1 and axis2 name the same axis ({axis1}, {axis2})")
    return first, second


def diagonal(a: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
    """np.diagonal: the entries a[..., i, i + offset, ...] over axis1 and axis2 (below the
    main diagonal for a negative offset), as the last axis of the result. As NumPy's, the
    result is a read-only view: in-place changes of it are refused.

    dL/da = grad_out placed on that diagonal of zeros shaped as a."""
    x = as_tensor(a)
    first, second = _diagonal_axes("diagonal", x, axis1, axis2)
    return Tensor._apply(
        P.Diagonal,
        (x,),
        {"offset": _integer("diagonal", "offset", offset), "axis1": first, "axis2": second},
    )


def trace(a: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
    """np.trace: the sum of diagonal(a, offset, axis1, axis2) along its last axis;
    dL/da = grad_out on that diagonal, 0 elsewhere."""
    x = as_tensor(a)
    first, second = _diagonal_axes("trace", x, axis1, axis2)
    diagonal_values = Tensor._apply(
        P.Diagonal,
        (x,),
        {"offset": _integer("trace", "offset", offset), "axis1": first, "axis2": second},
    )
    return diagonal_values.sum(axis=-1)


def diag(v: Any, k: int = 0) -> Tensor:
    """np.diag: of a 1-D v, the square matrix with v on diagonal k (above the main one for
    k > 0) and zeros elsewhere; of a 2-D v, its diagonal k. The two are each other's
    adjoint: the gradient of one is the other applied to grad_out."""
    x = as_tensor(v)
    k = _integer("diag", "k", k)
    if x.ndim == 1:
        size = x.shape[0] + builtins.abs(k)
        return Tensor._apply(
            P.DiagonalEmbed,
            (x,),
            {"shape": (size, size), "offset": k, "axis1": 0, "axis2": 1},
        )
    if x.ndim == 2:
        return Tensor._apply(P.Diagonal, (x,), {"offset": k, "axis1": 0, "axis2": 1})
    raise ValueError(
        f"diag: the input has shape {x.shape}; diag takes a 1-D tensor (to build a matrix) "
        "or a 2-D one (to take its diagonal); use chainrule.diagonal for more dimensions"
    )


def _triangle(primitive: type[P.Primitive], m: Any, k: int) -> Tensor:
    x = as_tensor(m)
    if x.ndim < 2:
        raise ValueError(
            f"{primitive.name}: needs at least 2 dimensions (a matrix, or a stack of them over "
            f"the last two axes); the tensor has shape {x.shape}"
        )
    return Tensor._apply(primitive, (x,), {"k": _integer(primitive.name, "k", k)})


def tril(m: Any, k: int = 0) -> Tensor:
    """np.tril over the last two axes: the entries on and below diagonal k kept, the others
    0 (even where they are inf or nan); dL/dm = tril(grad_out, k)."""
    return _triangle(P.Tril, m, k)


def triu(m: Any, k: int = 0) -> Tensor:
    """np.triu over the last two axes: the entries on and above diagonal k kept, the others
    0 (even where they are inf or nan); dL/dm = triu(grad_out, k)."""
    return _triangle(P.Triu, m, k)


def _numpy_einsum(operands: tuple[Any, ...], optimize: Any = "greedy") -> Tensor:
    return einsum(*operands, optimize=optimize)


NUMPY_FUNCTIONS: tuple[tuple[Callable[..., Any], Callable[..., Any], str], ...] = (
    (np.dot, dot, "a b"),
    (np.inner, inner, "a b"),
    (np.outer, outer, "a b"),
    (np.tensordot, tensordot, "a b axes"),
    (np.einsum, _numpy_einsum, "operands optimize"),
    (np.kron, kron, "a b"),
    (np.trace, trace, "a offset axis1 axis2"),
    (np.diagonal, diagonal, "a offset axis1 axis2"),
    (np.diag, diag, "v k"),
    (np.tril, tril, "m k"),
    (np.triu, triu, "m k"),
)
"""(NumPy function, implementation, the parameters passed on) as ops.dispatch reads them:
NumPy's own names, so each call binds as NumPy binds it; any other argument is refused."""
