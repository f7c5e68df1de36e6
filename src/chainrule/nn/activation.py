"""Element-wise activations as modules, for use in `Sequential`: ReLU, Tanh, Sigmoid.

Each forwards to the engine op of the same name, whose docstring gives the derivative.
"""

from __future__ import annotations

from typing import Any

from chainrule.nn.module import Module
from chainrule.tensor import Tensor, as_tensor


class ReLU(Module):
    """max(x, 0), element-wise;  derivative [x > 0]."""

    def forward(self, x: Any) -> Tensor:
        return as_tensor(x).relu()


class Tanh(Module):
    """tanh(x), element-wise;  derivative 1 - tanh(x)**2."""

    def forward(self, x: Any) -> Tensor:
        return as_tensor(x).tanh()


class Sigmoid(Module):
    """1 / (1 + exp(-x)), element-wise;  derivative s (1 - s)."""

    def forward(self, x: Any) -> Tensor:
        return as_tensor(x).sigmoid()
