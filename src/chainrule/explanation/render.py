"""An `Explanation` written out: plain text for the terminal, Markdown, and LaTeX."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chainrule.explanation.derivation import Explanation, Link, Step

from chainrule.explanation.derivation import latex_name


def _shape(shape: tuple[int, ...]) -> str:
    return "scalar" if shape == () else str(shape)


def link_shape(link: Link) -> str:
    """How the local derivative is shaped: a number, an element-wise factor, or a map."""
    if link.kind == "operator":
        return f"maps {link.grad_out_shape} -> {link.grad_in_shape}"
    if link.kind == "constant":
        return "scalar"
    return f"{link.shape}, element-wise"


def _title(explanation: Explanation) -> str:
    return f"d{explanation.output}/d{explanation.wrt}"


def _is_identity(explanation: Explanation) -> bool:
    """Whether wrt is the output itself: d(loss)/d(loss) = 1, a chain of no links."""
    return explanation.output == explanation.wrt


def _sum_line(explanation: Explanation) -> str:
    if _is_identity(explanation):
        return f"{_title(explanation)} = 1"
    products = [explanation.product(path) for path in explanation.paths]
    more = explanation.path_count - len(explanation.paths)
    tail = f" + ... ({more} more paths)" if more > 0 else ""
    return f"{_title(explanation)} = " + " + ".join(products) + tail


def _step_lines(steps: tuple[Step, ...]) -> list[str]:
    width = max((len(step.name) for step in steps), default=0)
    formula_width = max((len(step.formula) for step in steps), default=0)
    return [
        f"  {step.name:<{width}} = {step.formula:<{formula_width}}   {_shape(step.shape)}"
        for step in steps
    ]


def render_text(explanation: Explanation) -> str:
    """The derivation as plain text, one intermediate and one link per line."""
    lines = [
        f"The chain rule for {_title(explanation)}, "
        f"{explanation.wrt} of shape {_shape(explanation.wrt_shape)}",
        "",
    ]
    lines.append("Inputs")
    width = max((len(leaf.name) for leaf in explanation.leaves), default=0)
    lines += [
        f"  {leaf.name:<{width}}   {_shape(leaf.shape)}  {leaf.role}" for leaf in explanation.leaves
    ]
    lines += ["", "Substitutions, innermost first", *_step_lines(explanation.steps), ""]
    lines.append(
        "Local derivatives (each checked: upstream gradient through its vjp vs float64 "
        "central differences)"
    )
    entries = [
        (f"{link.short} = {link.derivative} = {link.rule}", link) for link in explanation.links
    ]
    width = max((len(text) for text, _ in entries), default=0)
    shape_width = max((len(link_shape(link)) for _, link in entries), default=0)
    lines += [
        f"  {text:<{width}}   {link_shape(link):<{shape_width}}   {link.check}"
        for text, link in entries
    ]
    lines.append("")
    if len(explanation.paths) == 1 or _is_identity(explanation):
        lines += ["The chain", f"  {_sum_line(explanation)}   {_shape(explanation.wrt_shape)}"]
    else:
        lines.append(
            f"The paths from {explanation.output} to {explanation.wrt} "
            f"({explanation.path_count}), whose products add up"
        )
        lines += [
            f"  path {number}: {explanation.product(path)}"
            for number, path in enumerate(explanation.paths, start=1)
        ]
        lines.append(f"  sum:    {_sum_line(explanation)}   {_shape(explanation.wrt_shape)}")
    verdict = _verdict(explanation, failed="SOME CHECKS FAILED")
    lines += ["", f"Numeric check: {verdict} with finite differences."]
    return "\n".join(lines) + "\n"


def _verdict(explanation: Explanation, *, failed: str) -> str:
    """The numeric check's verdict; links whose sampled entries all sat on kinks are named
    as not verified rather than counted as agreeing."""
    if not explanation.passed:
        return failed
    unverified = explanation.unverified
    if not unverified:
        return "all local gradients agree"
    noun = "gradient" if unverified == 1 else "gradients"
    return (
        f"the local gradients checked agree ({unverified} local {noun} not verified: "
        "every sampled entry sat on a kink)"
    )


def _cell(text: str) -> str:
    """A table cell's text: a "|" (in a user's name, or abs written |x|) would end the cell."""
    return text.replace("|", "\\|")


def _code(text: str) -> str:
    """`text` as a Markdown code span: fenced by one backtick more than its longest run of
    backticks, so a backtick in a user's name cannot end the span early (CommonMark), and
    padded with a space where it starts or ends with one."""
    longest, run = 0, 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def render_markdown(explanation: Explanation) -> str:
    """The derivation as Markdown: tables of substitutions and local derivatives."""
    lines = [
        f"### The chain rule for {_code(_title(explanation))}",
        "",
        "| name | formula | shape |",
        "| --- | --- | --- |",
    ]
    lines += [
        f"| {_code(_cell(step.name))} | {_code(_cell(step.formula))} | `{_shape(step.shape)}` |"
        for step in explanation.steps
    ]
    lines += [
        "",
        "| link | local derivative | shape | numeric check |",
        "| --- | --- | --- | --- |",
    ]
    lines += [
        f"| {_code(_cell(link.short))} | {_code(_cell(f'{link.derivative} = {link.rule}'))} | "
        f"{link_shape(link)} | {link.check} |"
        for link in explanation.links
    ]
    lines.append("")
    if len(explanation.paths) > 1:
        lines += [
            f"{number}. {_code(explanation.product(path))}"
            for number, path in enumerate(explanation.paths, start=1)
        ]
        lines.append("")
    lines.append(_code(_sum_line(explanation)))
    return "\n".join(lines) + "\n"


def _latex_fraction(top: str, bottom: str) -> str:
    return rf"\frac{{\partial {latex_name(top)}}}{{\partial {latex_name(bottom)}}}"


def _latex_link(link: Link) -> str:
    fraction = _latex_fraction(link.output, link.input)
    return fraction if link.slot is None else rf"{fraction}\ \text{{(as operand {link.slot})}}"


def _latex_product(path: tuple[Link, ...]) -> str:
    return r" \cdot ".join(_latex_link(link) for link in path)


def render_latex(explanation: Explanation) -> str:
    """The derivation as a LaTeX `aligned` block (inside $$ ... $$ or an equation)."""
    lines = [r"\begin{aligned}"]
    lines += [
        rf"{latex_name(step.name)} &= {step.formula_latex} "
        rf"&& \text{{{_shape(step.shape)}}} \\"
        for step in explanation.steps
    ]
    lines += [
        rf"{link.derivative_latex} &= {link.rule_latex} && \text{{{link_shape(link)}}} \\"
        for link in explanation.links
    ]
    products = " + ".join(_latex_product(path) for path in explanation.paths)
    if _is_identity(explanation):
        products = "1"
    title = _latex_fraction(explanation.output, explanation.wrt)
    lines.append(rf"{title} &= {products}")
    lines.append(r"\end{aligned}")
    return "\n".join(lines) + "\n"


def render_html(explanation: Explanation) -> str:
    """The derivation as HTML for a notebook: the substitutions as a table and each local
    derivative as a collapsible <details> holding its rule, shape and numeric check. Every
    name (the user's tensor names included) is escaped."""
    title = escape(_title(explanation))
    rows = "".join(
        f"<tr><td><code>{escape(step.name)}</code></td>"
        f"<td><code>{escape(step.formula)}</code></td>"
        f"<td>{escape(_shape(step.shape))}</td></tr>"
        for step in explanation.steps
    )
    links = "".join(
        f"<details><summary><code>{escape(link.short)} = {escape(link.rule)}</code></summary>"
        f"<p><code>{escape(link.derivative)} = {escape(link.rule)}</code></p>"
        f"<p>shape: {escape(link_shape(link))}</p>"
        f"<p>numeric check: {escape(str(link.check))}</p></details>"
        for link in explanation.links
    )
    verdict = _verdict(explanation, failed="<strong>SOME CHECKS FAILED</strong>")
    return (
        f'<div class="chainrule-explanation"><h4>The chain rule for <code>{title}</code>, '
        f"<code>{escape(explanation.wrt)}</code> of shape "
        f"{escape(_shape(explanation.wrt_shape))}</h4>"
        "<table><thead><tr><th>name</th><th>formula</th><th>shape</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
        f"<p>Local derivatives (click one to see its rule and check):</p>{links}"
        f"<p><code>{escape(_sum_line(explanation))}</code></p>"
        f"<p>Numeric check: {verdict} with finite differences.</p></div>"
    )
