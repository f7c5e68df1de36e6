"""The updates of SGD, Adam and AdamW as pure functions of arrays: (parameter, gradient,
state) -> (new parameter, new state), in the array API standard (`xp` from the inputs), for
`chainrule.compile(step, backend="xla")`, which runs them on JAX arrays inside one jitted step.

The arithmetic is the eager optimizers' (`sgd.py`, `adam.py`), operation for operation and
in the same order, so that on NumPy arrays the results are bit-identical to theirs. Numbers
made from hyperparameters alone (`1 - dampening`, Adam's bias corrections) are computed in
Python floats by the `*_coefficients` functions, as eager does, and enter the array
arithmetic only as coefficients; which terms exist at all (momentum, weight decay, ...) is
fixed by the `*Settings`, so a jitted update retraces only when one of those changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chainrule.backends import namespace


@dataclass(frozen=True)
class SGDSettings:
    """Which terms an SGD update has (`torch.optim.SGD`'s branches)."""

    momentum: bool
    dampening: bool
    weight_decay: bool
    nesterov: bool
    maximize: bool = False

    @classmethod
    def of(cls, group: dict[str, Any]) -> SGDSettings:
        return cls(
            momentum=group["momentum"] != 0,
            dampening=group["dampening"] != 0,
            weight_decay=group["weight_decay"] != 0,
            nesterov=bool(group["nesterov"]),
            maximize=bool(group.get("maximize", False)),
        )


SGDCoefficients = tuple[float, float, float, float]
"""lr, momentum, 1 - dampening, weight_decay."""


def sgd_coefficients(group: dict[str, Any]) -> SGDCoefficients:
    """The numbers an SGD update multiplies by, from a parameter group."""
    return (group["lr"], group["momentum"], 1 - group["dampening"], group["weight_decay"])


def sgd_update(
    value: Any,
    grad: Any,
    momentum_buffer: Any | None,
    coefficients: SGDCoefficients | tuple[Any, ...],
    settings: SGDSettings,
) -> tuple[Any, Any | None]:
    """One SGD step of one parameter, as `chainrule.optim.SGD`:

        g = -g  (maximize)
        d = g + weight_decay * p
        b = d  (no buffer yet),  else  b = momentum * b + (1 - dampening) * d
        d = d + momentum * b  (nesterov),  else  d = b
        p = p - lr * d

    Returns (new p, new b); b is None without momentum."""
    lr, momentum, undamped, weight_decay = coefficients
    xp = namespace(value, grad)
    direction = -grad if settings.maximize else grad
    if settings.weight_decay:
        direction = direction + value * weight_decay
    if settings.momentum:
        if momentum_buffer is None:
            momentum_buffer = xp.asarray(direction, copy=True)
        else:
            momentum_buffer = momentum_buffer * momentum
            if settings.dampening:
                momentum_buffer = momentum_buffer + direction * undamped
            else:
                momentum_buffer = momentum_buffer + direction
        direction = direction + momentum_buffer * momentum if settings.nesterov else momentum_buffer
    return value - direction * lr, momentum_buffer


@dataclass(frozen=True)
class AdamSettings:
    """Which terms an Adam update has: weight decay, through the gradient (Adam) or
    decoupled (AdamW), and the gradient's sign (maximize)."""

    weight_decay: bool
    decoupled: bool
    maximize: bool = False

    @classmethod
    def of(cls, group: dict[str, Any], decoupled: bool) -> AdamSettings:
        """The settings of `group`; AMSGrad, whose running maximum `adam_update` does not
        carry, is refused rather than left out."""
        if group.get("amsgrad", False):
            raise ValueError(
                "Adam: amsgrad=True has no functional form here (its running maximum of v is "
                "not carried), so compile(backend='xla') cannot run it; use compile's NumPy "
                "backend (the default) or amsgrad=False"
            )
        return cls(
            weight_decay=group["weight_decay"] != 0,
            decoupled=decoupled,
            maximize=bool(group.get("maximize", False)),
        )


AdamCoefficients = tuple[float, float, float, float, float, float, float, float]
"""1 - lr * weight_decay, weight_decay, 1 - beta1, beta2, 1 - beta2, sqrt(1 - beta2**t), eps,
lr / (1 - beta1**t)."""


def adam_coefficients(group: dict[str, Any], step: int) -> AdamCoefficients:
    """The numbers Adam's update at step t = `step` (1, 2, ...) multiplies by, from a group."""
    lr, weight_decay = group["lr"], group["weight_decay"]
    beta1, beta2 = group["betas"]
    return (
        1 - lr * weight_decay,
        weight_decay,
        1 - beta1,
        beta2,
        1 - beta2,
        (1 - beta2**step) ** 0.5,
        group["eps"],
        lr / (1 - beta1**step),
    )


def adam_update(
    value: Any,
    grad: Any,
    exp_avg: Any | None,
    exp_avg_sq: Any | None,
    coefficients: AdamCoefficients | tuple[Any, ...],
    settings: AdamSettings,
) -> tuple[Any, Any, Any]:
    """One Adam (AdamW with `settings.decoupled`) step of one parameter at step t, as
    `chainrule.optim.Adam` without amsgrad, with m and v starting at zero (None):

        g = -g  (maximize)
        p = p * (1 - lr * weight_decay)  (AdamW),  or  g = g + weight_decay * p  (Adam)
        m = m + (1 - beta1) (g - m)
        v = beta2 v + (1 - beta2) g g
        p = p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    Returns (new p, new m, new v)."""
    decay, weight_decay, one_minus_beta1, beta2, one_minus_beta2, correction2, eps, step_size = (
        coefficients
    )
    xp = namespace(value, grad)
    if exp_avg is None:
        exp_avg = xp.zeros_like(value)
    if exp_avg_sq is None:
        exp_avg_sq = xp.zeros_like(value)
    if settings.maximize:
        grad = -grad
    if settings.weight_decay:
        if settings.decoupled:
            value = value * decay
        else:
            grad = grad + value * weight_decay
    exp_avg = exp_avg + (grad - exp_avg) * one_minus_beta1
    exp_avg_sq = exp_avg_sq * beta2 + grad * one_minus_beta2 * grad
    denom = xp.sqrt(exp_avg_sq) / correction2 + eps
    return value - exp_avg / denom * step_size, exp_avg, exp_avg_sq
