"""`load_digits()`: scikit-learn's bundled 8x8 handwritten digits, the embedded default
data set (1797 images, no download). scikit-learn is imported only when this is called.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def load_digits() -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """The digits as (images, labels): images float64 of shape (1797, 64), the 0..16 pixel
    counts scaled to [0, 1] by dividing by 16; labels int64 of shape (1797,) in 0..9."""
    from sklearn.datasets import load_digits as sklearn_load_digits

    bunch = sklearn_load_digits()
    images = np.asarray(bunch.data, dtype=np.float64) / 16.0
    labels = np.asarray(bunch.target, dtype=np.int64)
    return images, labels
