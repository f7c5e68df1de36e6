"""The plug between Tensor's NumPy protocols (`np.exp(t)`, `np.sum(t, axis=0)`) and the ops
layer that serves them (kept out of chainrule.tensor, whose data model it is not)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class NumpyProtocol:
    """Where Tensor's `__array_ufunc__` and `__array_function__` send NumPy's calls. The
    tables live above the data model (chainrule.ops.dispatch builds them from the ops), which
    plugs its functions in here when chainrule is imported: a one-way plug, so this module
    never imports the layer above it."""

    def __init__(self) -> None:
        self.array_ufunc: Callable[..., Any] = self._unplugged
        self.array_function: Callable[..., Any] = self._unplugged

    @staticmethod
    def _unplugged(*args: Any) -> Any:
        raise TypeError("NumPy functions on chainrule tensors need `import chainrule` first")


NUMPY_PROTOCOL = NumpyProtocol()
