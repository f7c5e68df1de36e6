"""gradcheck on an array larger than its sample, whose random direction crosses kinks in
entries the sample left out: the direction is split until each miss is one entry's, so a
wrong entry fails wherever it sits and the kinks are excused one by one."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from chainrule import check

# The module whose row check calls split_at_kinks (patched there, where it is looked up).
one_gradient = importlib.import_module("chainrule.check.one_gradient")


def _relu_plus_square(arrays: dict[str, np.ndarray]) -> float:
    w = arrays["w"]
    return float(np.maximum(w, 0).sum() + 0.5 * (w**2).sum())


def _weights_with_zeros(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """400 weights, 120 of them exactly 0 (on relu's kink), and the right gradient."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(400)
    w[rng.choice(400, 120, replace=False)] = 0.0
    return w, (w > 0).astype(np.float64) + w


@pytest.mark.parametrize("seed", range(5))
def test_a_wrong_entry_among_unsampled_kinks_fails(seed: int) -> None:
    # Before: the direction's miss was put down to the kinks it crossed, and the row passed
    # whenever the wrong entry was not among the 200 sampled (12 seeds in 20).
    w, grad = _weights_with_zeros(seed)
    wrong = np.flatnonzero(w)[seed * 37 % 280]
    grad[wrong] += 3.0
    report = check.gradcheck(
        _relu_plus_square, {"w": w}, {"w": grad}, rng=np.random.default_rng(seed)
    )
    assert report["w"].status == "FAIL"


@pytest.mark.parametrize("seed", range(5))
def test_a_right_gradient_with_kinks_outside_the_sample_passes(seed: int) -> None:
    w, grad = _weights_with_zeros(seed)
    report = check.gradcheck(
        _relu_plus_square, {"w": w}, {"w": grad}, rng=np.random.default_rng(seed)
    )
    assert report["w"].status == "ok"


def test_kinks_that_cannot_be_told_apart_leave_the_row_unresolved_naming_the_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(one_gradient, "split_at_kinks", lambda *a, **k: "unverified")
    w, grad = _weights_with_zeros(0)
    row = check.gradcheck(_relu_plus_square, {"w": w}, {"w": grad}, rng=np.random.default_rng(0))[
        "w"
    ]
    assert row.status == "UNRESOLVED"
    assert "pass max_entries >= 400" in str(row.reason)
