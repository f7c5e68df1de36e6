"""How a primitive reads for `explain`: its formula and each local derivative, in plain text
and in LaTeX. Each primitive declares its `Rule` beside its forward and vjp.

Templates use string.Template fields: $a, $b, $c are the operand names (first, second,
third), $args all of them, $i the position of the operand being differentiated, and the
other fields come from the op's parameters (see `explanation.rules.template_fields`). In a
rule a lone "." (or $(\\cdot)$ in LaTeX) stands for the upstream gradient the rule acts on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

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
    at_nan: str = ""
    """What the derivative is where an operand is NaN, when the rule would read otherwise
    there ([NaN > 0] is 0, but relu passes a NaN's gradient, as PyTorch): a template as
    `text`, which `explain` adds to the rule whenever an operand holds NaN."""


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


def constant(text: str, latex: str) -> Local:
    """A local derivative that is a number."""
    return Local(text, latex, "constant")


def entrywise(text: str, latex: str, at_nan: str = "") -> Local:
    """A local derivative that multiplies the upstream gradient entry by entry (`at_nan`:
    its value at NaN, where the rule as written would mislead)."""
    return Local(text, latex, "elementwise", at_nan)


def linear_map(text: str, latex: str) -> Local:
    """A local derivative that is a linear map applied to the upstream gradient (".")."""
    return Local(text, latex, "operator")
