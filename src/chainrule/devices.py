"""Tensors on devices: `t.device`, `t.to(device)` and `t.cpu()`, attached to Tensor when
chainrule is imported. A Tensor holds an array of any array API library (NumPy, CuPy on a
GPU, JAX, array_api_strict); its gradient is computed, and `.grad` kept, in the same library.
Where arrays live and how they move is `chainrule.placement`'s; this module exposes it.
"""

from __future__ import annotations

from typing import Any

from chainrule.dtypes import numpy_dtype
from chainrule.placement import Device, dtype_named_by, move_keeping_dtype
from chainrule.tensor import Tensor, attach_methods


def to(self: Tensor, device: Any) -> Tensor:
    """This tensor on `device` ("cpu", "cuda", "cuda:N", another tensor's `.device`, an array
    library's module such as array_api_strict or jax.numpy, or a device object of one): self
    when it is there already, else a copy there that keeps `requires_grad` and the name.
    A library that would change its float dtype (JAX without jax_enable_x64: float64 to
    float32) is refused rather than truncating.

    Unlike PyTorch, the move is not recorded: a leaf moves as a new leaf (as parameters do
    in `Module.to`); move a computed tensor's inputs instead, or detach it first.
    """
    dtype_asked = dtype_named_by(device)
    if dtype_asked is not None:
        raise TypeError(
            f"to: {device!r} is a dtype, but Tensor.to takes a device ('cpu', 'cuda', an array "
            f"library's module), unlike PyTorch's x.to(dtype); convert with "
            f"x.astype(np.{dtype_asked.name})"
        )
    array = move_keeping_dtype("to", self.data, device)
    if array is self.data:
        return self
    if self._node is not None:
        raise ValueError(
            f"to({device!r}): this tensor (shape {self.shape}) was computed by a recorded op, "
            "and chainrule does not record moves between devices, so its gradient would stop "
            "here; move the inputs before computing, or move t.detach()"
        )
    # Its own dtype, said outright: Tensor() would make integers and booleans float32.
    dtype = numpy_dtype(array.dtype)
    return Tensor(array, requires_grad=self.requires_grad, dtype=dtype, name=self.name)


def cpu(self: Tensor) -> Tensor:
    """This tensor with NumPy values (self when it holds NumPy's already), as `to("cpu")`."""
    return to(self, "cpu")


attach_methods(to, cpu)

__all__ = ["Device", "cpu", "to"]
