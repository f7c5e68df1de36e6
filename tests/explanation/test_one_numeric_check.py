"""explain's per-link check and gradcheck measure with the same central differences and
excuse the same kinks (chainrule.check.numerical)."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule
from chainrule import check
from chainrule.check.numerical import is_kink, one_sided_slopes
from chainrule.explanation.render import render_text


def test_a_miss_is_a_kink_only_when_the_one_sided_slopes_disagree_as_much() -> None:
    assert is_kink(0.5, forward_slope=1.0, backward_slope=0.0)
    assert not is_kink(0.5, forward_slope=1.0, backward_slope=0.9)


def test_one_sided_slopes_use_half_the_measured_central_step() -> None:
    forward, backward = one_sided_slopes(f_plus=3.0, f_centre=1.0, f_minus=0.0, step=2.0)
    assert (forward, backward) == (2.0, 1.0)


def _abs_at_zero() -> tuple[chainrule.Tensor, chainrule.Tensor]:
    x = chainrule.tensor([0.0, 1.5, -2.0], dtype=np.float64, requires_grad=True, name="x")
    return x, x.abs().sum()


def test_explain_counts_an_agreeing_entry_at_a_kink_as_checked_as_gradcheck_does() -> None:
    # d|x|/dx at 0 is 0, which the central difference (|h| - |-h|) / 2h = 0 confirms; the
    # one-sided slopes disagree, but nothing needs excusing.
    x, loss = _abs_at_zero()
    explanation = chainrule.explain(loss, x, samples=3)
    link = next(c for c in explanation.checks if c.input == "x")
    loss.backward()
    assert x.grad is not None
    report = check.gradcheck(
        lambda arrays: float(np.abs(arrays["x"]).sum()), {"x": x.data}, {"x": x.grad.data}
    )
    assert report["x"].kinks == 0
    assert link.kinks == report["x"].kinks
    assert link.passed
    assert len(link.entries) == 3


def test_explain_excuses_a_relu_at_zero_as_a_kink_as_gradcheck_does() -> None:
    x = chainrule.tensor([0.0, 1.5, -2.0], dtype=np.float64, requires_grad=True, name="x")
    loss = x.relu().sum()
    explanation = chainrule.explain(loss, x, samples=3)
    link = next(c for c in explanation.checks if c.input == "x")
    loss.backward()
    assert x.grad is not None
    report = check.gradcheck(
        lambda arrays: float(np.maximum(arrays["x"], 0).sum()), {"x": x.data}, {"x": x.grad.data}
    )
    assert report["x"].kinks == 1
    assert link.kinks == report["x"].kinks
    assert link.passed


def test_explain_checks_ops_returning_views_of_their_operand_against_moved_values() -> None:
    # x.T, x[1] and x.diagonal() return views of x: the check must keep the unmoved output,
    # not a view that follows each probed entry (which read every derivative as 0).
    x = chainrule.tensor(np.arange(9.0).reshape(3, 3), requires_grad=True, name="x")
    loss = (x.T * 2.0).sum() + (x[1] * 3.0).sum() + (x.diagonal() * 4.0).sum()
    explanation = chainrule.explain(loss, x, samples=3)
    assert {"transpose", "getitem", "diagonal"} <= {step.op for step in explanation.steps}
    assert all(check.passed for check in explanation.checks)


def test_a_link_whose_sampled_entries_all_sit_on_kinks_is_reported_not_verified() -> None:
    x = chainrule.tensor([0.0, 0.0], dtype=np.float64, requires_grad=True, name="x")
    explanation = chainrule.explain(x.relu().sum(), x, samples=2)
    link = next(c for c in explanation.checks if c.input == "x")
    assert link.passed
    assert link.unverified
    assert str(link).startswith("not verified: all 2 sampled entries sit on a kink")
    assert explanation.unverified == 1
    text = render_text(explanation)
    assert "all local gradients agree" not in text
    assert "1 local gradient not verified" in text


def test_explain_does_not_excuse_a_wrong_local_gradient_at_a_smooth_minimum_as_a_kink(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # x**2 at x = 2e-7 with a step h = 1e-6 straddling its minimum: the one-sided slopes
    # 2x + h and 2x - h disagree by 2h, more than a flipped gradient (-2x) misses by, so the
    # one-step kink rule excused it; at h/10 and h/100 the disagreement shrinks tenfold.
    from chainrule.explanation import replay

    honest = replay.step_vjp

    def flipped(step, values, grad_out):  # type: ignore[no-untyped-def]
        return [None if g is None else -g for g in honest(step, values, grad_out)]

    monkeypatch.setattr(replay, "step_vjp", flipped)
    x = chainrule.tensor([2e-7], dtype=np.float64, requires_grad=True, name="x")
    explanation = chainrule.explain((x**2).sum(), x, samples=1)
    link = next(c for c in explanation.checks if c.input == "x")
    assert link.kinks == 0
    assert not link.passed
    assert not explanation.passed
