"""`Dropout`: in training, zero each input with probability p and scale the rest by
1 / (1 - p) (inverted dropout), so evaluation is the identity and expectations agree.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.modes import refuse_while_tracing
from chainrule.nn.module import Module
from chainrule.tensor import Tensor, as_tensor


class Dropout(Module):
    """y = x * mask / (1 - p) in training, with mask ~ Bernoulli(1 - p) per entry; y = x in
    eval mode.  dL/dx = dL/dy * mask / (1 - p).

    The masks come from `rng` (`rng=None`: a fresh `np.random.default_rng()`); pass a seeded
    Generator for reproducible runs.
    """

    def __init__(self, p: float = 0.5, *, rng: np.random.Generator | None = None) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p is a probability in [0, 1], got {p!r}")
        self.p = float(p)
        self.rng = rng if rng is not None else np.random.default_rng()

    def forward(self, x: Any) -> Tensor:
        inputs = as_tensor(x)
        if not self.training or self.p == 0.0:
            return inputs
        refuse_while_tracing(
            "Dropout in training mode",
            "its random mask is drawn outside the graph and would be frozen",
        )
        # An integer input is scaled as float32 (it cannot hold 1 / (1 - p)), as in `*`.
        dtype = inputs.dtype if inputs.dtype.kind == "f" else np.dtype(np.float32)
        scale = (self.rng.random(inputs.shape) >= self.p).astype(dtype)
        if self.p < 1.0:
            scale *= 1.0 / (1.0 - self.p)
        return inputs * scale

    def extra_repr(self) -> str:
        return f"p={self.p}"
