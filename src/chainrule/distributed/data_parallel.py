"""Averaging gradients over ranks, as DistributedDataParallel does, with one Allreduce.

When the parameters of a dtype live in a flat buffer (`Module.flatten_parameters()`,
`chainrule.nn.flat`) with every gradient in it, that buffer is averaged in place: one
Allreduce, nothing gathered or copied back. Otherwise the gradients are gathered into one
persistent, contiguous buffer per dtype (allocated once, reused every step), summed over the
ranks in place, and copied back. Each rank's gradient is weighted by its share of the global
batch,

    grad = sum_r (n_r / B) * grad_r,   B = sum_r n_r,

the mean gradient of the global batch whatever the shard sizes; with equal shards that is
the plain average sum_r grad_r / size. A parameter without a gradient on a rank (a branch
that rank did not take) counts as a zero gradient there; one without a gradient on every rank
keeps `.grad` None, so the optimizer skips it as one process would (DDP's rule for globally
unused parameters). n_r and which parameters have a gradient travel in the same buffer, so a
step costs one Allreduce per dtype (one in all for a single-dtype model).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from chainrule.distributed.communicator import Communicator
from chainrule.distributed.launcher import world
from chainrule.nn.flat import FlatBuffer, buffer_of
from chainrule.nn.utils import register_gradient_synchronizer, unregister_gradient_synchronizer
from chainrule.tensor import Tensor


def _by_dtype(params: Sequence[Tensor]) -> dict[np.dtype[Any], list[Tensor]]:
    groups: dict[np.dtype[Any], list[Tensor]] = {}
    for param in params:
        groups.setdefault(param.data.dtype, []).append(param)
    return groups


class GradientBuffer:
    """The flat buffers of `params`' gradients, one per dtype (float32 for float16), each
    followed by one slot per parameter (1 where this rank has its gradient) and one for the
    rank's sample count (the layout of a `FlatBuffer`'s `grad_and_spare`);
    `allreduce(comm, samples)` averages every `.grad` over ranks."""

    def __init__(self, params: Iterable[Tensor]) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError("GradientBuffer: no parameters; pass model.parameters()")
        self.groups = _by_dtype(self.params)
        self.buffers = {
            dtype: np.empty(
                sum(param.data.size for param in group) + len(group) + 1,
                np.promote_types(dtype, np.float32),
            )
            for dtype, group in self.groups.items()
        }
        self.finite = True
        """Whether the last averaged gradients were all finite (the same on every rank)."""

    def allreduce(self, comm: Communicator, samples: float | None = None) -> None:
        """Replace each parameter's `.grad` by its weighted mean over the ranks.

        `samples` is this rank's share of the global batch (its row count); None weighs the
        ranks equally. A parameter without a gradient contributes zeros (and gets the mean);
        one without a gradient on every rank keeps `.grad` None.
        """
        weight = 1.0 if samples is None else float(samples)
        finite = True
        for dtype, group in self.groups.items():
            flat = buffer_of(group[0])
            buffer = self.buffers[dtype]
            # float16 gradients are summed in float32: n_r * grad_r and the sums overflowed
            # float16 (a mean gradient of 64 over 2 x 1100 rows was inf); so never in place.
            if flat is not None and flat.grad.dtype == buffer.dtype and flat.holds_all_grads(group):
                finite = self._allreduce_in_place(comm, flat, weight) and finite
                continue
            count = len(group)
            present = buffer[-1 - count : -1]
            offset = 0
            for index, param in enumerate(group):
                size = param.data.size
                present[index] = param.grad is not None
                if param.grad is None:
                    buffer[offset : offset + size] = 0
                else:
                    np.multiply(
                        param.grad.data.reshape(-1),
                        weight,
                        out=buffer[offset : offset + size],
                        dtype=buffer.dtype,
                        casting="same_kind",
                    )
                offset += size
            total = _sum_over_ranks(comm, buffer, weight)
            gradients = buffer[: -1 - count]
            gradients /= total
            finite = finite and bool(np.isfinite(gradients).all())
            offset = 0
            for index, param in enumerate(group):
                size = param.data.size
                averaged = gradients[offset : offset + size].reshape(param.data.shape)
                grad = param.grad
                if present[index] == 0:  # no rank has one: the optimizer skips it
                    offset += size
                    continue
                if (
                    grad is not None
                    and grad.data.flags.writeable
                    and grad.data.shape == param.data.shape
                ):
                    np.copyto(grad.data, averaged)
                else:
                    param.grad = Tensor(averaged.astype(param.data.dtype))
                offset += size
        self.finite = finite

    @staticmethod
    def _allreduce_in_place(comm: Communicator, flat: FlatBuffer, weight: float) -> bool:
        """`allreduce` on a flat gradient buffer itself (its spare element carries the sample
        count); whether the averaged gradients are finite."""
        buffer = flat.grad_and_spare
        gradients = flat.grad
        if weight != 1.0:
            gradients *= weight
        buffer[gradients.size : -1] = 1  # every member has its gradient here
        total = _sum_over_ranks(comm, buffer, weight)
        gradients /= total
        for param in flat.params:
            grad = param.grad
            if grad is not None:  # always, holds_all_grads checked it
                grad.increment_version()
        return bool(np.isfinite(gradients).all())


def _sum_over_ranks(comm: Communicator, buffer: np.ndarray, weight: float) -> np.floating[Any]:
    """Allreduce-sum `buffer` (weighted gradients, presence slots), its last slot carrying
    this rank's sample count `weight`; the ranks' total count, refused unless positive."""
    buffer[-1] = weight
    comm.allreduce_sum(buffer)
    total: np.floating[Any] = buffer[-1]
    if total <= 0:
        raise ValueError(
            f"allreduce_grads: the ranks' sample counts add up to "
            f"{total}; pass each rank's positive row count"
        )
    return total


def allreduce_grads(
    params: Iterable[Tensor], comm: Communicator | None = None, samples: float | None = None
) -> None:
    """Average `params`' gradients over the ranks of `comm` (default: `world()`), one
    Allreduce per dtype. For repeated calls keep a `GradientBuffer` (or `DataParallel`),
    which allocates its buffer once."""
    GradientBuffer(params).allreduce(world() if comm is None else comm, samples)


def broadcast_parameters(
    params: Iterable[Tensor], comm: Communicator | None = None, root: int = 0
) -> None:
    """Copy `root`'s parameter values to every rank (one broadcast per dtype)."""
    comm = world() if comm is None else comm
    for group in _by_dtype(list(params)).values():
        flat = np.concatenate([param.data.reshape(-1) for param in group])
        comm.broadcast(flat, root)
        offset = 0
        for param in group:
            size = param.data.size
            np.copyto(param.data, flat[offset : offset + size].reshape(param.data.shape))
            offset += size


GradientStamp = tuple["weakref.ref[Tensor]", int] | None
"""A gradient as it was averaged: the Tensor (weakly) and its version; None for no gradient."""


class DataParallel:
    """Data parallelism for a model's `params` and its `optimizer`: the parameters are
    broadcast from rank 0 now, and the gradients are averaged over the ranks before every
    `optimizer.step()` (also when the step is replayed by `chainrule.compile`), so every rank
    takes the same step. `clip_grad_norm_` and `clip_grad_value_` average them first, so
    they clip the global batch's gradient as one process would; after any other in-place
    change of the averaged gradients, the step averages them again (to rounding, the same
    values). Set `samples` to this rank's row count before each step when the shards may
    differ in size (a `DistributedSampler`'s last batch). The weights assume each rank's loss
    is the mean over its rows (the losses' default reduction); for a summed loss the global
    gradient is the sum over ranks, `size` times the plain average (samples None). For a
    mean with another denominator, `samples` is that denominator: a `CrossEntropyLoss` with
    `weight` or `ignore_index` divides by the summed class weights of the rank's kept
    targets, so set `samples = weight[y[y != ignore_index]].sum()` (the row count would
    weigh the ranks wrongly, silently).

    Only the gradients are shared. A `BatchNorm1d` normalises each rank's shard by that
    shard's own statistics (there is no synchronised batch norm), so its gradient is not the
    global batch's, and its running statistics are each rank's own: they differ between
    ranks, and a checkpoint written by rank 0 holds rank 0's.

    Example:
        >>> parallel = DataParallel(model.parameters(), optimizer)
        >>> for x, y in DistributedSampler(data, 256, rank=parallel.comm.rank,
        ...                                size=parallel.comm.size, shuffle=True,
        ...                                rng=np.random.default_rng(0)):
        ...     parallel.samples = len(x)
        ...     optimizer.zero_grad(); loss_fn(model(x), y).backward()
        ...     clip_grad_norm_(model.parameters(), 1.0)  # clips the averaged gradient
        ...     optimizer.step()
    """

    def __init__(
        self, params: Iterable[Tensor], optimizer: Any, comm: Communicator | None = None
    ) -> None:
        self.comm = world() if comm is None else comm
        self.buffer = GradientBuffer(params)
        self.samples: float | None = None
        self._members = {id(param) for param in self.buffer.params}
        self._averaged: list[GradientStamp] | None = None
        broadcast_parameters(self.buffer.params, self.comm)
        self._handle = optimizer.register_step_pre_hook(self._before_step)
        register_gradient_synchronizer(self)

    @property
    def finite(self) -> bool:
        """Whether the last averaged gradients were finite (the same answer on every rank)."""
        return self.buffer.finite

    def owns(self, param: Tensor) -> bool:
        return id(param) in self._members

    def synchronize_gradients(self) -> None:
        """Average the gradients now (every rank calls it), unless they are as this step
        last averaged them."""
        if not self._still_averaged():
            self._average()

    def gradients_changed(self) -> None:
        """The averaged gradients were changed in place alike on every rank (a clipping):
        they stay averaged for this step."""
        if self._averaged is not None:
            self._averaged = self._stamps()

    def _stamps(self) -> list[GradientStamp]:
        return [
            None if (grad := param.grad) is None else (weakref.ref(grad), grad.version)
            for param in self.buffer.params
        ]

    def _still_averaged(self) -> bool:
        if self._averaged is None:
            return False
        for param, stamp in zip(self.buffer.params, self._averaged, strict=True):
            grad = param.grad
            if stamp is None:
                if grad is not None:
                    return False
            elif grad is None or stamp[0]() is not grad or stamp[1] != grad.version:
                return False
        return True

    def _average(self) -> None:
        self.buffer.allreduce(self.comm, self.samples)
        self._averaged = self._stamps()

    def _before_step(self, optimizer: Any) -> None:
        self.synchronize_gradients()
        self._averaged = None  # the next step's gradients are averaged anew

    def detach(self) -> None:
        """Stop averaging before the optimizer's steps and the clippings."""
        self._handle.remove()
        unregister_gradient_synchronizer(self)
