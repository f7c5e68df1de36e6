"""`Parameter`: a leaf Tensor that a `Module` registers as trainable.

It is a Tensor with `requires_grad=True` and nothing else; ops on it give plain Tensors,
so the graph never holds Parameters other than the leaves themselves.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from chainrule.backends import dispatch_through_numpy
from chainrule.dtypes import numpy_dtype
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
        if type(array) is np.ndarray:
            return Tensor.from_numpy(array)
        return Tensor(array, dtype=numpy_dtype(array.dtype))  # CuPy, JAX, ...: kept there

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


# A rule run on Parameters (gradients of gradients) computes through NumPy's protocols, as on
# Tensors: `namespace` matches types exactly, so the subclass registers too.
dispatch_through_numpy(Parameter)
