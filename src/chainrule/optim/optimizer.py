"""`Optimizer`: the base of SGD, Adam and AdamW, holding parameter groups and per-parameter
state as `torch.optim.Optimizer` does, and saving both for checkpoints.

State-dict format (`state_dict()` / `load_state_dict()`):

    {"state": {0: {"step": 3, "exp_avg": ndarray, ...}, 1: {...}},
     "param_groups": [{"lr": 0.01, "betas": [0.9, 0.999], ..., "params": [0, 1]}, ...]}

Parameters are numbered 0, 1, ... across the groups in order. Everything except the
ndarrays is plain JSON (ints, floats, bools, lists, strings), so a checkpoint can keep the
arrays in an `.npz` (e.g. under "state.0.exp_avg") and the rest in JSON. `load_state_dict`
accepts the state keys as ints or as the strings JSON turns them into.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from chainrule.compiler.tracer import refuse_while_tracing
from chainrule.modes import enable_grad, no_grad, record_effect
from chainrule.tensor import Tensor

ParamsArg = Iterable[Tensor] | Iterable[dict[str, Any]]


class Optimizer(ABC):
    """Updates parameters from their `.grad`.

    `params` is an iterable of tensors, or of dicts ("parameter groups") each with a
    "params" entry and any hyperparameters that override the optimizer's defaults, e.g.
    `SGD([{"params": body}, {"params": head, "lr": 0.1}], lr=0.01)`.
    Subclasses implement `_update(param, grad, state, group)` on NumPy arrays.
    """

    def __init__(self, params: ParamsArg, defaults: dict[str, Any]) -> None:
        refuse_while_tracing(
            "creating an optimizer inside the step",
            "eagerly each call starts from fresh state, a replay would keep stepping the one "
            "made while tracing", "create it outside the compiled step")
        self.defaults = defaults
        self.param_groups: list[dict[str, Any]] = []
        self.state: dict[Tensor, dict[str, Any]] = {}
        self._workspace: dict[tuple[Tensor, str], np.ndarray] = {}
        if isinstance(params, Tensor):
            raise TypeError(
                f"{type(self).__name__}: params must be an iterable of tensors (e.g. "
                "model.parameters() or [w, b]), not a single tensor; wrap it in a list"
            )
        entries: list[Any] = list(params)
        if not entries:
            raise ValueError(
                f"{type(self).__name__} got an empty parameter list; pass model.parameters() "
                "of a model that has parameters"
            )
        groups = entries if isinstance(entries[0], dict) else [{"params": entries}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group: Mapping[str, Any]) -> None:
        """Add a group of parameters, with hyperparameters defaulting to the optimizer's."""
        if not isinstance(group, Mapping) or "params" not in group:
            raise TypeError(
                f"{type(self).__name__}: a parameter group is a dict with a 'params' entry, "
                f"got {group!r:.80}"
            )
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        seen = {id(p) for existing in self.param_groups for p in existing["params"]}
        for position, param in enumerate(params):
            if not isinstance(param, Tensor):
                raise TypeError(
                    f"{type(self).__name__}: parameter {position} is a "
                    f"{type(param).__name__}, not a chainrule Tensor"
                )
            if not param.requires_grad or not param.is_leaf:
                raise ValueError(
                    f"{type(self).__name__}: parameter {position} (shape {param.shape}) must "
                    "be a leaf tensor with requires_grad=True (an nn.Parameter)"
                )
            if id(param) in seen:
                raise ValueError(
                    f"{type(self).__name__}: parameter {position} (shape {param.shape}) "
                    "appears twice; each parameter belongs to one group, once"
                )
            seen.add(id(param))
        full = {**self.defaults, **group, "params": params}
        self._check_group(full)
        self.param_groups.append(full)

    def _check_group(self, group: dict[str, Any]) -> None:
        """Reject invalid hyperparameters with a message naming them."""
        lr = group["lr"]
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or lr < 0:
            raise ValueError(f"{type(self).__name__}: lr must be a number >= 0, got {lr!r}")
        if group.get("weight_decay", 0) < 0:
            raise ValueError(
                f"{type(self).__name__}: weight_decay must be >= 0, got {group['weight_decay']}"
            )

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop every parameter's gradient (`.grad = None`), or detach it from any graph
        (create_graph) and zero it in place, bumping its version as every in-place change."""
        record_effect(functools.partial(self.zero_grad, set_to_none))
        for group in self.param_groups:
            for param in group["params"]:
                if set_to_none:
                    param.grad = None
                elif param.grad is not None:
                    param.grad.detach_().zero_()

    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        """Update every parameter that has a gradient, in place and outside the graph.

        `closure`, when given, recomputes and returns the loss (it runs with grad enabled).
        """
        loss = None
        if closure is None:
            # Under chainrule.compile, replays repeat this update at this point of the step.
            record_effect(self.step)
        else:
            refuse_while_tracing(
                "optimizer.step(closure)", "the closure reruns the step in Python",
                "call loss.backward() and optimizer.step() without a closure in the step")
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                self._update_group(group)
        return loss

    def _update_group(self, group: dict[str, Any]) -> None:
        """Update each parameter of `group` that has a gradient (`_update` on its arrays) and
        bump its version; subclasses may override it with a loop specialised to the group."""
        update, state_of = self._update, self._state_of
        for param in group["params"]:
            grad = param.grad
            if grad is None:
                continue
            state = state_of(param)
            if state:
                self._follow_layout(param, state)
            update(param._data, grad._data, state, group, param)
            param._version += 1

    def _follow_layout(self, param: Tensor, state: dict[str, Any]) -> None:
        """Keep `param`'s state arrays in its dtype after `.data =` changed it; a new shape
        leaves the state meaningless, so it is refused."""
        for key, value in state.items():
            if not isinstance(value, np.ndarray):
                continue
            if value.shape != param.shape:
                raise ValueError(
                    f"{type(self).__name__}: the state {key!r} of a parameter has shape "
                    f"{value.shape}, but the parameter now has shape {param.shape} (its .data "
                    "was replaced); drop the old state (del optimizer.state[param]) or build "
                    "a new optimizer"
                )
            if value.dtype != param.dtype:
                state[key] = value.astype(param.dtype)

    def _state_of(self, param: Tensor) -> dict[str, Any]:
        state = self.state.get(param)
        if state is None:
            state = self.state[param] = {}
        return state

    def _scratch(self, param: Tensor, name: str) -> np.ndarray:
        """A reusable work array shaped and typed like `param` (not part of the state)."""
        key = (param, name)
        array = self._workspace.get(key)
        if array is None or array.dtype != param.dtype or array.shape != param.shape:
            array = self._workspace[key] = np.empty_like(param.data)
        return array

    @abstractmethod
    def _update(self, value: np.ndarray, grad: np.ndarray, state: dict[str, Any],
                group: dict[str, Any], param: Tensor) -> None:
        """Update `value` (the parameter's array) in place from `grad`, keeping its dtype;
        `state` is this parameter's state dict, `group` its hyperparameters."""

    # ----------------------------------------------------------------- checkpoints
    def _indexed_params(self) -> list[Tensor]:
        return [param for group in self.param_groups for param in group["params"]]

    def state_dict(self) -> dict[str, Any]:
        """Copies of the per-parameter state keyed by parameter index, and the
        hyperparameters of each group with "params" as indices (see the module docstring)."""
        params = self._indexed_params()
        state: dict[int, dict[str, Any]] = {}
        for index, param in enumerate(params):
            entries = self.state.get(param)
            if entries:
                state[index] = {key: value.copy() if isinstance(value, np.ndarray) else value
                                for key, value in entries.items()}
        groups = []
        start = 0
        for group in self.param_groups:
            saved = {key: list(value) if isinstance(value, tuple) else value
                     for key, value in group.items() if key != "params"}
            saved["params"] = list(range(start, start + len(group["params"])))
            start += len(group["params"])
            groups.append(saved)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore hyperparameters and per-parameter state saved by `state_dict()` from an
        optimizer over parameters of the same shapes, in the same groups."""
        name = type(self).__name__
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"{name}.load_state_dict: the state has {len(saved_groups)} parameter groups, "
                f"this optimizer {len(self.param_groups)}; build it over the same groups"
            )
        for position, (saved, group) in enumerate(
                zip(saved_groups, self.param_groups, strict=True)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(
                    f"{name}.load_state_dict: group {position} holds {len(saved['params'])} "
                    f"parameters in the state but {len(group['params'])} here; build the "
                    "optimizer over the same model"
                )
        params = self._indexed_params()
        new_state: dict[Tensor, dict[str, Any]] = {}
        for key, entries in state_dict["state"].items():
            index = int(key)
            if not 0 <= index < len(params):
                raise ValueError(
                    f"{name}.load_state_dict: state for parameter {index}, but there are "
                    f"only {len(params)} parameters"
                )
            param = params[index]
            restored: dict[str, Any] = {}
            for entry, value in entries.items():
                if isinstance(value, np.ndarray):
                    if value.shape != param.shape:
                        raise ValueError(
                            f"{name}.load_state_dict: {entry!r} of parameter {index} has "
                            f"shape {value.shape}, but the parameter has shape {param.shape}"
                        )
                    value = np.array(value, dtype=param.dtype, copy=True)
                restored[entry] = value
            new_state[param] = restored
        for saved, group in zip(saved_groups, self.param_groups, strict=True):
            for key, value in saved.items():
                if key != "params":
                    group[key] = tuple(value) if isinstance(value, list) else value
        self.state = new_state

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for position, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {position}")
            lines.extend(f"    {key}: {value}" for key, value in sorted(group.items())
                         if key != "params")
        return "\n".join([*lines, ")"])
