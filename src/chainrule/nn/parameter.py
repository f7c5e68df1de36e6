"""`Parameter`: a leaf Tensor that a `Module` registers as trainable.

It is a Tensor with `requires_grad=True` and nothing else; ops on it give plain Tensors,
so the graph never holds Parameters other than the leaves themselves.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from chainrule.tensor import Tensor


class Parameter(Tensor):
    """A trainable leaf tensor: assigning one to a Module attribute registers it.

    The data is shared, not copied, when it is a NumPy float array (as for `Tensor`).
    """

    __slots__ = ()

    def __init__(
        self,
        data: Any,
        *,
        requires_grad: bool = True,
        dtype: npt.DTypeLike | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(data, requires_grad=requires_grad, dtype=dtype, name=name)

    @classmethod
    def _wrap(cls, array: np.ndarray) -> Tensor:
        """Results of ops (and gradients) built on a Parameter are plain Tensors."""
        return Tensor.from_numpy(array)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()
