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
from chainrule.placement import device_of, move
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


def overwrite(tensor: Tensor, values: np.ndarray) -> None:
    """Write `values` (a NumPy array of `tensor`'s shape) into `tensor` in place, cast to its
    dtype, and count the change (a graph that saved it then refuses its backward, as
    torch's in-place init): a flat buffer's view stays one, so the optimizer keeps its
    one-call update. Another library's array (a model moved with `.to`) cannot be written
    into and is replaced on its device."""
    data = tensor.data
    if type(data) is np.ndarray:
        np.copyto(data, values, casting="unsafe")
        tensor.increment_version()
    else:
        tensor.data = move(values.astype(numpy_dtype(tensor.dtype)), device_of(data))


# A rule run on Parameters (gradients of gradients) computes through NumPy's protocols, as on
# Tensors: `namespace` matches types exactly, so the subclass registers too.
dispatch_through_numpy(Parameter)
