"""`BatchNorm1d`: normalise each feature over the batch, then scale and shift.

Built from engine ops, so its gradient comes from the chain rule like any other
composite; the running statistics are NumPy buffers updated outside the graph.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from chainrule.backends import namespace
from chainrule.modes import refuse_while_tracing
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.tensor import Tensor, as_tensor


class BatchNorm1d(Module):
    """y = (x - mean) / sqrt(var + eps) * weight + bias, per feature (channel).

    Shapes: input (N, C) or (N, C, L) with C = num_features; statistics are taken over N
    (and L). In training, mean and the biased variance of the batch normalise it, and the
    running statistics move toward the batch's::

        running = (1 - momentum) * running + momentum * batch,

    with the unbiased variance (divided by n - 1) for `running_var`, as PyTorch. With
    `momentum=None` they are the plain average over all batches seen. In eval mode the
    running statistics normalise instead. `weight` starts at 1 and `bias` at 0
    (`affine=False`: neither exists). With `track_running_stats=False` there are no running
    statistics (the buffers are None, as in PyTorch) and every batch, in eval mode too, is
    normalised by its own.
    """

    weight: Parameter | None
    bias: Parameter | None
    running_mean: np.ndarray | None
    running_var: np.ndarray | None
    num_batches_tracked: np.ndarray | None

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        *,
        dtype: npt.DTypeLike = np.float32,
    ) -> None:
        super().__init__()
        if (
            isinstance(num_features, bool)
            or not isinstance(num_features, (int, np.integer))
            or num_features <= 0
        ):
            raise ValueError(
                f"BatchNorm1d: num_features must be a positive integer, got {num_features!r}"
            )
        if not eps > 0:
            raise ValueError(f"BatchNorm1d: eps must be positive, got {eps!r}")
        if momentum is not None and not 0.0 <= momentum <= 1.0:
            raise ValueError(f"BatchNorm1d: momentum must be in [0, 1] or None, got {momentum!r}")
        float_dtype = np.dtype(dtype)
        if float_dtype.kind != "f":
            raise TypeError(f"BatchNorm1d: dtype must be float32 or float64, got {float_dtype}")
        self.num_features = int(num_features)
        self.eps = float(eps)
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = bool(track_running_stats)
        self.weight = Parameter(np.ones(num_features, float_dtype)) if affine else None
        self.bias = Parameter(np.zeros(num_features, float_dtype)) if affine else None
        tracked = self.track_running_stats
        self.register_buffer(
            "running_mean", np.zeros(num_features, float_dtype) if tracked else None
        )
        self.register_buffer("running_var", np.ones(num_features, float_dtype) if tracked else None)
        self.register_buffer(
            "num_batches_tracked", np.array(0, dtype=np.int64) if tracked else None
        )

    def forward(self, x: Any) -> Tensor:
        if self.running_mean is not None or self.running_var is not None:
            # Without running statistics (track_running_stats=False) it is ops alone.
            refuse_while_tracing(
                "BatchNorm1d",
                "its running statistics are kept outside the "
                "graph, so a replay would neither update nor read them",
            )
        inputs = as_tensor(x)
        self._check_input(inputs)
        axes = (0,) if inputs.ndim == 2 else (0, 2)
        shape = (1, self.num_features) if inputs.ndim == 2 else (1, self.num_features, 1)
        running_mean, running_var = self.running_mean, self.running_var
        # As PyTorch: without running statistics (both None) every batch uses its own.
        if self.training or running_mean is None or running_var is None:
            count = inputs.size // self.num_features
            if count <= 1:
                fix = "call .eval() first" if running_mean is not None else "track_running_stats"
                raise ValueError(
                    f"BatchNorm1d: normalising by the batch needs more than one value per "
                    f"feature to estimate a variance, got input of shape {inputs.shape}; use "
                    f"a larger batch or {fix}"
                )
            mean = inputs.mean(axis=axes, keepdims=True)
            centered = inputs - mean
            var = (centered * centered).mean(axis=axes, keepdims=True)
            normalized = centered / (var + self.eps).sqrt()
            if self.training and running_mean is not None and running_var is not None:
                xp = namespace(mean.data)
                batch_mean, batch_var = xp.reshape(mean.data, (-1,)), xp.reshape(var.data, (-1,))
                self._update_running_stats(running_mean, running_var, batch_mean, batch_var, count)
        else:
            xp = namespace(running_var)
            inv_std = 1.0 / xp.sqrt(running_var + self.eps)
            centered = inputs - xp.reshape(running_mean, shape)
            normalized = centered * xp.reshape(inv_std, shape)
        if self.weight is None or self.bias is None:
            return normalized
        return normalized * self.weight.reshape(shape) + self.bias.reshape(shape)

    def _check_input(self, inputs: Tensor) -> None:
        if inputs.ndim not in (2, 3) or inputs.shape[1] != self.num_features:
            raise ValueError(
                f"BatchNorm1d(num_features={self.num_features}): input has shape "
                f"{inputs.shape}; expected (N, {self.num_features}) or "
                f"(N, {self.num_features}, L)"
            )

    def _update_running_stats(
        self,
        running_mean: Any,
        running_var: Any,
        mean: Any,
        var: Any,
        count: int,
    ) -> None:
        """running = (1 - factor) running + factor batch, outside the graph: in place on
        NumPy; another library's arrays (JAX's are immutable, where `*=` would only rebind
        a local name and leave the buffer as it was) are replaced by the new values, in the
        buffers' dtypes."""
        tracked = self.num_batches_tracked
        if tracked is not None:
            tracked = tracked + 1
            if type(self.num_batches_tracked) is np.ndarray:
                self.num_batches_tracked[...] = tracked
            else:
                self._buffers["num_batches_tracked"] = tracked
        factor = self.momentum
        if factor is None:  # PyTorch's cumulative average over the batches counted
            factor = 1.0 / (int(tracked) if tracked is not None else 1)
        unbiased_var = var * (count / (count - 1))
        if type(running_mean) is np.ndarray and type(running_var) is np.ndarray:
            running_mean *= 1.0 - factor
            running_mean += factor * mean
            running_var *= 1.0 - factor
            running_var += factor * unbiased_var
            return
        # Cast back to each buffer's dtype, as NumPy's in-place update does: a float64 batch
        # would otherwise make float32 running statistics float64.
        xp = namespace(running_mean)
        new_mean = (1.0 - factor) * running_mean + factor * mean
        new_var = (1.0 - factor) * running_var + factor * unbiased_var
        self._buffers["running_mean"] = xp.astype(new_mean, running_mean.dtype, copy=False)
        self._buffers["running_var"] = xp.astype(new_var, running_var.dtype, copy=False)

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"track_running_stats={self.track_running_stats}"
        )
