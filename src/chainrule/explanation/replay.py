"""Each step recomputed on its own, in float64, from its operands' stored values: the
step's output, its vjp, the upstream gradients dloss/du of every step, and the numeric check
of one local gradient against central finite differences.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np

from chainrule.check.kinks import one_sided_slopes, refine_miss
from chainrule.check.numerical import probe
from chainrule.explanation.walk import Arg, GraphView, StepRecord
from chainrule.sweep import Target, sweep

_FLOAT64 = np.dtype(np.float64)

RTOL = 1e-5
"""Relative agreement required between the vjp and the central difference (both float64)."""


def operand_values(step: StepRecord) -> list[np.ndarray]:
    """The step's operands as float64 arrays (copies: the checks perturb them)."""
    return [np.array(t.data, dtype=np.float64) for t in step.operands]


def _run(
    step: StepRecord, values: Sequence[np.ndarray]
) -> tuple[np.ndarray, list[object], list[list[np.ndarray]]]:
    inner: list[np.ndarray] = []
    saved_all: list[object] = []
    inputs_all: list[list[np.ndarray]] = []
    for op in step.program:
        inputs = [values[i] if kind == "operand" else inner[i] for kind, i in op.args]
        out, saved = op.primitive.forward(*inputs, **op.params)
        inner.append(np.asarray(out))
        saved_all.append(saved)
        inputs_all.append(inputs)
    return inner[-1], saved_all, inputs_all


def evaluate(step: StepRecord, values: Sequence[np.ndarray]) -> np.ndarray:
    """The step's output for these operand values."""
    return _run(step, values)[0]


def step_vjp(
    step: StepRecord, values: Sequence[np.ndarray], grad_out: np.ndarray
) -> list[np.ndarray | None]:
    """grad_out pushed back through the step: one gradient per operand position, each in
    that operand's shape (the sweep over the step's own ops, keyed by ("operand", i) and
    ("inner", i))."""
    _, saved_all, inputs_all = _run(step, values)
    program = step.program
    last = len(program) - 1

    def targets(index: int) -> list[Target[Arg] | None]:
        return [
            (arg, value.shape, _FLOAT64)
            for arg, value in zip(program[index].args, inputs_all[index], strict=True)
        ]

    def vjp(index: int, upstream: np.ndarray) -> Sequence[np.ndarray | None]:
        needs = tuple(True for _ in program[index].args)
        pushed: Sequence[np.ndarray | None] = program[index].primitive.vjp(
            saved_all[index], upstream, needs
        )
        return pushed

    grads = sweep(
        reversed(range(len(program))),
        {("inner", last): grad_out},
        output=_inner,
        targets=targets,
        vjp=vjp,
    )
    return [grads.get(("operand", i)) for i in range(len(values))]


def _inner(index: int) -> Arg:
    return ("inner", index)


def upstream_gradients(view: GraphView) -> dict[int, np.ndarray]:
    """dloss/d(tensor) in float64 for every tensor that requires grad, by id, from the
    reverse sweep over the steps that starts from d(output)/d(output) = 1."""
    output = view.output
    grads: dict[int, np.ndarray] = {id(output): np.ones(output.shape, dtype=np.float64)}

    def targets(step: StepRecord) -> list[Target[int] | None]:
        # A computed operand gets its gradient whatever its flag now, as in backward: the
        # walk refuses one that the op recorded as a constant (`requires_grad = False`).
        return [
            (id(operand), operand.shape, _FLOAT64)
            if operand.requires_grad or operand.grad_fn is not None
            else None
            for operand in step.operands
        ]

    def vjp(step: StepRecord, grad_out: np.ndarray) -> list[np.ndarray | None]:
        return step_vjp(step, operand_values(step), grad_out)

    sweep(reversed(view.steps), grads, output=_tensor_id, targets=targets, vjp=vjp, keep=True)
    return grads


def _tensor_id(step: StepRecord) -> int:
    return id(step.tensor)


@dataclass(frozen=True)
class Check:
    """One local gradient (the upstream gradient pushed back through one step, to one
    operand) compared with float64 central differences at a few sampled entries."""

    output: str
    input: str
    entries: tuple[tuple[int, ...], ...]
    analytic: tuple[float, ...]
    numeric: tuple[float, ...]
    kinks: int
    max_abs_err: float
    max_rel_err: float
    passed: bool
    skipped: str = ""
    nonfinite: str = ""
    """Where the step's value or local gradient is NaN or inf (then `passed` is False: a
    comparison with NaN proves nothing)."""

    @property
    def unverified(self) -> bool:
        """Every sampled entry sat on a kink: nothing was compared, so nothing is known."""
        return not self.skipped and bool(self.entries) and self.kinks == len(self.entries)

    def __str__(self) -> str:
        if self.skipped:
            return f"not checked ({self.skipped})"
        if self.nonfinite:
            return f"FAILED: {self.nonfinite}"
        if self.unverified:
            return (
                f"not verified: all {self.kinks} sampled entries sit on a kink, where the "
                "derivative is a convention"
            )
        verdict = "ok" if self.passed else "FAILED"
        compared = len(self.entries) - self.kinks
        kinks = f", {self.kinks} at a kink skipped" if self.kinks else ""
        noun = "entry" if compared == 1 else "entries"
        return (
            f"{verdict}: {compared} {noun} vs finite differences, max rel err "
            f"{self.max_rel_err:.1e}{kinks}"
        )


def _padding_row(step: StepRecord, position: int) -> int | None:
    """The padding_idx of an embedding step when `position` is its weight, else None."""
    for op in step.program:
        if op.primitive.name == "embedding" and op.args[0] == ("operand", position):
            padding: int | None = op.params.get("padding_idx")
            return padding
    return None


def _link_tolerance(central: float, *, exact: float, atol: float) -> float:
    """The miss a link's central difference is allowed against the analytic value."""
    return RTOL * max(abs(central), abs(exact)) + atol


def _nonfinite(arrays: list[tuple[str, np.ndarray, bool]]) -> str:
    """The first of `arrays` holding NaN (or inf, where its flag allows no inf), named with
    its first such entry; "" if none. Every comparison with NaN is false, so a check would
    otherwise call it ok. An inf value is allowed (a -inf mask before a softmax)."""
    for label, array, inf_allowed in arrays:
        values = np.asarray(array)
        if not np.issubdtype(values.dtype, np.inexact):
            continue
        bad = np.isnan(values) if inf_allowed else ~np.isfinite(values)
        if bad.any():
            entry = tuple(int(i) for i in np.argwhere(bad)[0])
            count = int(bad.sum())
            return (
                f"{label} is {'NaN' if inf_allowed else 'NaN or inf'} at {count} "
                f"{'entry' if count == 1 else 'entries'} (first {values[entry]} at {entry}), "
                "so nothing can be compared: look upstream (the data, a weight, an overflow)"
            )
    return ""


def check_link(
    step: StepRecord,
    position: int,
    grad_out: np.ndarray,
    output: str,
    input_name: str,
    *,
    samples: int,
    rng: np.random.Generator,
) -> Check:
    """Compare the vjp of `step` to its operand at `position` with central differences
    (sum(grad_out * (f(x + h e_j) - f(x - h e_j))) / 2h) at `samples` random entries j,
    measured by `chainrule.check.numerical.probe` as gradcheck measures.

    An entry that misses and sits on a kink (relu at 0, abs at 0: `kinks.is_kink`,
    confirmed at finer steps by `kinks.refine_kink`, the rules gradcheck uses), where the
    derivative is a convention, is counted apart, not failed.
    """
    if not step.rule.checkable:
        return Check(output, input_name, (), (), (), 0, 0.0, 0.0, True, "a dtype cast")
    values = operand_values(step)
    analytic_full = step_vjp(step, values, grad_out)[position]
    target = values[position]
    if analytic_full is None:
        analytic_full = np.zeros_like(target)
    padding = _padding_row(step, position)
    finite = np.isfinite(target) if np.issubdtype(target.dtype, np.inexact) else None
    if padding is None and (finite is None or finite.all()):
        count = min(samples, target.size)
        flat = rng.choice(target.size, size=count, replace=False) if count else np.array([], int)
    else:
        candidates = np.arange(target.size)
        if padding is not None:
            # The padding row of an embedding gets no gradient by definition (PyTorch's), not
            # by differentiation: central differences would see its lookup. It is not probed.
            rows = np.flatnonzero(np.arange(target.shape[0]) != padding % target.shape[0])
            candidates = (rows[:, None] * target.shape[1] + np.arange(target.shape[1])).ravel()
        if finite is not None:
            # An inf entry (a -inf mask) does not move by a step: it is not probed.
            candidates = candidates[finite.ravel()[candidates]]
        count = min(samples, candidates.size)
        flat = rng.choice(candidates, size=count, replace=False) if count else candidates
    # A copy: a view op's output (transpose, x[i], diagonal) would follow the probed entry.
    centre = np.array(evaluate(step, values), copy=True)
    nonfinite = _nonfinite(
        [
            ("its value", centre, True),
            ("the upstream gradient", grad_out, False),
            ("its gradient", analytic_full, False),
        ]
    )
    if nonfinite:
        return Check(output, input_name, (), (), (), 0, 0.0, 0.0, False, nonfinite=nonfinite)
    scale = float(np.max(np.abs(analytic_full))) if analytic_full.size else 0.0
    atol = 1e-9 * scale + 1e-12
    # Over the entries that can move: an inf one (a -inf mask) stays put, and 0 * inf is NaN.
    weighted_size = float(np.sum(np.abs(grad_out * np.where(np.isfinite(centre), centre, 0))))

    def change(perturbed: np.ndarray) -> float:
        # <grad_out, f(x') - f(x)>: measured from the centre, so no large |f| is cancelled;
        # an entry that stays inf (a -inf mask) does not move (inf - inf would be NaN).
        moved = evaluate(step, values)
        with np.errstate(invalid="ignore"):
            difference = np.where(moved == centre, 0.0, moved - centre)
        return float(np.sum(grad_out * difference))

    entries: list[tuple[int, ...]] = []
    analytic: list[float] = []
    numeric: list[float] = []
    kinks = 0
    max_abs = max_rel = 0.0
    passed = True
    for index in flat:
        entry = tuple(int(i) for i in np.unravel_index(int(index), target.shape))
        h = 1e-6 * max(1.0, abs(float(target[entry])))
        f_plus, f_minus, step_taken = probe(change, target, entry, h)
        central = (f_plus - f_minus) / step_taken
        # The rounding of the probed sum itself, ~eps |<grad_out, f(x)>| / step: it is all
        # a central difference measures where the local gradient is exactly 0 (the -1 of
        # x - mean(x) inside std, whose output does not move with the mean; layer_norm's mean
        # gradient, small by cancellation).
        rounding = 4 * np.finfo(np.float64).eps * weighted_size / step_taken
        exact = float(analytic_full[entry])
        entries.append(entry)
        analytic.append(exact)
        numeric.append(central)
        error = abs(central - exact)
        if not (np.isfinite(central) and np.isfinite(exact)):
            # gradcheck's rule: a NaN or inf never agrees (NaN would pass every test below).
            passed = False
            max_abs = max_rel = float("inf")
            continue
        if error > RTOL * max(abs(central), abs(exact)) + atol + rounding:
            slopes = one_sided_slopes(f_plus, 0.0, f_minus, step_taken)
            # gradcheck's rule: a kink only if the slopes' jump survives finer steps (the
            # bottom of a parabola straddled by the step shrinks tenfold), and a miss that
            # agrees at a finer step was truncation error (x**3 at 0), not a wrong rule.
            verdict, central, _ = refine_miss(
                partial(probe, change, target, entry),
                0.0,
                exact,
                central,
                slopes,
                eps=h,
                floor=rounding,
                tolerance=partial(_link_tolerance, exact=exact, atol=atol + rounding),
            )
            numeric[-1] = central
            error = abs(central - exact)
            if verdict == "kink":
                kinks += 1
                continue
            passed = passed and verdict == "agrees"
        relative = error / max(abs(central), abs(exact), 1e-300)
        max_abs = max(max_abs, error)
        if max(abs(central), abs(exact)) > 0:
            max_rel = max(max_rel, relative)
    return Check(
        output,
        input_name,
        tuple(entries),
        tuple(analytic),
        tuple(numeric),
        kinks,
        max_abs,
        max_rel,
        passed,
    )
