"""scikit-learn's bundled 8x8 handwritten digits: real data that needs no download."""

from __future__ import annotations

import numpy as np

from chainrule._types import Float64Array

IntArray = np.ndarray[tuple[int], np.dtype[np.int64]]


def load_digits() -> tuple[Float64Array, IntArray]:
    """(images, labels): images float64 of shape (1797, 64) with pixels scaled to [0, 1],
    labels int64 of shape (1797,) in 0 .. 9.

    Needs scikit-learn (`pip install "chainrule[cli]"`), imported only when called.
    """
    from sklearn.datasets import load_digits as sklearn_load_digits

    bunch = sklearn_load_digits()
    images: Float64Array = np.asarray(bunch.data, dtype=np.float64) / 16.0
    labels: IntArray = np.asarray(bunch.target, dtype=np.int64)
    return images, labels
