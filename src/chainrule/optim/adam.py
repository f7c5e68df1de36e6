"""`Adam` and `AdamW`: adaptive moment estimation with PyTorch's update rule, bias
correction and eps placement, AMSGrad and maximization; AdamW decays the weights directly
instead of through the gradient."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from chainrule.optim.optimizer import Optimizer, ParamsArg, check_number
from chainrule.tensor import Tensor


class Adam(Optimizer):
    """For each parameter p with gradient g, at step t = 1, 2, ..., as `torch.optim.Adam`:

        g = -g                                    (maximize: ascend the objective)
        g = g + weight_decay * p                  (L2 penalty through the gradient)
        m = m + (1 - beta1) (g - m)               (m starts at 0)
        v = beta2 v + (1 - beta2) g**2            (v starts at 0)
        v_max = max(v_max, v)                     (amsgrad; v_max starts at 0)
        p = p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    with v_max in place of v in the last line under amsgrad. The state holds "step",
    "exp_avg" (m), "exp_avg_sq" (v) and, under amsgrad, "max_exp_avg_sq" (v_max).
    """

    decoupled_weight_decay = False
    count_state: ClassVar[frozenset[str]] = frozenset({"step"})
    later_options: ClassVar[dict[str, Any]] = {"amsgrad": False, "maximize": False}

    def __init__(
        self,
        params: ParamsArg,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "betas": tuple(betas),
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        name = type(self).__name__
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"{name}: betas must be two numbers in [0, 1), got {betas!r}")
        group["betas"] = tuple(
            check_number(name, f"betas[{position}]", beta, high=1.0)
            for position, beta in enumerate(betas)
        )
        group["eps"] = check_number(name, "eps", group["eps"], low_open=True)
        for flag in ("amsgrad", "maximize"):
            if not isinstance(group[flag], (bool, np.bool_)):
                raise TypeError(f"{name}: {flag} must be True or False, got {group[flag]!r}")

    def _update(
        self,
        value: np.ndarray,
        grad: np.ndarray,
        state: dict[str, Any],
        group: dict[str, Any],
        param: Tensor,
    ) -> None:
        lr, eps, weight_decay = group["lr"], group["eps"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        amsgrad = group["amsgrad"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(value)
            state["exp_avg_sq"] = np.zeros_like(value)
        if amsgrad and "max_exp_avg_sq" not in state:
            # At the first step, as torch; amsgrad switched on later starts from here.
            state["max_exp_avg_sq"] = np.zeros_like(value)
        state["step"] += 1
        step = state["step"]
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        if group["maximize"]:
            grad = np.negative(grad, out=self._scratch(param, "negated_grad"))
        if weight_decay != 0:
            if self.decoupled_weight_decay:
                value *= 1 - lr * weight_decay
            else:
                decayed = self._scratch(param, "decayed_grad")
                np.multiply(value, weight_decay, out=decayed)
                np.add(grad, decayed, out=decayed)
                grad = decayed
        work = self._scratch(param, "work")
        np.subtract(grad, exp_avg, out=work)
        work *= 1 - beta1
        exp_avg += work
        exp_avg_sq *= beta2
        np.multiply(grad, 1 - beta2, out=work)
        work *= grad
        exp_avg_sq += work
        step_size = lr / (1 - beta1**step)
        bias_correction2_sqrt = (1 - beta2**step) ** 0.5
        if amsgrad:
            largest = state["max_exp_avg_sq"]
            np.maximum(largest, exp_avg_sq, out=largest)
            denom = np.sqrt(largest, out=work)
        else:
            denom = np.sqrt(exp_avg_sq, out=work)
        denom /= bias_correction2_sqrt
        denom += eps
        np.divide(exp_avg, denom, out=work)
        work *= step_size
        value -= work

    def _step_arrays(
        self, xp: Any, value: Any, grad: Any, state: dict[str, Any], group: dict[str, Any]
    ) -> Any:
        """`_update`'s rule on arrays of any library, out of place (same order of operations)."""
        lr, eps, weight_decay = group["lr"], group["eps"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(value)
            state["exp_avg_sq"] = xp.zeros_like(value)
        if group["amsgrad"] and "max_exp_avg_sq" not in state:
            state["max_exp_avg_sq"] = xp.zeros_like(value)
        state["step"] += 1
        step = state["step"]
        if group["maximize"]:
            grad = -grad
        if weight_decay != 0:
            if self.decoupled_weight_decay:
                value = value * (1 - lr * weight_decay)
            else:
                grad = grad + value * weight_decay
        exp_avg = state["exp_avg"] = state["exp_avg"] + (grad - state["exp_avg"]) * (1 - beta1)
        exp_avg_sq = state["exp_avg_sq"] = state["exp_avg_sq"] * beta2 + grad * (1 - beta2) * grad
        step_size = lr / (1 - beta1**step)
        bias_correction2_sqrt = (1 - beta2**step) ** 0.5
        if group["amsgrad"]:
            exp_avg_sq = state["max_exp_avg_sq"] = xp.maximum(state["max_exp_avg_sq"], exp_avg_sq)
        denom = xp.sqrt(exp_avg_sq) / bias_correction2_sqrt + eps
        return value - exp_avg / denom * step_size


class AdamW(Adam):
    """Adam with decoupled weight decay, as `torch.optim.AdamW`: before the Adam step,

        p = p * (1 - lr * weight_decay)

    and the gradient is left undecayed. Default weight_decay is 1e-2.
    """

    decoupled_weight_decay = True

    def __init__(
        self,
        params: ParamsArg,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(
            params,
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            maximize=maximize,
        )
