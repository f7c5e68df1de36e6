"""`Embedding`: a table of vectors looked up by integer index, as `torch.nn.Embedding`."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from chainrule import functional as F
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter, overwrite
from chainrule.tensor import Tensor


class Embedding(Module):
    """y = weight[indices]: integer indices of any shape (...) -> vectors (..., embedding_dim).

    `weight` (num_embeddings, embedding_dim) starts standard normal (PyTorch's default), drawn
    from `rng` (`rng=None`: a fresh `np.random.default_rng()`), with the row `padding_idx`
    set to 0. That row gets no gradient, so it stays as it is during training; the other
    rows get the sum of the gradients at the positions that looked them up. With `max_norm`,
    each forward first scales the looked-up rows whose `norm_type`-norm exceeds it down to
    max_norm, in place and without gradient, as PyTorch.

    Example:
        >>> table = Embedding(10, 3, padding_idx=0, rng=np.random.default_rng(0))
        >>> table(np.array([[1, 2], [0, 9]])).shape
        (2, 2, 3)
    """

    weight: Parameter

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        *,
        rng: np.random.Generator | None = None,
        dtype: npt.DTypeLike = np.float32,
    ) -> None:
        super().__init__()
        for label, size in (("num_embeddings", num_embeddings), ("embedding_dim", embedding_dim)):
            if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size <= 0:
                raise ValueError(f"Embedding: {label} must be a positive integer, got {size!r}")
        if padding_idx is not None:
            if (
                isinstance(padding_idx, bool)
                or not isinstance(padding_idx, (int, np.integer))
                or not -num_embeddings <= padding_idx < num_embeddings
            ):
                raise ValueError(
                    f"Embedding: padding_idx={padding_idx!r} must be an int in "
                    f"[{-num_embeddings}, {num_embeddings - 1}]"
                )
            padding_idx = int(padding_idx) % num_embeddings
        float_dtype = np.dtype(dtype)
        if float_dtype.kind != "f":
            raise TypeError(f"Embedding: dtype must be float32 or float64, got {float_dtype}")
        self.num_embeddings = int(num_embeddings)
        self.embedding_dim = int(embedding_dim)
        self.padding_idx = padding_idx
        if max_norm is not None and not float(max_norm) > 0:
            raise ValueError(f"Embedding: max_norm must be > 0, got {max_norm!r}")
        self.max_norm = None if max_norm is None else float(max_norm)
        self.norm_type = float(norm_type)
        self.rng = rng if rng is not None else np.random.default_rng()
        self.weight = Parameter(np.empty((self.num_embeddings, self.embedding_dim), float_dtype))
        self.reset_parameters()

    @classmethod
    def from_pretrained(
        cls,
        embeddings: Any,
        freeze: bool = True,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
    ) -> Embedding:
        """An Embedding whose table is `embeddings` (num_embeddings, embedding_dim), a float
        array or Tensor, as torch's `from_pretrained`: frozen (`requires_grad` False) unless
        `freeze=False`, the padding row kept as given. The values are copied (torch's table
        shares the given tensor's memory), in their dtype."""
        values = embeddings.detach().numpy() if isinstance(embeddings, Tensor) else embeddings
        values = np.asarray(values)
        if values.ndim != 2 or values.dtype.kind != "f":
            raise ValueError(
                "Embedding.from_pretrained: embeddings must be a 2-D float array "
                f"(num_embeddings, embedding_dim), got shape {values.shape} and dtype "
                f"{values.dtype}"
            )
        if not isinstance(freeze, bool):
            raise TypeError(
                f"Embedding.from_pretrained: freeze must be True or False, got {freeze!r}"
            )
        rows, width = values.shape
        table = cls(rows, width, padding_idx, max_norm, norm_type, dtype=values.dtype)
        overwrite(table.weight, values)
        table.weight.requires_grad_(not freeze)
        return table

    def reset_parameters(self) -> None:
        """Redraw weight standard normal from the layer's `rng`; zero the padding row."""
        weight = self.rng.standard_normal(self.weight.shape)
        if self.padding_idx is not None:
            weight[self.padding_idx] = 0
        overwrite(self.weight, weight)

    def forward(self, indices: Any) -> Tensor:
        return F.embedding(indices, self.weight, self.padding_idx, self.max_norm, self.norm_type)

    def extra_repr(self) -> str:
        padding = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        renorm = "" if self.max_norm is None else f", max_norm={self.max_norm}"
        norm = "" if self.norm_type == 2 else f", norm_type={self.norm_type}"
        return f"{self.num_embeddings}, {self.embedding_dim}{padding}{renorm}{norm}"
