"""Two engines for one training step: the autograd `Tensor` engine and the hand-derived
`chainrule.manual` layers.

Both expose their parameters as `chainrule.nn.Parameter`s, so one `chainrule.optim` optimizer
updates either. The manual engine bridges by sharing arrays: each hand-written `Linear`
computes with its Parameter's `.data`, and after its backward the layer's `grad_weight` and
`grad_bias` become the Parameters' `.grad`; the optimizer then updates `.data` in place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

import chainrule
from chainrule import manual, nn
from chainrule.modes import no_grad
from chainrule.optim import Optimizer
from chainrule.tensor import Tensor
from chainrule.train.diagnostics import Network

EVAL_BATCH = 2048
"""Rows per forward pass when evaluating (bounded memory on large test sets)."""


class Engine(Protocol):
    """What the training loop needs of a model."""

    def parameters(self) -> list[nn.Parameter]: ...

    def train_step(self, x: np.ndarray, y: np.ndarray, optimizer: Optimizer) -> float: ...

    def logits(self, x: np.ndarray) -> np.ndarray: ...

    def state_dict(self) -> dict[str, np.ndarray]: ...

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None: ...

    def generators(self) -> list[np.random.Generator]: ...

    def network(self) -> Network: ...


def _in_batches(forward: Any, x: np.ndarray) -> np.ndarray:
    return np.concatenate(
        [forward(x[start : start + EVAL_BATCH]) for start in range(0, len(x), EVAL_BATCH)]
    )


class AutogradEngine:
    """An `nn.Module` with `nn.CrossEntropyLoss`; with `compile`, the whole step (forward,
    backward, zero_grad, optimizer step) is traced per batch shape (twice: the second trace
    checks the first) and replayed, by the NumPy replay or, with `backend="xla"`, as one jitted
    JAX function.

    The module's parameters are placed in flat buffers (`Module.flatten_parameters`), so an
    optimizer steps them all in a few NumPy calls (bit-identical to one by one), and
    backward writes each gradient into its slice of the flat gradient buffer."""

    def __init__(
        self,
        module: nn.Module,
        *,
        compile: bool = False,
        backend: str = "numpy",
        device: Any = "cpu",
    ) -> None:
        # On another device ("cuda": CuPy; any `Tensor.to` device), the parameters are
        # updated one by one: flat buffers are NumPy's.
        if device == "cpu":
            module.flatten_parameters()
        else:
            module.to(device)
        self.device = device
        self.module = module
        self.criterion = nn.CrossEntropyLoss()
        if compile and backend == "xla" and any(p.dtype == np.float64 for p in module.parameters()):
            from chainrule.compiler.xla import enable_float64

            enable_float64()
        self._step: Any = (
            chainrule.compile(self._eager_step, backend=backend) if compile else self._eager_step
        )

    def parameters(self) -> list[nn.Parameter]:
        return list(self.module.parameters())

    def _eager_step(self, x: np.ndarray, y: np.ndarray, optimizer: Optimizer) -> Tensor:
        optimizer.zero_grad()
        inputs = x if self.device == "cpu" else Tensor(x).to(self.device)
        loss: Tensor = self.criterion(self.module(inputs), y)
        loss.backward()
        optimizer.step()
        return loss

    def train_step(self, x: np.ndarray, y: np.ndarray, optimizer: Optimizer) -> float:
        self.module.train()
        return float(self._step(x, y, optimizer).item())

    def logits(self, x: np.ndarray) -> np.ndarray:
        self.module.eval()
        with no_grad():
            return _in_batches(lambda rows: self.module(Tensor(rows).to(self.device)).numpy(), x)

    def state_dict(self) -> dict[str, np.ndarray]:
        return self.module.state_dict()

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        self.module.load_state_dict(state)

    def generators(self) -> list[np.random.Generator]:
        """The dropout layers' generators, in module order (saved with checkpoints)."""
        return [module.rng for module in self.module.modules() if isinstance(module, nn.Dropout)]

    def network(self) -> Network:
        """The module, for `chainrule.train.diagnostics`."""
        return self.module


class ManualEngine:
    """`manual.Sequential` of Linear/ReLU layers with `manual.SoftmaxCrossEntropy`; the
    forward and backward passes are the hand-derived ones, parameters are shared arrays."""

    def __init__(self, model: manual.Sequential, initial: Mapping[str, np.ndarray]) -> None:
        self.model = model
        self.criterion = manual.SoftmaxCrossEntropy()
        self.named = {
            name: nn.Parameter(array.copy()) for name, array in model.parameters().items()
        }
        self.load_state_dict(initial)

    def parameters(self) -> list[nn.Parameter]:
        return list(self.named.values())

    def _linear_parameters(self) -> list[tuple[manual.Linear, nn.Parameter, nn.Parameter]]:
        pairs = []
        for index, layer in enumerate(self.model.layers):
            if isinstance(layer, manual.Linear):
                pairs.append((layer, self.named[f"{index}.weight"], self.named[f"{index}.bias"]))
        return pairs

    def _share_arrays(self) -> None:
        """Point each layer at its Parameter's current array (optimizers may replace it)."""
        for layer, weight, bias in self._linear_parameters():
            layer.weight, layer.bias = weight.data, bias.data

    def train_step(self, x: np.ndarray, y: np.ndarray, optimizer: Optimizer) -> float:
        optimizer.zero_grad()
        self._share_arrays()
        logits = self.model.forward(x)
        if not np.isfinite(logits).all():
            # The weights blew up: a NaN loss lets the loop explain it (the hand-derived
            # cross-entropy would refuse these logits as bad input). NaN gradients still go
            # through the step, so that other ranks averaging gradients are not left waiting.
            for _, weight, bias in self._linear_parameters():
                weight.grad = Tensor(np.full_like(weight.data, np.nan))
                bias.grad = Tensor(np.full_like(bias.data, np.nan))
            optimizer.step()
            return float("nan")
        loss = self.criterion.forward(logits, y)
        self.model.backward(self.criterion.backward())
        for layer, weight, bias in self._linear_parameters():
            gradients = layer.gradients()
            weight.grad = Tensor(gradients["weight"])
            bias.grad = Tensor(gradients["bias"])
        optimizer.step()
        return loss

    def logits(self, x: np.ndarray) -> np.ndarray:
        self._share_arrays()
        return _in_batches(self.model.forward, x)

    def state_dict(self) -> dict[str, np.ndarray]:
        return {name: parameter.data.copy() for name, parameter in self.named.items()}

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        missing = sorted(set(self.named) - set(state))
        unexpected = sorted(set(state) - set(self.named))
        misshaped = [
            f"{name}: expected {parameter.shape}, got {np.shape(state[name])}"
            for name, parameter in self.named.items()
            if name in state and np.shape(state[name]) != parameter.shape
        ]
        if missing or unexpected or misshaped:
            raise ValueError(
                f"ManualEngine.load_state_dict: missing {missing}, unexpected {unexpected}, "
                f"mis-shaped {misshaped}; load weights saved from the same layer sizes"
            )
        for name, parameter in self.named.items():
            parameter.data = np.array(state[name], dtype=parameter.dtype, copy=True)
        self._share_arrays()

    def generators(self) -> list[np.random.Generator]:
        return []

    def network(self) -> Network:
        """The manual layers, pointed at the current weights, for
        `chainrule.train.diagnostics`."""
        self._share_arrays()
        return self.model
