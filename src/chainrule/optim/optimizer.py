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
import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from chainrule.backends import namespace
from chainrule.modes import (
    STATE,
    enable_grad,
    no_grad,
    record_effect,
    recorded_at_entry,
    refuse_while_tracing,
)
from chainrule.nn.flat import FlatBuffer, buffer_of, zero_grads
from chainrule.nn.parameter import Parameter
from chainrule.placement import device_of, is_foreign, move, to_numpy
from chainrule.tensor import Tensor, VersionCounter
from chainrule.tensor import _shared_counter as shared_counter

ParamsArg = Iterable[Tensor] | Iterable[dict[str, Any]]
StepHook = Callable[["Optimizer"], None]


class HookHandle:
    """Returned by `register_step_pre_hook` / `register_step_post_hook`; `remove()` detaches
    the hook."""

    def __init__(self, hooks: dict[int, StepHook], key: int) -> None:
        self._hooks = hooks
        self._key = key

    def remove(self) -> None:
        self._hooks.pop(self._key, None)


def check_number(
    owner: str,
    name: str,
    value: Any,
    *,
    low: float = 0.0,
    low_open: bool = False,
    high: float = math.inf,
    high_open: bool = True,
) -> float:
    """`value` as a Python float once it is a finite real number in the range from `low` to
    `high` (closed or open at each end); a TypeError or ValueError naming `owner`, the
    hyperparameter `name`, the value and the allowed range otherwise.

    Python and NumPy real numbers (np.floating, np.integer) are accepted; bools, complex
    numbers and strings are refused rather than read as numbers.
    """
    # A Python float, the common case, skips the slower abstract-base-class check.
    if type(value) is not float and (
        isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real)
    ):
        raise TypeError(
            f"{owner}: {name} must be a real number, got {type(value).__name__} {value!r:.40}"
        )
    number = float(value)
    too_low = number <= low if low_open else number < low
    too_high = number >= high if high_open else number > high
    if too_low or too_high or not math.isfinite(number):
        opening, closing = "(" if low_open else "[", ")" if high_open else "]"
        raise ValueError(
            f"{owner}: {name} must be a finite number in {opening}{low:g}, {high:g}{closing}, "
            f"got {value!r}"
        )
    return number


TORCH_ONLY_OPTIONS = frozenset(
    {"foreach", "fused", "capturable", "differentiable", "decoupled_weight_decay"}
)
"""Options of torch.optim's groups that chainrule's optimizers lack: a state holding one was
saved by torch (a group's own custom entries, e.g. "name", load as they are)."""


def _refuse_unordered(owner: str, params: Any) -> None:
    """Refuse a set of parameters, as torch: its order (by id) changes between runs, so the
    numbering of a saved state dict would match other parameters when loaded."""
    if isinstance(params, (set, frozenset)):
        raise TypeError(
            f"{owner}: parameters must come in an ordered collection (a list or "
            "model.parameters()), not a set, whose order changes between runs and would mix "
            "up the parameters' state in a checkpoint; pass a list"
        )


class Optimizer(ABC):
    """Updates parameters from their `.grad`.

    `params` is an iterable of tensors, or of dicts ("parameter groups") each with a
    "params" entry and any hyperparameters that override the optimizer's defaults, e.g.
    `SGD([{"params": body}, {"params": head, "lr": 0.1}], lr=0.01)`.
    Subclasses implement `_update(param, grad, state, group)` on NumPy arrays.
    """

    count_state: ClassVar[frozenset[str]] = frozenset()
    """Per-parameter state entries that count steps (Adam's "step"): loaded as a Python int,
    never negative."""

    later_options: ClassVar[dict[str, Any]] = {}
    """Hyperparameters added after checkpoints were first written, with the value that gives
    the old behaviour: a saved group without one loads with that value (as torch's
    `__setstate__` fills in its newer options)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A subclass's own step or zero_grad is one effect for chainrule.compile, recorded
        # when entered (`recorded_at_entry`): a replay repeats the whole override once.
        for name in ("step", "zero_grad"):
            if name in cls.__dict__:
                setattr(cls, name, recorded_at_entry(cls.__dict__[name]))

    def __init__(self, params: ParamsArg, defaults: dict[str, Any]) -> None:
        refuse_while_tracing(
            "creating an optimizer inside the step",
            "eagerly each call starts from fresh state, a replay would keep stepping the one "
            "made while tracing",
            "create it outside the compiled step",
        )
        self.defaults = defaults
        self.param_groups: list[dict[str, Any]] = []
        self.state: dict[Tensor, dict[str, Any]] = {}
        self._workspace: dict[tuple[Tensor, str], np.ndarray] = {}
        self._flat: dict[tuple[int, int, int], _FlatSpan] = {}
        self._checked: dict[int, list[Any]] = {}
        self._pre_hooks: dict[int, StepHook] = {}
        self._post_hooks: dict[int, StepHook] = {}
        self._next_hook = 0
        # Each group's lr (by id) when the first schedule was attached: the base lr of every
        # schedule (torch's "initial_lr" group entry, kept out of the saved groups here).
        self._initial_lrs: dict[int, tuple[dict[str, Any], float]] = {}
        if isinstance(params, Tensor):
            raise TypeError(
                f"{type(self).__name__}: params must be an iterable of tensors (e.g. "
                "model.parameters() or [w, b]), not a single tensor; wrap it in a list"
            )
        _refuse_unordered(type(self).__name__, params)
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
        _refuse_unordered(type(self).__name__, params)
        params = [params] if isinstance(params, Tensor) else list(params)
        seen = {id(p) for existing in self.param_groups for p in existing["params"]}
        for position, param in enumerate(params):
            if not isinstance(param, Tensor):
                raise TypeError(
                    f"{type(self).__name__}: parameter {position} is a "
                    f"{type(param).__name__}, not a chainrule Tensor"
                )
            if not param.is_leaf:
                raise ValueError(
                    f"{type(self).__name__}: parameter {position} (shape {param.shape}) must "
                    "be a leaf tensor with requires_grad=True (an nn.Parameter), not the "
                    "result of an operation"
                )
            # A frozen nn.Parameter (requires_grad_(False), e.g. a pretrained body) is kept,
            # as torch keeps it: it is skipped while it has no gradient and trained again
            # once unfrozen. A plain tensor that never required grad is a forgotten flag.
            if not param.requires_grad and not isinstance(param, Parameter):
                raise ValueError(
                    f"{type(self).__name__}: parameter {position} (shape {param.shape}) must "
                    "be a leaf tensor with requires_grad=True (an nn.Parameter); this tensor "
                    "does not require grad, so no step would ever change it. Create it with "
                    "requires_grad=True (a frozen nn.Parameter is accepted, as in torch)"
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
        """Reject invalid hyperparameters with a message naming them, and store each number
        as a Python float. Runs when a group is added or loaded and before every step, so
        values set later through `param_groups` are checked too."""
        name = type(self).__name__
        group["lr"] = check_number(name, "lr", group["lr"])
        if "weight_decay" in group:
            group["weight_decay"] = check_number(name, "weight_decay", group["weight_decay"])

    def register_step_pre_hook(self, hook: StepHook) -> HookHandle:
        """Call `hook(optimizer)` at the start of every `step()`, before any parameter
        changes (as torch's hook of that name, without the step's arguments). Unlike torch,
        it runs after the closure, if one is given, so that it sees (and may change) the
        gradients the update uses: DataParallel averages them across ranks in such a hook.
        Hyperparameters the hook sets are checked before they are used."""
        return self._register(self._pre_hooks, hook)

    def register_step_post_hook(self, hook: StepHook) -> HookHandle:
        """Call `hook(optimizer)` at the end of every `step()`, after every update."""
        return self._register(self._post_hooks, hook)

    def _register(self, hooks: dict[int, StepHook], hook: StepHook) -> HookHandle:
        key = self._next_hook
        self._next_hook += 1
        hooks[key] = hook
        return HookHandle(hooks, key)

    def _recheck_if_changed(self, group: dict[str, Any]) -> None:
        """`_check_group(group)` unless its hyperparameters are the ones last checked (a
        list comparison, cheaper than checking them again at every step)."""
        settings = list(map(group.get, self.defaults))
        if self._checked.get(id(group)) != settings:
            self._check_group(group)
            self._checked[id(group)] = list(map(group.get, self.defaults))

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop every parameter's gradient (`.grad = None`), or detach it from any graph
        (create_graph) and zero it in place, bumping its version as every in-place change."""
        if STATE.tracer is not None:  # (checked here too: no partial made at every step)
            record_effect(functools.partial(self.zero_grad, set_to_none))
        if not set_to_none:
            zero_grads(self._indexed_params())  # one fill per flat buffer
            return
        if STATE.tracer is not None:
            for group in self.param_groups:
                for param in group["params"]:
                    param.grad = None  # through `.grad`, which the tracer watches
            return
        # Untraced (eagerly, or in a compiled step's replay): the `.grad` slot is cleared
        # directly, sparing a Python-level descriptor call per parameter at every step.
        for group in self.param_groups:
            for param in group["params"]:
                param._grad = None

    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        """Update every parameter that has a gradient, in place and outside the graph.

        `closure`, when given, recomputes and returns the loss (it runs with grad enabled).
        """
        loss = None
        if closure is None:
            # Under chainrule.compile, replays repeat this update at this point of the step.
            if STATE.tracer is not None:
                record_effect(self.step)
        else:
            refuse_while_tracing(
                "optimizer.step(closure)",
                "the closure reruns the step in Python",
                "call loss.backward() and optimizer.step() without a closure in the step",
            )
            with enable_grad():
                loss = closure()
        # The pre-hooks see the gradients the update will use, the closure's included
        # (DataParallel averages them in one); torch runs its hooks before the closure.
        for hook in list(self._pre_hooks.values()):
            hook(self)
        # After the hooks, so that values they set are checked too.
        for group in self.param_groups:
            self._recheck_if_changed(group)
        for group in self.param_groups:
            # The flat path runs `_update` on arrays (its `param` a constant Tensor), which
            # records nothing; the per-parameter path, which subclasses may override, runs
            # under no_grad.
            if not self._update_flat(group):
                with no_grad():
                    self._update_group(group)
        for hook in list(self._post_hooks.values()):
            hook(self)
        return loss

    def _update_flat(self, group: dict[str, Any], arithmetic: bool = True) -> bool:
        """The multi-tensor path (torch's foreach): when `group`'s parameters are consecutive
        members of one flat buffer (`chainrule.nn.flat`), each with its gradient there,
        `_update` runs once over their whole span of the flat arrays. Every update is
        element-wise, so this is bit-identical to updating them one by one. Their state
        entries are views of flat state arrays, so `state_dict` is unchanged. Returns False
        (nothing done) when the parameters do not allow it. With `arithmetic` False, only
        the state and version bookkeeping runs (`_finish_fused_step`)."""
        params = group["params"]
        if not params:
            return True  # an empty group (torch allows one) has nothing to update
        buffer = buffer_of(params[0])
        if buffer is None:
            return False
        bounds = buffer.span(params)
        if bounds is None:
            return False
        key = (id(buffer), *bounds)
        span = self._flat.get(key)
        if span is None or span.buffer is not buffer:
            span = self._flat[key] = _FlatSpan(buffer, *bounds)
        if not span.gather(self, params):
            return False
        start, stop = bounds
        if arithmetic:
            self._update(
                buffer.data[start:stop], buffer.grad[start:stop], span.state, group, span.key
            )
        span.scatter(self, params)
        span.increment_versions(params)
        return True

    def _fused_rates(self) -> list[float] | None:
        """The learning rate of each group when the next `step()` is `p -= lr * g` for every
        parameter (`value - (g * lr)` through a work array, as `_update` computes it) and
        nothing else: no hooks, no state that changes. A compiled replay then makes each
        update inside its backward, right after the parameter's gradient is written
        (`chainrule.compiler.backward.FusedUpdate`), and calls `_finish_fused_step` where the
        step was. None (the default): the step runs as it is."""
        return None

    def _finish_fused_step(
        self, params: Sequence[Tensor], counters: Sequence[VersionCounter]
    ) -> None:
        """What `step()` does besides the arithmetic, after a compiled replay made the updates
        `_fused_rates` allowed for every one of `params` (each with its gradient in its flat
        slot; `counters` their version counters): each keeps or gets its state entry (empty
        for plain SGD) and counts one in-place change, as the flat step would."""
        states = self.state
        if not all(map(states.__contains__, params)):
            for param in params:
                if param not in states:
                    states[param] = {}
        for counter in counters:
            counter.value += 1

    def _update_group(self, group: dict[str, Any]) -> None:
        """Update each parameter of `group` that has a gradient (`_update` on its arrays) and
        bump its version; subclasses may override it with a loop specialised to the group."""
        update, state_of = self._update, self._state_of
        for param in group["params"]:
            grad = param.grad
            if grad is None:
                continue
            state = state_of(param)
            if type(param.data) is not np.ndarray:
                self._update_foreign(param, grad, state, group)
                continue
            if state:
                self._follow_layout(param, state)
            values, grad_values = param.data, grad.data
            if grad_values.shape != values.shape:
                raise ValueError(self._grad_shape_message(values, grad_values))
            if not values.flags.writeable:
                raise ValueError(self._read_only_message(values))
            update(values, grad_values, state, group, param)
            param.increment_version()

    def _grad_shape_message(self, values: Any, grad_values: Any) -> str:
        """Why a gradient whose `.data` was replaced by another shape is refused: NumPy would
        broadcast it into the update (a (4,) gradient applied to every row of a (3, 4)
        parameter)."""
        return (
            f"{type(self).__name__}.step: a parameter of shape {values.shape} has a gradient "
            f"of shape {grad_values.shape} (its .grad.data was replaced); give it a gradient "
            "of the parameter's shape, or set .grad = None to skip it"
        )

    def _read_only_message(self, values: np.ndarray) -> str:
        """Why a parameter over a read-only array is refused before its update: NumPy would
        fail at the last in-place write, after Adam's moments and step count had advanced."""
        return (
            f"{type(self).__name__}.step: a parameter of shape {values.shape} holds a "
            "read-only array (from np.broadcast_to, a memory-mapped file or another "
            "library's array?), which the in-place update cannot write; give it a writable "
            "copy first: param.data = np.array(param.data)"
        )

    def _follow_layout(self, param: Tensor, state: dict[str, Any]) -> None:
        """Keep `param`'s state arrays in its dtype after `.data =` changed it, and in NumPy
        after `Module.to("cpu")` brought it back; a new shape leaves the state meaningless,
        so it is refused."""
        for key, value in state.items():
            if not isinstance(value, np.ndarray):
                if not is_foreign(value):
                    continue
                value = state[key] = np.array(to_numpy(value), copy=True)
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
        values = param.data
        if array is None or array.dtype != values.dtype or array.shape != values.shape:
            array = self._workspace[key] = np.empty_like(values)
        return array

    def _update_foreign(
        self, param: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]
    ) -> None:
        """Update a parameter held by another array library (CuPy, JAX, ...) through
        `_step_arrays`, out of place (JAX arrays cannot be written into); its state arrays
        follow it to its device first (after `Module.to`)."""
        for key, value in state.items():
            is_array = isinstance(value, np.ndarray) or is_foreign(value)
            if is_array and device_of(value) != param.device:
                state[key] = move(value, param.device)
        xp = namespace(param.data)
        param.data = self._step_arrays(xp, param.data, grad.data, state, group)

    def _step_arrays(
        self, xp: Any, value: Any, grad: Any, state: dict[str, Any], group: dict[str, Any]
    ) -> Any:
        """The new values of a parameter from `value` and `grad`, arrays of namespace `xp`,
        in the same operations and order as `_update` (so bit-identical on the CPU); updates
        `state` (new arrays). Used for parameters held by other array libraries than NumPy."""
        raise NotImplementedError(
            f"{type(self).__name__} updates NumPy parameters only; move the model to the "
            "cpu (model.to('cpu')) or use SGD, Adam or AdamW"
        )

    @abstractmethod
    def _update(
        self,
        value: np.ndarray,
        grad: np.ndarray,
        state: dict[str, Any],
        group: dict[str, Any],
        param: Tensor,
    ) -> None:
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
                state[index] = {
                    key: to_numpy(value).copy()
                    if isinstance(value, np.ndarray) or is_foreign(value)
                    else value
                    for key, value in entries.items()
                }
        groups = []
        start = 0
        for group in self.param_groups:
            saved = {
                key: list(value) if isinstance(value, tuple) else value
                for key, value in group.items()
                if key != "params"
            }
            saved["params"] = list(range(start, start + len(group["params"])))
            start += len(group["params"])
            groups.append(saved)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore hyperparameters and per-parameter state saved by `state_dict()` from an
        optimizer over parameters of the same shapes, in the same groups. As in torch, the
        indices in each saved group's "params" say whose state is whose: the k-th index of
        saved group i is the k-th parameter of group i here."""
        name = type(self).__name__
        if not isinstance(state_dict, Mapping) or {"state", "param_groups"} - set(state_dict):
            raise ValueError(
                f"{name}.load_state_dict: expected a dict with 'state' and 'param_groups' "
                f"(what state_dict() returns), got {state_dict!r:.80}"
            )
        _check_layout(name, state_dict)
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"{name}.load_state_dict: the state has {len(saved_groups)} parameter groups, "
                f"this optimizer {len(self.param_groups)}; build it over the same groups"
            )
        for position, (saved, group) in enumerate(
            zip(saved_groups, self.param_groups, strict=True)
        ):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(
                    f"{name}.load_state_dict: group {position} holds {len(saved['params'])} "
                    f"parameters in the state but {len(group['params'])} here; build the "
                    "optimizer over the same model"
                )
            # Another optimizer's state would mix its hyperparameters and moments into this
            # one's (Adam's into SGD: momentum silently restarted), or fail deep in a step.
            lacking = [
                key for key in self.defaults if key not in saved and key not in self.later_options
            ]
            if lacking:
                raise ValueError(
                    f"{name}.load_state_dict: group {position} of the state has no "
                    f"{', '.join(lacking)}, which {name} needs: the state was saved by another "
                    f"optimizer (its group has {', '.join(sorted(set(saved) - {'params'}))}); "
                    f"load it into the kind of optimizer that saved it"
                )
            unknown = sorted(TORCH_ONLY_OPTIONS.intersection(saved) - set(group))
            if unknown:
                # Taken in as custom group entries and ignored, a torch Adam's
                # decoupled_weight_decay=True would silently turn AdamW into Adam.
                raise ValueError(
                    f"{name}.load_state_dict: group {position} of the state has "
                    f"{', '.join(map(repr, unknown))}, which this optimizer's groups lack: it "
                    f"was saved by another optimizer (a torch one?); load a state saved by "
                    f"{name}.state_dict()"
                )
        params = _saved_index_map(name, saved_groups, self.param_groups)
        new_state: dict[Tensor, dict[str, Any]] = {}
        for key, entries in state_dict["state"].items():
            index = int(key)
            if index not in params:
                raise ValueError(
                    f"{name}.load_state_dict: state for parameter {index}, but the state's "
                    f"groups list parameters {sorted(params)} only"
                )
            param = params[index]
            restored: dict[str, Any] = {}
            for entry, value in entries.items():
                if entry in self.count_state:
                    restored[entry] = _saved_count(name, entry, index, value)
                    continue
                if isinstance(value, np.ndarray) or is_foreign(value):
                    if value.shape != param.shape:
                        raise ValueError(
                            f"{name}.load_state_dict: {entry!r} of parameter {index} has "
                            f"shape {value.shape}, but the parameter has shape {param.shape}"
                        )
                    value = np.array(to_numpy(value), copy=True)
                    if value.dtype.kind not in "biuf":
                        raise ValueError(
                            f"{name}.load_state_dict: {entry!r} of parameter {index} holds "
                            f"values of dtype {value.dtype}, which cannot become the "
                            f"parameter's {param.dtype}; load a state saved by state_dict()"
                        )
                    value = value.astype(param.dtype, copy=False)
                    if type(param.data) is not np.ndarray:
                        value = move(value, param.device)
                elif isinstance(value, bool) or not isinstance(value, numbers.Real):
                    raise TypeError(_foreign_state_message(name, entry, index, value))
                restored[entry] = value
            new_state[param] = restored
        loaded_groups = []
        for saved, group in zip(saved_groups, self.param_groups, strict=True):
            loaded = {**dict(group), **self.later_options}
            for key, value in saved.items():
                if key != "params":
                    loaded[key] = tuple(value) if isinstance(value, list) else value
            self._check_group(loaded)
            loaded_groups.append(loaded)
        for group, loaded in zip(self.param_groups, loaded_groups, strict=True):
            group.update(loaded)
        self.state = new_state

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for position, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {position}")
            lines.extend(
                f"    {key}: {value}" for key, value in sorted(group.items()) if key != "params"
            )
        return "\n".join([*lines, ")"])


def _saved_index_map(
    name: str, saved_groups: Sequence[Mapping[str, Any]], groups: Sequence[dict[str, Any]]
) -> dict[int, Tensor]:
    """Each parameter index of a saved state to this optimizer's parameter it belongs to, as
    torch maps them: the k-th index of saved group i names the k-th parameter of group i.
    The indices of the state's groups decide, not their order, so a state whose groups were
    reordered to match an optimizer built in another order loads each parameter's state
    onto that parameter. An index that is not an integer or appears twice is refused."""
    mapping: dict[int, Tensor] = {}
    for position, (saved, group) in enumerate(zip(saved_groups, groups, strict=True)):
        for index, param in zip(saved["params"], group["params"], strict=True):
            if isinstance(index, (bool, np.bool_)) or not isinstance(index, numbers.Integral):
                raise TypeError(
                    f"{name}.load_state_dict: group {position} of the state lists parameter "
                    f"{index!r}, not an integer index; load a state saved by state_dict()"
                )
            if int(index) in mapping:
                raise ValueError(
                    f"{name}.load_state_dict: parameter index {index} appears twice in the "
                    "state's groups; load a state saved by state_dict()"
                )
            mapping[int(index)] = param
    return mapping


def _check_layout(name: str, state_dict: Mapping[str, Any]) -> None:
    """Refuse a state dict whose "param_groups" is not a list of dicts each with a "params"
    list, or whose "state" is not a dict of dicts, before any of it is read (they failed
    with a bare KeyError or AttributeError)."""
    groups, state = state_dict["param_groups"], state_dict["state"]
    problem = None
    if not isinstance(groups, (list, tuple)):
        problem = f"'param_groups' is a {type(groups).__name__}, not a list of groups"
    elif not isinstance(state, Mapping):
        problem = f"'state' is a {type(state).__name__}, not a dict from parameter index"
    else:
        for position, group in enumerate(groups):
            if not isinstance(group, Mapping) or not isinstance(group.get("params"), (list, tuple)):
                problem = f"group {position} is not a dict with a 'params' list: {group!r:.60}"
                break
        for index, entries in state.items():
            if problem is not None:
                break
            if isinstance(index, bool) or not (
                isinstance(index, numbers.Integral) or (isinstance(index, str) and index.isdigit())
            ):
                problem = f"the state key {index!r} is not a parameter index (0, 1, ...)"
            elif not isinstance(entries, Mapping):
                problem = f"the state of parameter {index} is of type {type(entries).__name__}"
    if problem is not None:
        raise ValueError(
            f"{name}.load_state_dict: {problem}; load a state saved by state_dict() (its "
            "layout is in chainrule.optim.optimizer's docstring)"
        )


def _saved_count(name: str, entry: str, index: int, value: Any) -> int:
    """A saved step count as a Python int (kept JSON-serialisable): an int, a float holding a
    whole number, or a 0-d array of one (read back from an .npz). A negative count is
    refused (from -1 the next step is 0, where Adam's bias correction 1 - beta1**step
    divides by zero), and so is a fractional one (a step never taken)."""
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value.item()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, np.ndarray) or is_foreign(value):
        raise ValueError(
            f"{name}.load_state_dict: {entry!r} of parameter {index} is an array of shape "
            f"{value.shape}; it counts steps and is one number"
        )
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(_foreign_state_message(name, entry, index, value))
    if not (math.isfinite(value) and value >= 0 and float(value).is_integer()):
        raise ValueError(
            f"{name}.load_state_dict: {entry!r} of parameter {index} counts the steps taken, "
            f"a whole number 0 or more, got {value!r}; load a state saved by state_dict()"
        )
    return int(value)


def _foreign_state_message(name: str, entry: str, index: int, value: Any) -> str:
    """Why a state entry that is neither an array nor a number (a torch tensor) is refused:
    kept as it is, a step would update the caller's object in place, or fail deep inside."""
    return (
        f"{name}.load_state_dict: {entry!r} of parameter {index} is a "
        f"{type(value).__module__}.{type(value).__name__}, not an array or a number; a torch "
        "optimizer's state_dict cannot be loaded (torch's Linear stores its weight "
        "transposed, so its moments would not line up): load a state saved by state_dict()"
    )


class _FlatSpan:
    """The optimizer state of a run of consecutive parameters of a flat buffer, as flat
    arrays (`state`) whose slices are the parameters' own state entries (`views`)."""

    def __init__(self, buffer: FlatBuffer, start: int, stop: int) -> None:
        self.buffer = buffer
        self.start, self.stop = start, stop
        self.state: dict[str, Any] = {}
        self.views: list[dict[str, np.ndarray]] = []
        # The key of the work arrays `_update` asks `_scratch` for: a tensor over the span.
        self.key = Tensor.from_numpy(buffer.data[start:stop])
        self._counted: list[Any] = []
        self._counters: list[VersionCounter] = []

    def increment_versions(self, params: list[Tensor]) -> None:
        """`param.increment_version()` for each of `params` (the span's members, as
        `FlatBuffer.span` checked), through their counters, kept from the first step: a
        tensor's counter, once its own, is never replaced. Taken again when the buffer's
        membership was rebuilt."""
        members = self.buffer._members
        if members is not self._counted:
            self._counted = members
            self._counters = [shared_counter(param) for param in params]
        for counter in self._counters:
            counter.value += 1

    def gather(self, optimizer: Optimizer, params: list[Tensor]) -> bool:
        """Make `state` current: unchanged when every parameter's state still holds its
        views (the usual step), else built from the parameters' own state (a first step, a
        loaded checkpoint). False when their states differ in kind (then no flat step)."""
        states = list(map(optimizer.state.get, params))
        if self.views and self._holds_views(states):
            return True
        if not any(states):
            self.state, self.views = {}, []
            return True
        present = [state for state in states if state]
        first = present[0]
        if len(present) != len(states) or any(state.keys() != first.keys() for state in present):
            return False
        flat: dict[str, Any] = {}
        for name, value in first.items():
            if isinstance(value, np.ndarray):
                arrays = [state[name] for state in present]
                if any(
                    not isinstance(array, np.ndarray) or array.shape != param.shape
                    for array, param in zip(arrays, params, strict=True)
                ):
                    return False
                flat[name] = np.concatenate([array.reshape(-1) for array in arrays]).astype(
                    self.buffer.data.dtype, copy=False
                )
            elif any(state[name] != value for state in present):
                return False
            else:
                flat[name] = value
        self.state, self.views = flat, []
        return True

    def _holds_views(self, states: list[dict[str, Any] | None]) -> bool:
        """Whether each of `states` holds its views of the flat state and its scalars."""
        if not self.state:
            # Nothing kept (plain SGD): each parameter needs its state entry, still empty (a
            # momentum buffer one started on a step of its own must not be restarted).
            return None not in states and not any(states)
        scalars = [
            (name, value) for name, value in self.state.items() if not isinstance(value, np.ndarray)
        ]
        size = len(self.state)
        for state, views in zip(states, self.views, strict=True):
            if state is None or len(state) != size:
                return False  # (an entry the flat state lacks, added on a step of its own)
            for name, view in views.items():
                if state.get(name) is not view:
                    return False
            for name, value in scalars:
                if state.get(name) != value:
                    return False
        return True

    def scatter(self, optimizer: Optimizer, params: list[Tensor]) -> None:
        """Give each parameter its slices of the flat state (and its scalars, e.g. "step")."""
        if not self.state and self.views:
            return  # nothing kept (plain SGD), and each parameter has its (empty) views
        arrays = {
            name: value for name, value in self.state.items() if isinstance(value, np.ndarray)
        }
        scalars = {name: value for name, value in self.state.items() if name not in arrays}
        # A state array the update has just added (momentum or amsgrad switched on) has no
        # views yet: `.get` finds None, whose "base" is None.
        first = self.views[0] if self.views else {}
        if (
            self.views
            and not scalars
            and all(
                getattr(first.get(name), "base", None) is array for name, array in arrays.items()
            )
        ):
            return  # every state already holds its views (checked by `gather`)
        if not self.views or any(
            getattr(first.get(name), "base", None) is not array for name, array in arrays.items()
        ):
            offsets = [self.buffer.bounds[self.buffer.positions[id(param)]] for param in params]
            self.views = [
                {
                    name: array[start - self.start : stop - self.start].reshape(param.shape)
                    for name, array in arrays.items()
                }
                for param, (start, stop) in zip(params, offsets, strict=True)
            ]
        for param, views in zip(params, self.views, strict=True):
            state = optimizer._state_of(param)
            state.update(views)
            state.update(scalars)
