"""Figures and formulas the README states in prose, checked against what the code does."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from chainrule import check

README = Path(__file__).resolve().parents[1] / "README.md"


def one_paragraph(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_gradcheck_unresolved_threshold_is_the_one_the_readme_states() -> None:
    """README: entries below about ten times the rounding noise (its formula) are
    UNRESOLVED. At a loss of 1e12, half that threshold must be unresolved and twice it ok."""
    match = re.search(
        r"Entries below about ten times the differences' rounding noise \((\d+) \* 2\*\*-52 "
        r"\|loss\| / eps",
        one_paragraph(README.read_text()),
    )
    assert match, "the README's gradcheck paragraph no longer states the rounding noise"
    eps, loss = 1e-6, 1e12
    threshold = 10 * int(match.group(1)) * 2.0**-52 * loss / eps
    for factor, status in ((0.5, "UNRESOLVED"), (2.0, "ok")):
        slope = factor * threshold
        report = check.gradcheck(
            lambda arrays, slope=slope: loss + slope * float(arrays["x"].sum()),
            {"x": np.zeros(3)},
            {"x": np.full(3, slope)},
            eps=eps,
        )
        assert report["x"].status == status, (factor, str(report))
