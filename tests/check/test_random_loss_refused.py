"""A loss that is random (dropout drawn inside it) is refused before any finite difference:
its central differences measure the randomness, not the slope."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.check import gradcheck

POINT = np.array([0.3, -1.2, 0.8, 2.0, -0.4, 1.1])


def test_a_loss_with_dropout_drawn_inside_is_refused() -> None:
    generator = np.random.default_rng(5)

    def dropout_loss(arrays: dict[str, np.ndarray]) -> float:
        keep = generator.random(arrays["x"].shape) > 0.5
        return float((arrays["x"] * keep).sum() * 2)

    # was: "KINKS ONLY", every entry taken for a kink, with no word about randomness
    with pytest.raises(ValueError, match=r"gradcheck: loss_fn gave .* at the same point.*dropout"):
        gradcheck(dropout_loss, {"x": POINT}, {"x": 2 * np.ones(6)})


def test_the_same_dropout_with_a_fixed_mask_is_checked() -> None:
    keep = np.random.default_rng(5).random(POINT.shape) > 0.5

    def dropout_loss(arrays: dict[str, np.ndarray]) -> float:
        return float((arrays["x"] * keep).sum() * 2)

    assert gradcheck(dropout_loss, {"x": POINT}, {"x": 2.0 * keep}).ok
    wrong = gradcheck(dropout_loss, {"x": POINT}, {"x": 2 * np.ones(6)})
    assert wrong["x"].status == "FAIL"
