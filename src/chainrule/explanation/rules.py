"""The table of local derivatives, in words, gathered from the primitives' own readings
(`Primitive.reading`, see `chainrule.primitives.reading`), and the fields that fill their
templates for one op in a graph.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from string import Template
from typing import Any

import numpy as np

from chainrule import primitives as P
from chainrule.explanation.matmul_rules import matmul_rules, summed_back
from chainrule.explanation.nll_rules import nll_rules
from chainrule.primitives.linalg import AFFINE
from chainrule.primitives.reading import Kind, Local, Rule, linear_map

__all__ = ["AFFINE", "RULES", "Kind", "Local", "Rule", "fill", "rule_for", "template_fields"]

RULES: dict[type[P.Primitive], Rule] = {
    primitive: primitive.reading for primitive in P.PRIMITIVES if primitive.reading is not None
}
"""Every primitive's reading, as it declares it (`Primitive.reading`)."""


def rule_for(primitive: type[P.Primitive]) -> Rule:
    """The rule of `primitive`; a primitive missing from the table reads as its name."""
    rule = RULES.get(primitive)
    if rule is not None:
        return rule
    name = primitive.name
    return Rule(
        f"{name}($args)",
        rf"\operatorname{{{name}}}($args)",
        (linear_map(f"vjp of {name}", rf"\operatorname{{vjp}}_{{{name}}}(\cdot)"),),
    )


def _power_rules(exponent: float, operand: str, operand_latex: str) -> tuple[str, str]:
    if exponent == 1:
        return "1", "1"
    if exponent == 2:
        return f"2 * {operand}", f"2 {operand_latex}"
    lower = _number(exponent - 1)
    return (
        f"{_number(exponent)} * {operand}**{lower}",
        f"{_number(exponent)}\\, {operand_latex}^{{{lower}}}",
    )


def _number(value: Any) -> str:
    if value is None:
        return "None"
    return f"{float(value):g}"


def _clip_masks(low: Any, high: Any, operand: str, operand_latex: str) -> tuple[str, str]:
    """clip's mask, [low <= a <= high], with an absent bound left out: [None <= a] would
    not say that there is no lower bound."""
    text, tex = operand, operand_latex
    if low is not None:
        text, tex = f"{_number(low)} <= {text}", rf"{_number(low)} \le {tex}"
    if high is not None:
        text, tex = f"{text} <= {_number(high)}", rf"{tex} \le {_number(high)}"
    return text, tex


def _bias_rules(bias_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> tuple[str, str]:
    if bias_shape == out_shape:
        return ".", r"(\cdot)"
    return summed_back(".", r"(\cdot)", bias_shape, out_shape)


def template_fields(
    primitive: type[P.Primitive] | None,
    params: Mapping[str, Any],
    operands: Sequence[str],
    operands_latex: Sequence[str],
    shapes: Sequence[tuple[int, ...]],
    out_shape: tuple[int, ...],
    latex: bool,
) -> dict[str, str]:
    """The values of every template field for one op; `primitive` None means the affine
    group. Operand names are given plainly and in LaTeX; `latex` picks which fill $a, $b."""
    names = operands_latex if latex else operands
    fields = {key: names[i] for i, key in enumerate("abc") if i < len(names)}
    fields["args"] = ", ".join(names)
    in_size = int(np.prod(shapes[0])) if shapes else 1
    out_size = int(np.prod(out_shape))
    fields["n"] = str(in_size // out_size if out_size else in_size)
    fields["in_shape"] = str(shapes[0]) if shapes else "()"
    axis = params.get("axis")
    fields["axis"] = str(axis)
    fields["axis_arg"] = "" if axis is None else f", axis={axis}"
    if params.get("keepdims"):
        # The call as NumPy writes it: without keepdims the result broadcasts differently.
        fields["axis_arg"] += ", keepdims=True"
    # A reduction's factor compares or divides each entry by the reduction along the same
    # axis, kept so that it broadcasts against the operand: max(a, axis=1) alone would be
    # read as the maximum of the whole array.
    fields["axis_kept"] = "" if axis is None else f", axis={axis}, keepdims=True"
    fields["axis_sub"] = "" if axis is None else rf"_{{\text{{axis }}{axis}}}"
    fields["axis_along"] = "" if axis is None else rf"\ \text{{(axis {axis})}}"
    for key in ("shape", "axes", "index", "dtype"):
        fields[key] = str(params.get(key))
    if "index" in params:
        fields["index"] = index_text(params["index"])
    fields["low"] = _number(params.get("low"))
    fields["high"] = _number(params.get("high"))
    if primitive is P.Clip:
        fields["clip_mask"], fields["clip_mask_latex"] = _clip_masks(
            params.get("low"), params.get("high"), operands[0], operands_latex[0]
        )
    # --- shape (issue 14): the parameters of roll, tile, repeat and pad
    for key in ("shift", "reps", "repeats", "pad_width", "mode"):
        fields[key] = str(params.get(key))
    shift = params.get("shift")
    if shift is not None:
        # roll's vjp rolls back by the negated shift: -(1, 2) is no shift NumPy reads.
        back = -int(shift) if np.ndim(shift) == 0 else tuple(-int(s) for s in shift)
        fields["shift_back"] = str(back)
    if primitive is P.PowScalar:
        exponent = params["exponent"]
        fields["exponent"] = _number(exponent)
        text, tex = _power_rules(exponent, operands[0], operands_latex[0])
        fields["power_rule"], fields["power_rule_latex"] = text, tex
    if primitive in (P.MSELoss,):
        fields["n"] = str(in_size)
    if primitive is P.SoftmaxCrossEntropy:
        fields["n"] = str(shapes[0][0])
    if primitive is None or primitive is P.Linear:
        fields["bias_rule"], fields["bias_rule_latex"] = _bias_rules(shapes[2], out_shape)
    if primitive is P.NLLLoss:
        fields["nll_rule"], fields["nll_rule_latex"] = nll_rules(params, shapes[0])
    if primitive is None or primitive is P.Linear or primitive is P.MatMul:
        # The rules of a @ b depend on the operands' ranks (1-D, 2-D, stacked).
        left, right = matmul_rules(
            operands[0], operands[1], operands_latex[0], operands_latex[1], shapes[0], shapes[1]
        )
        fields["left_rule"], fields["left_rule_latex"] = left
        fields["right_rule"], fields["right_rule_latex"] = right
    # --- linear algebra (issue 14)
    for key in ("subscripts", "offset", "axis1", "axis2", "k"):
        fields[key] = str(params.get(key))
    # --- review of issue 14: the p of a p-norm
    fields["ord"] = _number(params.get("ord"))
    return fields


def index_text(index: Any) -> str:
    """An index as Python writes it between the brackets: a[1:, :2], a[..., None], a[[0, 2]];
    a boolean mask by its shape, as its entries would not fit on a line."""
    parts = index if isinstance(index, tuple) else (index,)
    return ", ".join(_index_part(part) for part in parts)


def _index_part(part: Any) -> str:
    if isinstance(part, slice):
        start, stop = ("" if v is None else str(v) for v in (part.start, part.stop))
        return f"{start}:{stop}" + ("" if part.step is None else f":{part.step}")
    if part is Ellipsis:
        return "..."
    if isinstance(part, np.ndarray | list):
        array = np.asarray(part)
        if array.dtype == bool:
            return f"<boolean mask of shape {array.shape}>"
        return np.array2string(array, separator=", ", threshold=8)
    return str(part)


def fill(template: str, fields: Mapping[str, str], position: int = 0) -> str:
    """`template` with its fields filled in."""
    return Template(template).substitute({**fields, "i": str(position)})
