"""The local derivatives of a @ b written for the operands' shapes, as NumPy's `matmul` reads
them: a 1-D a is a row and a 1-D b a column whose added axis is dropped again, so a rule
with a 1-D operand is an outer product or a scaling, never `a.T @ .` (the transpose of a
1-D array is the array itself); stacked operands transpose their last two axes (`.mT`,
not `.T`, which reverses every axis) and the gradient of an operand broadcast along batch
axes is summed over them.

Each rule is a NumPy expression in the operand names, `.` (the upstream gradient), `sum`
(`np.sum`) and `outer` (`np.outer`); `tests/explanation/test_explain_matmul_rules.py`
evaluates them.
"""

from __future__ import annotations

import numpy as np

Shape = tuple[int, ...]

_SWAPS = (r"\text{ (}{}^\top\text{ swaps the last two axes)}", "")


def _axes(axes: tuple[int, ...]) -> str:
    return str(axes[0]) if len(axes) == 1 else str(axes)


def _batch(shape: Shape) -> Shape:
    return shape[:-2] if len(shape) >= 2 else ()


def summed_back(core: str, core_latex: str, own: Shape, full: Shape) -> tuple[str, str]:
    """`core`, of shape `full`, summed back to `own`, which broadcasts to it: the leading
    axes `own` lacks are summed away, and its size-1 axes summed with keepdims (without it,
    a (1, 4) operand would be handed a (4,) gradient)."""
    lead = len(full) - len(own)
    dropped = tuple(range(lead))
    ones = tuple(i for i, size in enumerate(own) if size == 1 and full[lead + i] != 1)
    text, tex = core, core_latex
    if dropped:
        text = f"sum({text}, axis={_axes(dropped)})"
        tex = rf"\textstyle\sum_{{\text{{axis }}{_axes(dropped)}}} {tex}"
    if ones:
        text = f"sum({text}, axis={_axes(ones)}, keepdims=True)"
        tex = rf"\textstyle\sum_{{\text{{axis }}{_axes(ones)}\text{{, kept}}}} {tex}"
    return text, tex


def _summed(core: str, core_latex: str, operand: Shape, out_batch: Shape) -> tuple[str, str]:
    """`core` (of batch shape `out_batch`) summed back to `operand`'s batch axes."""
    if _batch(operand) == out_batch:
        return core, core_latex
    return summed_back(core, rf"\left({core_latex}\right)", _batch(operand), out_batch)


def matmul_rules(
    a: str, b: str, a_latex: str, b_latex: str, a_shape: Shape, b_shape: Shape
) -> tuple[tuple[str, str], tuple[str, str]]:
    """((text, LaTeX) of dloss/da, (text, LaTeX) of dloss/db) for z = a @ b, each acting
    on the upstream gradient `.` of z's shape and giving the operand's shape."""
    na, nb = len(a_shape), len(b_shape)
    out_batch = np.broadcast_shapes(_batch(a_shape), _batch(b_shape))
    batched = na > 2 or nb > 2
    note = _SWAPS[0] if batched else _SWAPS[1]
    g = r"(\cdot)"
    if na == 1 and nb == 1:  # a dot product: a scalar upstream gradient scales the other
        return (f". * {b}", rf"{g}\, {b_latex}"), (f". * {a}", rf"{g}\, {a_latex}")
    if na == 1:
        if nb == 2:
            left = (f". @ {b}.T", rf"{g}\, {b_latex}^\top")
            right = (f"outer({a}, .)", rf"{a_latex}\, {g}^\top")
        else:
            left = _summed(
                f"(.[..., None, :] @ {b}.mT)[..., 0, :]",
                rf"{g}\, {b_latex}^\top{note}",
                a_shape,
                out_batch,
            )
            right = _summed(
                f"{a}[:, None] @ .[..., None, :]", rf"{a_latex}\, {g}^\top", b_shape, out_batch
            )
        return left, right
    if nb == 1:
        if na == 2:
            left = (f"outer(., {b})", rf"{g}\, {b_latex}^\top")
            right = (f"{a}.T @ .", rf"{a_latex}^\top {g}")
        else:
            left = _summed(
                f".[..., None] @ {b}[None, :]", rf"{g}\, {b_latex}^\top", a_shape, out_batch
            )
            right = _summed(
                f"({a}.mT @ .[..., None])[..., 0]",
                rf"{a_latex}^\top {g}{note}",
                b_shape,
                out_batch,
            )
        return left, right
    b_t = f"{b}.T" if nb == 2 else f"{b}.mT"
    a_t = f"{a}.T" if na == 2 else f"{a}.mT"
    left = _summed(f". @ {b_t}", rf"{g}\, {b_latex}^\top{note}", a_shape, out_batch)
    right = _summed(f"{a_t} @ .", rf"{a_latex}^\top {g}{note}", b_shape, out_batch)
    return left, right
