"""Learning-rate schedules: `StepLR` and `CosineAnnealingLR`, as in `torch.optim.lr_scheduler`.

A schedule sets each parameter group's "lr" once at construction (epoch 0) and again on
every `step()`, usually called once per epoch after `optimizer.step()`.
"""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from chainrule.modes import record_effect, recorded_at_entry, refuse_while_tracing
from chainrule.optim.optimizer import Optimizer, check_number


def _check_count(owner: str, name: str, value: Any) -> int:
    """`value` as an int when it is a positive Python or NumPy integer (not a bool)."""
    is_integer = isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))
    if not is_integer or value <= 0:
        raise ValueError(f"{owner}: {name} must be a positive integer, got {value!r}")
    return int(value)


def _initial_lr(optimizer: Optimizer, group: dict[str, Any]) -> float:
    """`group`'s lr when the optimizer's first schedule was attached (its lr now, for the
    first schedule or a group added since). The entry holds the group itself, so an id is
    never matched to a later group that reused it."""
    entry = optimizer._initial_lrs.get(id(group))
    if entry is None or entry[0] is not group:
        entry = optimizer._initial_lrs[id(group)] = (group, float(group["lr"]))
    return entry[1]


class LRScheduler(ABC):
    """Base of the schedules: counts epochs in `last_epoch` and writes each group's lr.

    `base_lrs` holds each group's lr when the optimizer's first schedule was attached (as
    torch's "initial_lr"), so a schedule attached later starts from the same base."""

    def __init__(self, optimizer: Optimizer) -> None:
        refuse_while_tracing(
            "creating a learning-rate scheduler inside the step",
            "eagerly each call starts from epoch 0, a replay would keep stepping the one made "
            "while tracing",
            "create it outside the compiled step",
        )
        if not isinstance(optimizer, Optimizer):
            raise TypeError(
                f"{type(self).__name__}: expected a chainrule.optim optimizer, got "
                f"{type(optimizer).__name__}"
            )
        self.optimizer = optimizer
        # As torch: each group's lr when the first schedule was attached, not its lr now (a
        # cosine added once StepLR has decayed the lr rises back to the first lr).
        self.base_lrs = [_initial_lr(optimizer, group) for group in optimizer.param_groups]
        self.last_epoch = -1
        self._last_lr: list[float] = []
        self._advance()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A subclass's own step is one effect for chainrule.compile (`recorded_at_entry`).
        if "step" in cls.__dict__:
            setattr(cls, "step", recorded_at_entry(cls.__dict__["step"]))  # noqa: B010

    @abstractmethod
    def _next_lrs(self) -> list[float]:
        """The lr of each group for epoch `last_epoch` (already advanced)."""

    def step(self) -> None:
        """Advance one epoch and set every group's lr for it."""
        # Under chainrule.compile, replays repeat this step at this point of the step.
        record_effect(self.step)
        self._advance()

    def _advance(self) -> None:
        self.last_epoch += 1
        lrs = self._next_lrs()
        for group, lr in zip(self.optimizer.param_groups, lrs, strict=True):
            group["lr"] = lr
        self._last_lr = list(lrs)

    def get_last_lr(self) -> list[float]:
        """The lr of each group set by the latest `step()` (or the constructor)."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """The schedule's position and settings, all JSON-serialisable; the optimizer's
        lrs are in the optimizer's own state dict."""
        return {
            key: list(value) if isinstance(value, list) else value
            for key, value in vars(self).items()
            if key != "optimizer"
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a position saved by `state_dict()` (load the optimizer's state too). A
        refused state leaves the schedule as it was."""
        unknown = sorted(set(state_dict) - set(vars(self)))
        if unknown:
            raise ValueError(
                f"{type(self).__name__}.load_state_dict: unexpected keys {unknown}; was the "
                "state saved from a different schedule?"
            )
        previous = dict(vars(self))
        for key, value in state_dict.items():
            setattr(self, key, list(value) if isinstance(value, list) else value)
        try:
            self._check_settings()
        except (TypeError, ValueError):
            vars(self).clear()
            vars(self).update(previous)
            raise

    def _check_settings(self) -> None:
        """Reject invalid settings restored by `load_state_dict` (the constructor checks its
        arguments itself)."""
        name = type(self).__name__
        for key in ("base_lrs", "_last_lr"):
            lrs: Any = getattr(self, key)  # as loaded, not yet known to be a list
            if not isinstance(lrs, list):
                raise ValueError(
                    f"{name}.load_state_dict: {key} must be a list of lrs, one per parameter "
                    f"group, got {lrs!r:.60}; load a state saved by this schedule's "
                    "state_dict()"
                )
            setattr(self, key, [check_number(name, f"{key} entry", lr) for lr in lrs])
        epoch: Any = self.last_epoch  # as loaded, not yet known to be an int
        if isinstance(epoch, (bool, np.bool_)) or not isinstance(epoch, numbers.Integral):
            raise TypeError(f"{name}: last_epoch must be an integer, got {epoch!r}")
        if epoch < 0:
            raise ValueError(f"{name}: last_epoch must be 0 or more, got {epoch}")
        self.last_epoch = int(epoch)


class StepLR(LRScheduler):
    """lr = base_lr * gamma ** (epoch // step_size): multiplied by `gamma` every
    `step_size` epochs (applied to the current lr, exactly as PyTorch)."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        self.step_size = _check_count("StepLR", "step_size", step_size)
        self.gamma = check_number("StepLR", "gamma", gamma)
        super().__init__(optimizer)

    def _check_settings(self) -> None:
        super()._check_settings()
        self.step_size = _check_count("StepLR", "step_size", self.step_size)
        self.gamma = check_number("StepLR", "gamma", self.gamma)

    def _next_lrs(self) -> list[float]:
        current = [group["lr"] for group in self.optimizer.param_groups]
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return current
        return [lr * self.gamma for lr in current]


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2 when it runs
    alone: falls from base_lr to eta_min over T_max epochs and, stepped further, rises again
    (a period of 2 T_max).

    Each step computes it, as PyTorch, from the group's current lr (its recursive form):

        lr = eta_min + (lr - eta_min) * (1 + cos(pi e / T_max)) / (1 + cos(pi (e - 1) / T_max))

    and, on the epoch after each minimum (where that ratio is 0 / 0),
    lr = lr + (base_lr - eta_min) (1 - cos(pi / T_max)) / 2. So another schedule chained on
    the same optimizer (StepLR's decay) or an lr set by hand carries through, as in torch.
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:
        self.T_max = _check_count("CosineAnnealingLR", "T_max", T_max)
        self.eta_min = check_number("CosineAnnealingLR", "eta_min", eta_min)
        super().__init__(optimizer)

    def _check_settings(self) -> None:
        super()._check_settings()
        self.T_max = _check_count("CosineAnnealingLR", "T_max", self.T_max)
        self.eta_min = check_number("CosineAnnealingLR", "eta_min", self.eta_min)

    def _next_lrs(self) -> list[float]:
        if self.last_epoch == 0:
            return [group["lr"] for group in self.optimizer.param_groups]
        groups = len(self.optimizer.param_groups)
        if groups != len(self.base_lrs):
            raise ValueError(
                f"CosineAnnealingLR: the optimizer has {groups} parameter groups, but the "
                f"schedule was made for {len(self.base_lrs)} (a group added with "
                "add_param_group afterwards has no base lr); add every group first, then "
                "create the schedule"
            )
        epoch, period, eta_min = self.last_epoch, self.T_max, self.eta_min
        current = [group["lr"] for group in self.optimizer.param_groups]
        if (epoch - 1 - period) % (2 * period) == 0:
            rise = (1 - math.cos(math.pi / period)) / 2
            return [
                lr + (base_lr - eta_min) * rise
                for lr, base_lr in zip(current, self.base_lrs, strict=True)
            ]
        ratio = (1 + math.cos(math.pi * epoch / period)) / (
            1 + math.cos(math.pi * (epoch - 1) / period)
        )
        return [ratio * (lr - eta_min) + eta_min for lr in current]
