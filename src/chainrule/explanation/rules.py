"""The table of local derivatives, in words: for each primitive, how its formula reads and
how d(output)/d(input) reads, in plain text and in LaTeX.

Templates use string.Template fields: $a, $b, $c are the operand names (first, second,
third), $args all of them, $i the position of the operand being differentiated, and the
other fields come from the op's parameters (see `template_fields`). In a rule a lone "." (or
$(\\cdot)$ in LaTeX) stands for the upstream gradient the rule acts on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from string import Template
from typing import Any, Literal

import numpy as np

from chainrule import primitives as P

Kind = Literal["constant", "elementwise", "operator"]


@dataclass(frozen=True)
class Local:
    """d(output)/d(one input): its rule in text and LaTeX, and how it acts.

    "constant": the rule is a number (dloss/dinput = rule * upstream);
    "elementwise": an array the upstream gradient is multiplied by, entry by entry;
    "operator": a linear map applied to the upstream gradient (written with ".").
    """

    text: str
    latex: str
    kind: Kind


@dataclass(frozen=True)
class Rule:
    """How one op reads: its formula and one `Local` per input (the last one repeats for
    ops taking any number of inputs)."""

    formula: str
    formula_latex: str
    locals: tuple[Local, ...]
    checkable: bool = True

    def local(self, position: int) -> Local:
        return self.locals[min(position, len(self.locals) - 1)]


def _c(text: str, latex: str) -> Local:
    return Local(text, latex, "constant")


def _e(text: str, latex: str) -> Local:
    return Local(text, latex, "elementwise")


def _o(text: str, latex: str) -> Local:
    return Local(text, latex, "operator")


AFFINE = Rule(
    "$a @ $b + $c",
    r"$a $b + $c",
    (_o(". @ $b.T", r"(\cdot)\, $b^\top"), _o("$a.T @ .", r"$a^\top (\cdot)"),
     _o("$bias_rule", "$bias_rule_latex")),
)
"""x @ w + b, the tutorial's one substitution for the two recorded ops matmul and add."""

RULES: dict[type[P.Primitive], Rule] = {
    P.Add: Rule("$a + $b", "$a + $b", (_c("1", "1"), _c("1", "1"))),
    P.Sub: Rule("$a - $b", "$a - $b", (_c("1", "1"), _c("-1", "-1"))),
    P.Mul: Rule("$a * $b", r"$a \odot $b", (_e("$b", "$b"), _e("$a", "$a"))),
    P.Div: Rule("$a / $b", r"\frac{$a}{$b}",
                (_e("1 / $b", r"\frac{1}{$b}"), _e("-$a / $b**2", r"-\frac{$a}{$b^{2}}"))),
    P.Neg: Rule("-$a", "-$a", (_c("-1", "-1"),)),
    P.PowScalar: Rule("$a**$exponent", "$a^{$exponent}", (_e("$power_rule",
                                                               "$power_rule_latex"),)),
    P.Pow: Rule("$a**$b", "$a^{$b}", (_e("$b * $a**($b - 1)", "$b\\, $a^{$b - 1}"),
                                      _e("$a**$b * log($a)", r"$a^{$b} \log $a"))),
    P.Exp: Rule("exp($a)", r"\exp($a)", (_e("exp($a)", r"\exp($a)"),)),
    P.Log: Rule("log($a)", r"\log($a)", (_e("1 / $a", r"\frac{1}{$a}"),)),
    P.Sqrt: Rule("sqrt($a)", r"\sqrt{$a}", (_e("1 / (2 * sqrt($a))", r"\frac{1}{2\sqrt{$a}}"),)),
    P.Abs: Rule("abs($a)", r"\lvert $a \rvert", (_e("sign($a)", r"\operatorname{sign}($a)"),)),
    P.Tanh: Rule("tanh($a)", r"\tanh($a)", (_e("1 - tanh($a)**2", r"1 - \tanh^{2}($a)"),)),
    P.Sigmoid: Rule("sigmoid($a)", r"\sigma($a)",
                    (_e("sigmoid($a) * (1 - sigmoid($a))", r"\sigma($a)\,(1 - \sigma($a))"),)),
    P.ReLU: Rule("relu($a)", r"\operatorname{relu}($a)", (_e("[$a > 0]", r"[$a > 0]"),)),
    P.Maximum: Rule("maximum($a, $b)", r"\max($a, $b)",
                    (_e("[$a > $b] (1/2 on ties)", r"[$a > $b]"),
                     _e("[$b > $a] (1/2 on ties)", r"[$b > $a]"))),
    P.Minimum: Rule("minimum($a, $b)", r"\min($a, $b)",
                    (_e("[$a < $b] (1/2 on ties)", r"[$a < $b]"),
                     _e("[$b < $a] (1/2 on ties)", r"[$b < $a]"))),
    P.Where: Rule("where(cond, $a, $b)", r"\operatorname{where}(c, $a, $b)",
                  (_e("[cond]", "[c]"), _e("[not cond]", r"[\lnot c]"))),
    P.Clip: Rule("clip($a, $low, $high)", r"\operatorname{clip}($a, $low, $high)",
                 (_e("[$low <= $a <= $high]", r"[$low \le $a \le $high]"),)),
    P.Cast: Rule("$a.astype($dtype)", r"$a", (_c("1", "1"),), checkable=False),
    P.Sum: Rule("sum($a$axis_arg)", r"\textstyle\sum $a", (_c("1", "1"),)),
    P.Mean: Rule("mean($a$axis_arg)", r"\operatorname{mean}($a)",
                 (_c("1/$n", r"\frac{1}{$n}"),)),
    P.Max: Rule("max($a$axis_arg)", r"\max($a)",
                (_e("[$a = max($a)] / ties", r"[$a = \max $a]"),)),
    P.Min: Rule("min($a$axis_arg)", r"\min($a)",
                (_e("[$a = min($a)] / ties", r"[$a = \min $a]"),)),
    P.MatMul: Rule("$a @ $b", "$a $b",
                   (_o(". @ $b.T", r"(\cdot)\, $b^\top"), _o("$a.T @ .", r"$a^\top (\cdot)"))),
    P.Reshape: Rule("$a.reshape($shape)", r"\operatorname{reshape}($a)",
                    (_o(". reshaped to $in_shape", r"\operatorname{reshape}(\cdot)"),)),
    P.Transpose: Rule("$a.transpose($axes)", r"$a^\top",
                      (_o(". transposed back", r"(\cdot)^\top"),)),
    P.BroadcastTo: Rule("broadcast_to($a, $shape)", r"\operatorname{broadcast}($a)",
                        (_o("sum(.) over the broadcast axes", r"\textstyle\sum(\cdot)"),)),
    P.GetItem: Rule("$a[$index]", r"$a[\ldots]",
                    (_o("zeros with . added at [$index]", r"\operatorname{scatter}(\cdot)"),)),
    P.ScatterAdd: Rule("scatter_add($a, $index)", r"\operatorname{scatter}($a)",
                       (_o(".[$index]", r"(\cdot)[\ldots]"),)),
    P.Concatenate: Rule("concatenate([$args], axis=$axis)", r"\operatorname{concat}($args)",
                        (_o("slice $i of . along axis $axis", r"(\cdot)_{$i}"),)),
    P.Stack: Rule("stack([$args], axis=$axis)", r"\operatorname{stack}($args)",
                  (_o(".[$i] along axis $axis", r"(\cdot)_{$i}"),)),
    P.MSELoss: Rule("mse_loss($a, $b)", r"\operatorname{mse}($a, $b)",
                    (_e("2 * ($a - $b) / $n", r"\frac{2 ($a - $b)}{$n}"),
                     _e("-2 * ($a - $b) / $n", r"-\frac{2 ($a - $b)}{$n}"))),
    P.SoftmaxCrossEntropy: Rule("cross_entropy($a, t)", r"\operatorname{CE}($a, t)",
                                (_e("(softmax($a) - onehot(t)) / $n",
                                    r"\frac{\operatorname{softmax}($a) - "
                                    r"\operatorname{onehot}(t)}{$n}"),)),
}


def rule_for(primitive: type[P.Primitive]) -> Rule:
    """The rule of `primitive`; a primitive missing from the table reads as its name."""
    rule = RULES.get(primitive)
    if rule is not None:
        return rule
    name = primitive.name
    return Rule(f"{name}($args)", rf"\operatorname{{{name}}}($args)",
                (_o(f"vjp of {name}", rf"\operatorname{{vjp}}_{{{name}}}(\cdot)"),))


def _power_rules(exponent: float, operand: str, operand_latex: str) -> tuple[str, str]:
    if exponent == 1:
        return "1", "1"
    if exponent == 2:
        return f"2 * {operand}", f"2 {operand_latex}"
    lower = _number(exponent - 1)
    return (f"{_number(exponent)} * {operand}**{lower}",
            f"{_number(exponent)}\\, {operand_latex}^{{{lower}}}")


def _number(value: Any) -> str:
    if value is None:
        return "None"
    return f"{float(value):g}"


def _bias_rules(bias_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> tuple[str, str]:
    if bias_shape == out_shape:
        return ".", r"(\cdot)"
    lead = len(out_shape) - len(bias_shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, size in enumerate(bias_shape) if size == 1 and out_shape[lead + i] != 1
    )
    shown = str(axes[0]) if len(axes) == 1 else str(axes)
    return f"sum(., axis={shown})", rf"\textstyle\sum_{{\text{{axis }}{shown}}} (\cdot)"


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
    for key in ("shape", "axes", "index", "dtype"):
        fields[key] = str(params.get(key))
    fields["low"] = _number(params.get("low"))
    fields["high"] = _number(params.get("high"))
    if primitive is P.PowScalar:
        exponent = params["exponent"]
        fields["exponent"] = _number(exponent)
        text, tex = _power_rules(exponent, operands[0], operands_latex[0])
        fields["power_rule"], fields["power_rule_latex"] = text, tex
    if primitive in (P.MSELoss,):
        fields["n"] = str(in_size)
    if primitive is P.SoftmaxCrossEntropy:
        fields["n"] = str(shapes[0][0])
    if primitive is None:
        fields["bias_rule"], fields["bias_rule_latex"] = _bias_rules(shapes[2], out_shape)
    return fields


def fill(template: str, fields: Mapping[str, str], position: int = 0) -> str:
    """`template` with its fields filled in."""
    return Template(template).substitute({**fields, "i": str(position)})
