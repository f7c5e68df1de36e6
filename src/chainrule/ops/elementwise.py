"""Element-wise methods: one per one-input primitive that declares a `method` name, made from
that declaration (`unary_method`), and the two that take parameters (clip, astype). Attached
to Tensor when chainrule.ops is imported.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from chainrule import primitives as P
from chainrule.tensor import Tensor, attach_methods


def unary_method(primitive: type[P.Primitive]) -> Callable[[Tensor], Tensor]:
    """The Tensor method `x.<method>()` of a one-input primitive, documented by its formula."""

    def method(self: Tensor) -> Tensor:
        return Tensor._apply(primitive, (self,), {})

    method.__name__ = method.__qualname__ = str(primitive.method)
    method.__doc__ = primitive.__doc__
    return method


def clip(self: Tensor, min: float | None = None, max: float | None = None) -> Tensor:
    """Values limited to [min, max];  derivative [min <= x <= max]."""
    if min is None and max is None:
        raise ValueError("clip: give at least one of min and max")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        # The bounds are the op's constants: a Tensor there would get no gradient (and
        # NumPy's clip, handed one, dispatched back here without end).
        raise TypeError(
            "clip: min and max are numbers or NumPy arrays, got a Tensor; for a bound that "
            "is a tensor write chainrule.maximum(x, low) and chainrule.minimum(x, high) (its "
            "gradient flows to the bound), or pass bound.numpy() for a constant"
        )
    source = self
    if self.dtype.kind != "f" and any(
        np.asarray(bound).dtype.kind == "f" for bound in (min, max) if bound is not None
    ):  # a float bound makes an integer tensor float32, as PyTorch (NumPy: float64)
        source = Tensor._apply(P.Cast, (self,), {"dtype": np.dtype(np.float32)})
    return Tensor._apply(P.Clip, (source,), {"low": min, "high": max})


def astype(self: Tensor, dtype: npt.DTypeLike) -> Tensor:
    """The values converted to another float dtype; the gradient converts back."""
    target = np.dtype(dtype)
    if target == self.dtype:
        return self
    if target.kind != "f":
        raise TypeError(
            f"astype: this {self.dtype} tensor converts only to another float dtype, not {target} "
            "(no gradient flows through an integer or bool cast); for integer values take "
            f"the array: t.numpy().astype('{target}')"
        )
    return Tensor._apply(P.Cast, (self,), {"dtype": target})


attach_methods(
    clip,
    astype,
    *(
        unary_method(primitive)
        for primitive in P.PRIMITIVES
        if primitive.method and P.is_unary(primitive) and not hasattr(Tensor, primitive.method)
    ),
)
