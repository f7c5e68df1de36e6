"""`explain(output, wrt)`: the chain rule for d(output)/d(wrt), written out for the user's
own graph: the substitutions, each link's local derivative with a numeric check, and the
product along every path (summed where a tensor is reused).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chainrule.explanation.paths import LinkKey, find_paths
from chainrule.explanation.replay import Check, check_link, upstream_gradients
from chainrule.explanation.rules import Kind, fill, template_fields
from chainrule.explanation.walk import GraphView, StepRecord, read_graph
from chainrule.placement import to_numpy
from chainrule.tensor import Tensor

Shape = tuple[int, ...]


def _broadcast(step: StepRecord, operand: Tensor, kind: Kind) -> bool:
    """Whether `operand` of an element-wise op of several operands was broadcast to the
    output's shape (b of (2,) against (4, 2)), so that its gradient, the factor times the
    upstream gradient, is summed back over the axes it was broadcast along. A reduction's
    operand (one operand, or a loss of several that reduces them) is not."""
    out = step.tensor.shape
    if kind == "operator" or len(step.operands) < 2 or operand.shape == out:
        return False
    try:
        return np.broadcast_shapes(operand.shape, out) == out
    except ValueError:
        return False


@dataclass(frozen=True)
class Step:
    """One substitution: `name = formula`, with the shape of its value."""

    name: str
    formula: str
    formula_latex: str
    shape: Shape
    op: str
    inputs: tuple[str, ...]
    on_path: bool


@dataclass(frozen=True)
class Leaf:
    """An input of the graph: a parameter (requires grad) or data."""

    name: str
    shape: Shape
    role: str


@dataclass(frozen=True)
class Link:
    """d(output)/d(input) for one step: `derivative = rule`, e.g. d relu(u1)/du1 = [u1 > 0].

    `shape` is the shape of the factor for constant and element-wise rules (() for a
    number); an operator rule maps dloss/d(output) of `grad_out_shape` to dloss/d(input) of
    `grad_in_shape`.
    """

    output: str
    input: str
    position: int
    derivative: str
    derivative_latex: str
    rule: str
    rule_latex: str
    kind: Kind
    shape: Shape | None
    grad_out_shape: Shape
    grad_in_shape: Shape
    check: Check
    slot: int | None = None
    """The operand's number (1, 2, ...) where the step uses the same tensor more than once
    (u1 = a * a): each use is a link of its own, the derivative through that use alone."""

    @property
    def via(self) -> str:
        """ " (as operand 2)" for a tensor used more than once by its step, else ""."""
        return "" if self.slot is None else f" (as operand {self.slot})"

    @property
    def short(self) -> str:
        """The link as a fraction: du2/du1 (du1/da (as operand 2) for a reused operand)."""
        return f"d{self.output}/d{self.input}{self.via}"


@dataclass(frozen=True)
class Explanation:
    """The derivation of d(output)/d(wrt); `str()` gives text, see also `to_markdown`,
    `to_latex` and `to_html` (a notebook displays it as HTML, Markdown or LaTeX).
    `paths` holds at most `path_limit` paths; `path_count` counts them all."""

    output: str
    wrt: str
    wrt_shape: Shape
    leaves: tuple[Leaf, ...]
    steps: tuple[Step, ...]
    paths: tuple[tuple[Link, ...], ...]
    path_count: int

    @property
    def links(self) -> tuple[Link, ...]:
        """Every link on some path, once each, outermost first."""
        seen: dict[tuple[str, str, int], Link] = {}
        for path in self.paths:
            for link in path:
                seen.setdefault((link.output, link.input, link.position), link)
        return tuple(seen.values())

    @property
    def checks(self) -> tuple[Check, ...]:
        return tuple(link.check for link in self.links)

    @property
    def passed(self) -> bool:
        """Whether every numeric check agreed."""
        return all(check.passed for check in self.checks)

    @property
    def unverified(self) -> int:
        """How many local gradients were not verified: every sampled entry sat on a kink."""
        return sum(check.unverified for check in self.checks)

    def product(self, path: tuple[Link, ...]) -> str:
        """One path's product: dloss/du5 · du5/du4 · ... · du1/dw1."""
        return " · ".join(link.short for link in path)

    def __str__(self) -> str:
        from chainrule.explanation.render import render_text

        return render_text(self)

    def to_markdown(self) -> str:
        from chainrule.explanation.render import render_markdown

        return render_markdown(self)

    def to_latex(self) -> str:
        from chainrule.explanation.render import render_latex

        return render_latex(self)

    def to_html(self) -> str:
        from chainrule.explanation.render import render_html

        return render_html(self)

    def _repr_markdown_(self) -> str:
        """Jupyter: the Markdown tables (`to_markdown`)."""
        return self.to_markdown()

    def _repr_latex_(self) -> str:
        """Jupyter: the derivation as display math (`to_latex` inside $$ ... $$)."""
        return "$$\n" + self.to_latex() + "$$"

    def _repr_html_(self) -> str:
        """Jupyter: the derivation with each local derivative collapsible (`to_html`)."""
        return self.to_html()


_LATEX_SPECIALS = {
    "\\": r"\backslash ",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "{": r"\{",
    "}": r"\}",
    "_": r"\_",
    "~": r"\sim ",
    "^": r"\wedge ",
    " ": r"\ ",  # math mode drops a plain space: "my w" would read "myw"
}


def latex_name(name: str) -> str:
    """u1 -> u_{1}, loss -> \\mathrm{loss}, a literal stays as written."""
    if _is_literal(name):
        return name  # 0.3 and 1e-06 end in digits that are no subscript
    stem = name.rstrip("0123456789'")
    rest = name[len(stem) :]
    digits = rest.rstrip("'")
    primes = rest[len(digits) :]
    if not stem:
        return name
    if digits and stem.endswith("_") and len(stem) > 1:
        stem = stem[:-1]  # w_1 is w with subscript 1, not "w_" with subscript 1
    # A user's name may hold LaTeX's specials; "&" unescaped would even split the alignment.
    escaped = "".join(_LATEX_SPECIALS.get(char, char) for char in stem)
    if stem.startswith("("):
        body = escaped
    else:
        body = escaped if len(stem) == 1 else r"\mathrm{" + escaped + "}"
    return body + (f"_{{{digits}}}" if digits else "") + primes


def _derivative(formula: str, operand: str) -> str:
    head = formula.split("(", 1)[0]
    if head.isidentifier() and formula.endswith(")") and formula.count("(") == 1:
        return f"d {formula}/d{operand}"
    return f"d({formula})/d{operand}"


def _fields(view: GraphView, step: StepRecord, latex: bool) -> dict[str, str]:
    names = [view.name(t) for t in step.operands]
    return template_fields(
        step.primitive,
        step.params,
        names,
        [latex_name(n) for n in names],
        [t.shape for t in step.operands],
        step.tensor.shape,
        latex,
    )


def _make_step(view: GraphView, step: StepRecord, on_path: bool) -> Step:
    op = step.primitive.name if step.primitive is not None else "affine"
    return Step(
        step.name,
        fill(step.rule.formula, _fields(view, step, False)),
        fill(step.rule.formula_latex, _fields(view, step, True)),
        step.tensor.shape,
        op,
        tuple(view.name(t) for t in step.operands),
        on_path,
    )


def _holds_nan(step: StepRecord) -> bool:
    """Whether an operand of `step` holds NaN, where a mask such as [x > 0] reads 0."""
    for operand in step.operands:
        values = np.asarray(to_numpy(operand.data))
        if np.issubdtype(values.dtype, np.floating) and np.isnan(values).any():
            return True
    return False


def _make_link(
    view: GraphView, step: StepRecord, position: int, formula: Step, check: Check
) -> Link:
    local = step.rule.local(position)
    operand = step.operands[position]
    operand_name = view.name(operand)
    rule = fill(local.text, _fields(view, step, False), position)
    rule_latex = fill(local.latex, _fields(view, step, True), position)
    if local.at_nan and _holds_nan(step):
        rule += f" ({fill(local.at_nan, _fields(view, step, False), position)})"
        rule_latex += r" \text{ (1 at NaN, as PyTorch)}"
    if _broadcast(step, operand, local.kind):
        rule += f", summed back to {operand.shape}"
        rule_latex += rf" \text{{, summed back to {operand.shape}}}"
    shape: Shape | None = None
    if local.kind == "constant":
        shape = ()
    elif local.kind == "elementwise":
        # The factor meets the output and the operand entry by entry: a reduction to a
        # scalar (cross-entropy) has a factor the operand's shape, (N, C), not (); so has a
        # reduction along an axis without keepdims (max, prod, norm: (2, 3) -> (2,)), whose
        # output shape does not broadcast against the operand's.
        if step.tensor.ndim < operand.ndim:
            shape = operand.shape
        else:
            shape = np.broadcast_shapes(step.tensor.shape, operand.shape)
    derivative = _derivative(formula.formula, operand_name)
    top = formula.formula_latex
    if derivative.startswith("d("):
        top = f"({top})"
    derivative_latex = rf"\frac{{\partial\, {top}}}{{\partial {latex_name(operand_name)}}}"
    # d(a * a)/da is 2a; the link through one use of a is a alone, so it says which use.
    uses = sum(other is operand for other in step.operands)
    slot = position + 1 if uses > 1 else None
    if slot is not None:
        derivative += f" (as operand {slot})"
        derivative_latex += rf"\ \text{{(as operand {slot})}}"
    return Link(
        step.name,
        operand_name,
        position,
        derivative,
        derivative_latex,
        rule,
        rule_latex,
        local.kind,
        shape,
        step.tensor.shape,
        operand.shape,
        check,
        slot,
    )


def _is_literal(name: str) -> bool:
    """Whether `name` is a number written in the graph (2, (-1), 1e-06), not a tensor's name;
    a parameter's path such as 0.weight also starts with a digit."""
    try:
        float(name.strip("()"))
    except ValueError:
        return False
    return True


def _validate(output: Tensor, wrt: Tensor) -> None:
    if not isinstance(output, Tensor) or not isinstance(wrt, Tensor):
        raise TypeError(
            f"explain: output and wrt must be chainrule Tensors, got {type(output).__name__} "
            f"and {type(wrt).__name__}"
        )
    if output.size != 1:
        raise ValueError(
            f"explain: the output has shape {output.shape}, not a scalar; the chain rule is "
            "written for a scalar loss: reduce it first, e.g. .sum() or .mean()"
        )
    if not wrt.requires_grad:
        label = f"{wrt.name!r}" if wrt.name else f"of shape {wrt.shape}"
        raise ValueError(
            f"explain: wrt {label} does not require grad, so the graph has no derivative "
            "with respect to it; create it with requires_grad=True before the forward"
        )
    if output.grad_fn is None and output is not wrt:
        raise ValueError(
            "explain: the output has no recorded graph; compute it from tensors created "
            "with requires_grad=True, outside no_grad()"
        )


def explain(
    output: Tensor,
    wrt: Tensor,
    *,
    samples: int = 4,
    rng: np.random.Generator | None = None,
    group_affine: bool = True,
    path_limit: int = 16,
) -> Explanation:
    """The chain rule for d(output)/d(wrt), step by step.

    `output` is a scalar Tensor with its graph, `wrt` a tensor it depends on (a leaf such as
    w1, or an intermediate such as u2). Each local gradient is checked against float64
    central differences at `samples` random entries (drawn from `rng`, default seed 0).
    With `group_affine` a matmul followed by the add of a bias reads as one step x @ w + b.
    """
    _validate(output, wrt)
    if isinstance(samples, bool) or not isinstance(samples, int | np.integer) or samples < 1:
        # 0 checked entries would read "ok: 0 entries vs finite differences" and "all local
        # gradients agree": a pass that checked nothing.
        raise ValueError(
            f"explain: samples={samples!r}; each local gradient is checked against finite "
            "differences at `samples` entries: give an integer >= 1 (default 4)"
        )
    view = read_graph(output, keep=(wrt,), group_affine=group_affine)
    if id(wrt) not in view.names:
        label = f"{wrt.name!r}" if wrt.name else f"of shape {wrt.shape}"
        raise ValueError(
            f"explain: wrt {label} is not in the graph of the output, so d(output)/d(wrt) is "
            "zero; pass a tensor the output was computed from"
        )
    generator = rng if rng is not None else np.random.default_rng(0)
    keys, total = find_paths(view, wrt, path_limit)
    on_path = {view.steps[index].name for path in keys for index, _ in path}
    steps = {s.name: _make_step(view, s, s.name in on_path) for s in view.steps}
    upstream = upstream_gradients(view)
    made: dict[LinkKey, Link] = {}
    paths: list[tuple[Link, ...]] = []
    for key_path in keys:
        for key in key_path:
            if key not in made:
                index, position = key
                record = view.steps[index]
                check = check_link(
                    record,
                    position,
                    upstream[id(record.tensor)],
                    record.name,
                    view.name(record.operands[position]),
                    samples=samples,
                    rng=generator,
                )
                made[key] = _make_link(view, record, position, steps[record.name], check)
        paths.append(tuple(made[key] for key in key_path))
    leaves = tuple(
        Leaf(view.name(t), t.shape, "parameter" if t.requires_grad else "data")
        for t in view.leaves
        if not view.is_literal(t)
    )
    return Explanation(
        view.name(output),
        view.name(wrt),
        wrt.shape,
        leaves,
        tuple(steps.values()),
        tuple(paths),
        total,
    )
