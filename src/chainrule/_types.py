"""Array type aliases shared by the package."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.floating[Any]]
"""A floating-point array of any precision (float32 and float64 in practice)."""

Float64Array = npt.NDArray[np.float64]
