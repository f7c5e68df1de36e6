"""`SGD`: stochastic gradient descent with optional momentum, dampening, Nesterov momentum,
(L2) weight decay and maximization, with PyTorch's update rule and argument names."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from chainrule.optim.optimizer import Optimizer, ParamsArg, check_number
from chainrule.tensor import Tensor


class SGD(Optimizer):
    """For each parameter p with gradient g, as `torch.optim.SGD`:

        g = -g                             (maximize: ascend the objective)
        g = g + weight_decay * p
        b = g                              (first step)
        b = momentum * b + (1 - dampening) * g       (later steps)
        g = g + momentum * b   if nesterov   else   g = b      (when momentum != 0)
        p = p - lr * g

    The momentum buffer `b` is the state ("momentum_buffer").
    """

    later_options: ClassVar[dict[str, Any]] = {"maximize": False}

    def __init__(
        self,
        params: ParamsArg,
        lr: float,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        group["momentum"] = check_number("SGD", "momentum", group["momentum"])
        group["dampening"] = check_number("SGD", "dampening", group["dampening"], low=-math.inf)
        for flag in ("nesterov", "maximize"):
            if not isinstance(group[flag], (bool, np.bool_)):
                raise TypeError(f"SGD: {flag} must be True or False, got {group[flag]!r}")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(
                f"SGD: nesterov=True needs momentum > 0 and dampening = 0, got momentum="
                f"{group['momentum']} and dampening={group['dampening']}"
            )

    def _fused_rates(self) -> list[float] | None:
        """Each group's lr when every group is plain SGD (no momentum, no weight decay: no
        state; minimizing) and no step hook is registered; the groups are checked as `step()` checks
        them. None otherwise, and for a subclass that changes how an update is made."""
        cls = type(self)
        if (
            cls._update is not SGD._update
            or cls._update_group is not SGD._update_group
            or cls._update_flat is not Optimizer._update_flat
            or cls.step is not Optimizer.step
        ):
            return None
        if self._pre_hooks or self._post_hooks:
            return None
        rates = []
        for group in self.param_groups:
            self._recheck_if_changed(group)
            if group["momentum"] != 0 or group["weight_decay"] != 0 or group["maximize"]:
                return None
            rates.append(group["lr"])
        return rates

    def _update_group(self, group: dict[str, Any]) -> None:
        """Plain SGD (no momentum, no weight decay, minimizing) in one tight loop: p -= lr * g
        through a reusable work array, two NumPy calls per parameter; other settings take
        `_update`."""
        if group["momentum"] != 0 or group["weight_decay"] != 0 or group["maximize"]:
            super()._update_group(group)
            return
        lr, workspace, states = group["lr"], self._workspace, self.state
        for param in group["params"]:
            grad = param.grad
            if grad is None:
                continue
            if param not in states:
                states[param] = {}  # every updated parameter has a state, as in `_update`
            value = param.data
            if type(value) is not np.ndarray:
                self._update_foreign(param, grad, states[param], group)
                continue
            grad_values = grad.data
            if grad_values.shape != value.shape:
                raise ValueError(self._grad_shape_message(value, grad_values))
            if not value.flags.writeable:
                raise ValueError(self._read_only_message(value))
            work = workspace.get((param, "work"))
            if work is None or work.dtype != value.dtype or work.shape != value.shape:
                work = self._scratch(param, "work")
            np.multiply(grad_values, lr, work)
            np.subtract(value, work, value)
            param.increment_version()

    def _update(
        self,
        value: np.ndarray,
        grad: np.ndarray,
        state: dict[str, Any],
        group: dict[str, Any],
        param: Tensor,
    ) -> None:
        lr, momentum = group["lr"], group["momentum"]
        dampening, weight_decay = group["dampening"], group["weight_decay"]
        work = self._scratch(param, "work")
        direction = grad
        if group["maximize"]:
            direction = np.negative(grad, out=self._scratch(param, "negated_grad"))
        if weight_decay != 0:
            np.multiply(value, weight_decay, out=work)
            np.add(direction, work, out=work)
            direction = work
        if momentum != 0:
            buffer = state.get("momentum_buffer")
            if buffer is None:
                buffer = state["momentum_buffer"] = direction.copy()
            else:
                buffer *= momentum
                if dampening == 0:
                    buffer += direction
                else:  # nesterov is off here, so `direction` is not needed afterwards
                    np.multiply(direction, 1 - dampening, out=work)
                    buffer += work
            if group["nesterov"]:
                lookahead = self._scratch(param, "lookahead")
                np.multiply(buffer, momentum, out=lookahead)
                np.add(direction, lookahead, out=work)
                direction = work
            else:
                direction = buffer
        np.multiply(direction, lr, out=work)
        value -= work

    def _step_arrays(
        self, xp: Any, value: Any, grad: Any, state: dict[str, Any], group: dict[str, Any]
    ) -> Any:
        """`_update`'s rule on arrays of any library, out of place (same order of operations)."""
        lr, momentum = group["lr"], group["momentum"]
        dampening, weight_decay = group["dampening"], group["weight_decay"]
        direction = -grad if group["maximize"] else grad
        if weight_decay != 0:
            direction = direction + value * weight_decay
        if momentum != 0:
            buffer = state.get("momentum_buffer")
            if buffer is None:
                buffer = xp.asarray(direction, copy=True)
            elif dampening == 0:
                buffer = buffer * momentum + direction
            else:
                buffer = buffer * momentum + direction * (1 - dampening)
            state["momentum_buffer"] = buffer
            direction = direction + buffer * momentum if group["nesterov"] else buffer
        return value - direction * lr
