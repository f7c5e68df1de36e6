"""The bundled digits as the verify command uses them."""

from __future__ import annotations

import numpy as np

from chainrule.data import load_digits


def test_digits_are_1797_float64_images_scaled_to_unit_interval() -> None:
    images, labels = load_digits()
    assert images.shape == (1797, 64)
    assert images.dtype == np.float64
    assert images.min() == 0.0
    assert images.max() == 1.0
    assert labels.shape == (1797,)
    assert labels.dtype == np.int64
    assert set(np.unique(labels)) == set(range(10))
