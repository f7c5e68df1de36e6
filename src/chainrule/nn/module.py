"""`Module`: the base class of layers and models, as `torch.nn.Module`.

Assigning a `Parameter` or a `Module` to an attribute registers it, in order; the module
then lists its parameters by dotted name, switches train/eval mode for the whole tree, and
saves or loads its state as a dict of NumPy arrays.
"""

from __future__ import annotations

import functools
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NamedTuple, TypeVar

import numpy as np

from chainrule.backends import namespace
from chainrule.dtypes import numpy_dtype
from chainrule.graph import set_grad_slot
from chainrule.modes import record_effect
from chainrule.nn.flat import FlatBuffer, buffer_of, flatten_parameters, zero_grads
from chainrule.nn.parameter import Parameter
from chainrule.placement import (
    check_dtype_kept,
    device_of,
    dtype_named_by,
    is_foreign,
    move,
    move_keeping_dtype,
    to_numpy,
)
from chainrule.tensor import Tensor

ModuleT = TypeVar("ModuleT", bound="Module")


class _CallDepth(threading.local):
    """How deep inside module calls this thread is (0: outside every module)."""

    depth = 0


_calls = _CallDepth()


class _Structure:
    """A count of parameter and sub-module assignments and removals in any module, so a module
    names its parameters again only after some module tree changed, not on every call."""

    changes = 0


_STRUCTURE = _Structure()


def structure_changes() -> int:
    """How many parameter and sub-module assignments and removals all modules have seen: what
    any module tree holds is unchanged while this number is (compile's guards read it)."""
    return _STRUCTURE.changes


def note_structure_change() -> None:
    """Count a change to some module tree made without an assignment (a container
    renumbering its members), so compile's guards and parameter naming see it."""
    _STRUCTURE.changes += 1


def _transpose_hint(module: Module, name: str, shape: tuple[int, ...]) -> str:
    """A note for a Linear weight given in PyTorch's (out_features, in_features) layout."""
    from chainrule.nn.linear import Linear

    if isinstance(module, Linear) and name == "weight" and shape == module.weight.shape[::-1]:
        return (
            " (PyTorch's layout (out_features, in_features): chainrule's Linear stores "
            "weight as (in_features, out_features), so load its transpose, weight.T)"
        )
    return ""


def _buffer_value(owner: str, name: str, value: Any) -> Any:
    """What a buffer holds for `value`: None, another library's array, or a NumPy array of
    numbers; anything NumPy would keep only as an object or string array is refused."""
    if value is None or is_foreign(value):
        return value
    array = np.asarray(value)
    if array.dtype.kind not in "biufc":
        raise TypeError(
            f"{owner}.{name} is a buffer; assign an array of numbers or None, not "
            f"{type(value).__name__} (NumPy reads it as dtype {array.dtype})"
        )
    return array


def _readable(owner: str, key: str, value: Any) -> np.ndarray:
    """`value` from a state dict as a NumPy array, or a ValueError naming `key` for one NumPy
    cannot read (a torch tensor that requires grad, a ragged list)."""
    try:
        return np.asarray(to_numpy(value))
    except (RuntimeError, TypeError, ValueError, BufferError) as error:
        raise ValueError(
            f"load_state_dict for {owner}: {key} holds a {type(value).__name__} that NumPy "
            f"cannot read ({error}); nothing was loaded. Pass NumPy arrays (from torch: "
            "tensor.detach().cpu().numpy(), as torch's state_dict() values are detached)"
        ) from error


def _loaded_value(owner: str, key: str, array: np.ndarray, current: Any) -> Any:
    """`array` (a state dict's value, `_readable`) as an array of `current`'s dtype, on its
    device: real numbers cast as PyTorch's `copy_` casts them, but a value the cast would
    lose (beyond float32's range; a fraction or NaN for an integer buffer), which torch
    takes silently, and anything else (strings, objects, complex numbers, whose imaginary
    part a cast would drop) refused with a ValueError naming `key`."""
    if array.dtype.kind not in "biuf":
        raise ValueError(
            f"load_state_dict for {owner}: {key} holds values of dtype {array.dtype}, which "
            f"cannot become the {numpy_dtype(current.dtype)} it loads into; nothing was "
            "loaded. Save real numbers (model.state_dict()) and load those"
        )
    target = np.dtype(numpy_dtype(current.dtype))
    with np.errstate(over="ignore", invalid="ignore"):  # what overflows is reported below
        loaded = np.array(array, dtype=target)
        # A float: beyond float32's range; an integer buffer: a fraction, NaN, out of range.
        floats = target.kind == "f"
        lost = np.isfinite(array) & ~np.isfinite(loaded) if floats else loaded != array
        if np.any(lost):
            bad, cast = np.asarray(array)[lost].flat[0], np.asarray(loaded)[lost].flat[0]
            raise ValueError(
                f"load_state_dict for {owner}: {key} holds {bad.item()!r}, which {target} "
                f"cannot hold (the cast would make it {cast.item()!r}); nothing was loaded. "
                "Load a state saved by this model, or convert the model first (model.double())"
            )
    if type(current) is not np.ndarray:  # a model moved to another device
        loaded = move(loaded, device_of(current))
    return loaded


def _target_identity(target: tuple[Module, str, Any]) -> tuple[int, str]:
    """What a state key writes into: the Parameter object itself (a tied weight is one
    Parameter in two modules), or a module's buffer slot."""
    module, name, _ = target
    parameter = module._parameters.get(name)
    return (id(parameter), "") if parameter is not None else (id(module), name)


def _alias_groups(targets: dict[str, tuple[Module, str, Any]]) -> dict[tuple[int, str], list[str]]:
    """The state keys of each parameter or buffer, by its `_target_identity`."""
    groups: dict[tuple[int, str], list[str]] = {}
    for key, target in targets.items():
        groups.setdefault(_target_identity(target), []).append(key)
    return groups


def _refuse_disagreeing_aliases(
    owner: str, values: dict[str, np.ndarray], aliases: dict[tuple[int, str], list[str]]
) -> None:
    """Refuse a state whose keys for one parameter or buffer hold different values: which
    one to load is a guess (torch takes the later key's silently)."""
    for keys in aliases.values():
        given = [key for key in keys if key in values]
        for key in given[1:]:
            if not np.array_equal(values[key], values[given[0]], equal_nan=True):
                raise ValueError(
                    f"load_state_dict for {owner}: {given[0]} and {key} name the same "
                    "parameter or buffer (a shared module or a tied weight) but hold "
                    "different values; nothing was loaded. Keep one of the two keys, or "
                    "give both the same values"
                )


_COLLECTIONS = (list, tuple, dict, set, frozenset)


def _trainable_leaf(value: Any) -> bool:
    """A Tensor made to be trained (a leaf that requires grad) that is not a Parameter."""
    return isinstance(value, Tensor) and value.requires_grad and value.is_leaf


def _refuse_unregistered(owner: Module, name: str, collection: Any) -> None:
    """Refuse a leaf Tensor that requires grad but is no Parameter, and a list, tuple, dict
    or set holding one, or a Module or Parameter that `owner` does not already hold: none is
    registered (as in PyTorch), so the optimizer, state_dict, train() and to() would leave
    it out without a word. References to what `owner` holds pass."""
    if isinstance(collection, Tensor):
        if _trainable_leaf(collection):
            raise TypeError(
                f"{type(owner).__name__}.{name}: a Tensor that requires grad is not a "
                "Parameter, so it is not registered (as in PyTorch): parameters(), the "
                "optimizer and state_dict() would leave it out without a word. Assign "
                f"nn.Parameter(array) (or .detach() for a constant); to keep it unregistered "
                f"on purpose, object.__setattr__(self, {name!r}, value)"
            )
        return
    items = collection.values() if isinstance(collection, dict) else collection
    loose = [
        item for item in items if isinstance(item, (Module, Parameter)) or _trainable_leaf(item)
    ]
    if not loose:
        return
    held = {id(module) for module in owner.modules()} | {id(p) for p in owner.parameters()}
    outside = [item for item in loose if id(item) not in held]
    if not outside:
        return
    kind = type(collection).__name__
    what = (
        "modules"
        if isinstance(outside[0], Module)
        else "parameters"
        if isinstance(outside[0], Parameter)
        else "tensors that require grad (not Parameters)"
    )
    fix = _container_fix(name, collection, outside)
    raise TypeError(
        f"{type(owner).__name__}.{name}: a {kind} holding {what} "
        f"({type(outside[0]).__name__} ...) is not registered, as in PyTorch: parameters(), "
        "the optimizer, state_dict(), train()/eval() and to() would leave them out without a "
        f"word. Register them: assign {fix}; to keep a plain reference on purpose, "
        f"object.__setattr__(self, {name!r}, value)"
    )


def _container_fix(name: str, collection: Any, outside: list[Any]) -> str:
    """The container that registers what `collection` holds, as the refusal suggests it."""
    keyed = isinstance(collection, dict)
    if all(isinstance(item, Module) for item in outside):
        if keyed:
            return f"nn.ModuleDict({name}) (a dict whose modules are registered by key)"
        return (
            f"nn.ModuleList({name}) (indexable and iterable; .append adds one), or "
            f"nn.Sequential(*{name}) to run them in order"
        )
    if not any(isinstance(item, Module) for item in outside):
        if keyed:
            return f"nn.ParameterDict({name}) (tensors are wrapped into Parameters)"
        return f"nn.ParameterList({name}) (tensors are wrapped into Parameters)"
    return (
        "the modules to an nn.ModuleList or nn.ModuleDict and the parameters to an "
        "nn.ParameterList or nn.ParameterDict"
    )


def _refuse_unregistered_members(root: Module) -> None:
    """Check again, at a first call (and after any module tree changed), the lists, tuples,
    dicts and sets that were assigned to modules under `root` outside a call: a layer or
    Parameter added to one since (`self.layers = []`, then `.append(layer)`) is refused as
    it would have been at the assignment."""
    for module in root.modules():
        for name in module.__dict__.get("_collections", ()):
            value = module.__dict__.get(name)
            if isinstance(value, _COLLECTIONS):
                items = value.values() if isinstance(value, dict) else value
                if any(isinstance(item, (Module, Parameter)) for item in items):
                    _refuse_unregistered(module, name, value)


class IncompatibleKeys(NamedTuple):
    """What `load_state_dict(strict=False)` skipped: keys the module has but the state lacks,
    and keys the state has but the module does not."""

    missing_keys: list[str]
    unexpected_keys: list[str]

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"  # torch's words, printed after a load
        return (
            f"IncompatibleKeys(missing_keys={self.missing_keys!r}, "
            f"unexpected_keys={self.unexpected_keys!r})"
        )


class Module:
    """Base class for layers and models.

    Subclasses call `super().__init__()` first, assign their Parameters and sub-Modules as
    attributes, and define `forward`; calling the module runs `forward`. A list, tuple, dict
    or set of Modules or Parameters, or a Tensor that requires grad but is no Parameter, is
    not registered (as in PyTorch) and is refused rather than left out of `parameters()`:
    assign a `ModuleList`, `ModuleDict`, `ParameterList`, `ParameterDict` or `Sequential`,
    or an `nn.Parameter`.

    Example:
        >>> class TwoLayer(Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.hidden = Linear(4, 8)
        ...         self.out = Linear(8, 2)
        ...     def forward(self, x):
        ...         return self.out(self.hidden(x).relu())
        >>> [name for name, _ in TwoLayer().named_parameters()]
        ['hidden.weight', 'hidden.bias', 'out.weight', 'out.bias']
    """

    training: bool
    _parameters: dict[str, Parameter | None]
    _buffers: dict[str, np.ndarray | None]
    _modules: dict[str, Module | None]
    _non_persistent_buffers: set[str]

    def __init__(self) -> None:
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "_non_persistent_buffers", set())

    # ----------------------------------------------------------------- registration
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"{type(self).__name__}: cannot assign {name!r} before Module.__init__() has "
                f"run; call super().__init__() first in {type(self).__name__}.__init__"
            )
        if isinstance(value, Parameter):
            self._forget(name, keep=self._parameters)
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._forget(name, keep=self._modules)
            self._modules[name] = value
        elif name in self._parameters:
            if value is not None:
                raise TypeError(
                    f"{type(self).__name__}.{name} is a parameter; assign a Parameter "
                    f"(chainrule.nn.Parameter(array)) or None, not {type(value).__name__}"
                )
            _STRUCTURE.changes += 1
            self._parameters[name] = None
        elif name in self._modules:
            # As PyTorch: None keeps the name registered, holding nothing (no parameters,
            # nothing saved) until a Module is assigned again.
            if value is not None:
                raise TypeError(
                    f"{type(self).__name__}.{name} is a sub-module; assign a Module or None, "
                    f"not {type(value).__name__} (delete it first with `del module.{name}`)"
                )
            _STRUCTURE.changes += 1
            self._modules[name] = None
        elif name in self._buffers:
            self._buffers[name] = _buffer_value(type(self).__name__, name, value)
        else:
            if _calls.depth == 0 and isinstance(value, (Tensor, *_COLLECTIONS)):
                _refuse_unregistered(self, name, value)
                if isinstance(value, _COLLECTIONS):
                    # Checked again at the next call: layers appended after the assignment
                    # (self.layers = [] then .append) are unregistered too.
                    self.__dict__.setdefault("_collections", set()).add(name)
            object.__setattr__(self, name, value)

    def _forget(self, name: str, keep: dict[str, Any] | None = None) -> None:
        """Unregister `name` everywhere but in `keep`, the registry about to take it again:
        there it keeps its place, as in PyTorch, so a replaced parameter keeps its index in
        `parameters()` (which optimizer state is saved by)."""
        _STRUCTURE.changes += 1
        self.__dict__.pop(name, None)
        self.__dict__.get("_non_persistent_buffers", set()).discard(name)
        for registry in (self._parameters, self._modules, self._buffers):
            if registry is not keep:
                registry.pop(name, None)

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails: registered entries live in the dicts.
        for registry in ("_parameters", "_modules", "_buffers"):
            entries = self.__dict__.get(registry)
            if entries is not None and name in entries:
                return entries[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        if name in self._parameters or name in self._modules or name in self._buffers:
            self._forget(name)
        else:
            object.__delattr__(self, name)

    def register_buffer(self, name: str, array: np.ndarray | None, persistent: bool = True) -> None:
        """Keep `array` as state that is not trained (running stats): listed by `buffers()`,
        moved by `to()` and converted by `double()`, and, unless `persistent=False` (a
        constant the module rebuilds, such as a mask), saved and loaded by `state_dict`.
        None registers the name with nothing in it (not saved), as in PyTorch. The name
        must be a non-empty string without '.' that is not already another attribute."""
        self._check_new_name("register_buffer", name, self._buffers)
        if not isinstance(persistent, bool):
            raise TypeError(
                f"{type(self).__name__}.register_buffer: persistent must be True or False, "
                f"got {persistent!r}"
            )
        value = _buffer_value(type(self).__name__, name, array)
        self._forget(name, keep=self._buffers)
        self._buffers[name] = value
        if not persistent:
            # setdefault: a module pickled before this set existed has none yet
            self.__dict__.setdefault("_non_persistent_buffers", set()).add(name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register `param` under `name`, as assigning it does (`self.name = param`); None
        registers the name holding nothing, as torch. The name must be a non-empty string
        without '.' that is not already another attribute."""
        self._check_new_name("register_parameter", name, self._parameters)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"{type(self).__name__}.register_parameter: {name!r} must be a Parameter or "
                f"None, got {type(param).__name__}; wrap it: nn.Parameter(array)"
            )
        self._forget(name, keep=self._parameters)
        self._parameters[name] = param

    def add_module(self, name: str, module: Module | None) -> None:
        """Register `module` under `name`, as assigning it does (`self.name = module`), for
        names that are not identifiers; None registers the name holding nothing, as torch.
        The name must be a non-empty string without '.' that is not already another
        attribute."""
        self._check_new_name("add_module", name, self._modules)
        if module is not None and not isinstance(module, Module):
            raise TypeError(
                f"{type(self).__name__}.add_module: {name!r} must be a Module or None, got "
                f"{type(module).__name__}"
            )
        self._forget(name, keep=self._modules)
        self._modules[name] = module

    register_module = add_module  # torch's other name for it

    def get_submodule(self, target: str) -> Module:
        """The module at dotted path `target` ("encoder.layers.0"; "" is this module)."""
        return self._walk("get_submodule", target)

    def _walk(self, operation: str, target: str) -> Module:
        """The module at dotted path `target`, or an AttributeError naming `operation`."""
        module: Module = self
        if target == "":
            return module
        walked: list[str] = []
        for name in target.split("."):
            child = module._modules.get(name)
            if child is None:
                where = ".".join(walked) or type(self).__name__
                raise AttributeError(
                    f"{operation}: {where} has no sub-module {name!r} (path {target!r}); it "
                    f"has {[key for key, sub in module._modules.items() if sub is not None]}"
                )
            walked.append(name)
            module = child
        return module

    def get_parameter(self, target: str) -> Parameter:
        """The parameter at dotted path `target` ("encoder.layers.0.weight")."""
        path, _, name = target.rpartition(".")
        parameter = self._walk("get_parameter", path)._parameters.get(name)
        if parameter is None:
            raise AttributeError(
                f"get_parameter: {target!r} is not a parameter; named_parameters() lists them"
            )
        return parameter

    def get_buffer(self, target: str) -> np.ndarray:
        """The buffer at dotted path `target` ("norm.running_mean")."""
        path, _, name = target.rpartition(".")
        buffer = self._walk("get_buffer", path)._buffers.get(name)
        if buffer is None:
            raise AttributeError(
                f"get_buffer: {target!r} is not a buffer; named_buffers() lists them"
            )
        return buffer

    def _check_new_name(self, operation: str, name: Any, registry: dict[str, Any]) -> None:
        """Refuse, as torch, a name that cannot key an entry of `registry`: not a string,
        empty, holding a dot (which separates the names in a state_dict key, where it would
        collide with a sub-module's entry), or already another attribute (a method,
        `training`, a setting such as `in_features`, a parameter or sub-module), which the
        entry would shadow or silently replace."""
        owner = type(self).__name__
        if not isinstance(name, str):
            raise TypeError(
                f"{owner}.{operation}: the name must be a string, got {type(name).__name__}"
            )
        if not name or "." in name:
            raise KeyError(
                f"{owner}.{operation}: name {name!r} must be a non-empty string without '.' "
                "(the dot separates names in state_dict keys)"
            )
        if name not in registry and hasattr(self, name):
            registered = name in self._parameters or name in self._modules or name in self._buffers
            remove = f", or `del module.{name}` first" if registered else ""
            raise KeyError(
                f"{owner}.{operation}: {name!r} is already an attribute of {owner}; choose "
                f"another name{remove}"
            )

    # ----------------------------------------------------------------- traversal
    def named_children(self) -> Iterator[tuple[str, Module]]:
        """The direct sub-modules with their attribute names, in registration order, each
        once, as torch: a module registered under two names is listed under the first (so
        `apply` and `train` reach it once); names set to None are skipped."""
        seen: set[int] = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self) -> Iterator[Module]:
        """The direct sub-modules, in registration order."""
        for _, module in self.named_children():
            yield module

    def named_modules(
        self, prefix: str = "", remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Module]]:
        """This module (named `prefix`) and every module below it, depth first, each once;
        with `remove_duplicate=False`, as torch, a module registered under two names is
        listed under each (a module that holds itself is not entered again)."""
        if not remove_duplicate:
            yield from self._every_path(prefix)
            return
        seen: set[int] = set()
        stack: list[tuple[str, Module]] = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            below = [
                (f"{name}.{child}" if name else child, sub)
                for child, sub in module._modules.items()
                if sub is not None
            ]
            stack.extend(reversed(below))

    def _every_path(self, prefix: str) -> Iterator[tuple[str, Module]]:
        """(path, module) for every path from this module down, depth first: a module
        registered under two names under both; one inside itself is not entered again."""
        stack: list[tuple[str, Module, frozenset[int]]] = [(prefix, self, frozenset())]
        while stack:
            name, module, above = stack.pop()
            yield name, module
            inside = above | {id(module)}
            below = [
                (f"{name}.{child}" if name else child, sub, inside)
                for child, sub in module._modules.items()
                if sub is not None and id(sub) not in inside
            ]
            stack.extend(reversed(below))

    def modules(self) -> Iterator[Module]:
        """This module and every module below it, depth first."""
        for _, module in self.named_modules():
            yield module

    def _members(
        self, registry: str, prefix: str, recurse: bool, remove_duplicate: bool
    ) -> Iterator[tuple[str, Any]]:
        """(dotted name, entry) of each non-None entry of `registry` ("_parameters" or
        "_buffers") of this module, or of every module below it with `recurse`, as torch:
        an entry held under two names (a tied weight, a shared module) once, under the first,
        unless `remove_duplicate` is False."""
        modules = self.named_modules(prefix, remove_duplicate) if recurse else [(prefix, self)]
        seen: set[int] = set()
        for module_name, module in modules:
            for name, entry in getattr(module, registry).items():
                if entry is None or id(entry) in seen:
                    continue
                if remove_duplicate:
                    seen.add(id(entry))
                yield (f"{module_name}.{name}" if module_name else name), entry

    def named_parameters(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Parameter]]:
        """Every parameter with its dotted name ("layers.0.weight"), each once, in
        registration order; only this module's own with `recurse=False`; a tied weight
        under each of its names with `remove_duplicate=False` (as torch)."""
        return self._members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Every parameter, each once, in registration order (what an optimizer takes);
        only this module's own with `recurse=False`."""
        for _, parameter in self.named_parameters(recurse=recurse):
            yield parameter

    def named_buffers(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, np.ndarray]]:
        """Every buffer (state that is saved but not trained) with its dotted name, each
        once; `recurse` and `remove_duplicate` as in `named_parameters`."""
        return self._members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[np.ndarray]:
        """Every buffer, each once, in registration order; only this module's own with
        `recurse=False`."""
        for _, buffer in self.named_buffers(recurse=recurse):
            yield buffer

    # ----------------------------------------------------------------- modes and grads
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop every parameter's gradient (`.grad = None`, PyTorch's default), or detach it
        from any graph (create_graph) and zero it in place, bumping its version."""
        record_effect(functools.partial(self.zero_grad, set_to_none))
        if not set_to_none:
            zero_grads(self.parameters())  # one fill per flat buffer
            return
        for parameter in self.parameters():
            parameter.grad = None

    def flatten_parameters(self) -> list[FlatBuffer]:
        """Place every parameter in a flat buffer, one per dtype (`chainrule.nn.flat`): each
        `.data` becomes a view of one contiguous array and each fresh `.grad` a view of
        another, so that optimizers update them all in a few NumPy calls (bit-identical).
        A parameter added or given new `.data` afterwards stays outside until this is called
        again; `load_state_dict` copies into the buffer."""
        return flatten_parameters(self.parameters())

    def train(self: ModuleT, mode: bool = True) -> ModuleT:
        """Set training mode (`mode=True`) or evaluation mode on this module, then call each
        child's own `train(mode)`, as torch: a sub-module that overrides `train` (a norm layer
        kept frozen in eval mode) decides its own mode."""
        if not isinstance(mode, bool):
            raise TypeError(f"train: mode must be True or False, got {mode!r}")
        object.__setattr__(self, "training", mode)
        for module in self.children():
            module.train(mode)
        return self

    def eval(self: ModuleT) -> ModuleT:
        """Evaluation mode: Dropout passes inputs through, BatchNorm uses running stats."""
        return self.train(False)

    # ----------------------------------------------------------------- state
    def _state_targets(self) -> dict[str, tuple[Module, str, Any]]:
        """Every parameter and persistent buffer as (module, name, value), by dotted key,
        named as torch's state_dict names them: a sub-module registered under two names is
        listed under both prefixes (named_modules lists it once), parameters of each module,
        then its buffers, then its sub-modules'."""
        targets: dict[str, tuple[Module, str, Any]] = {}
        stack: list[tuple[str, Module, frozenset[int]]] = [("", self, frozenset())]
        while stack:
            dot, module, above = stack.pop()
            for name, parameter in module._parameters.items():
                if parameter is not None:
                    targets[dot + name] = (module, name, parameter.data)
            unsaved = module.__dict__.get("_non_persistent_buffers", ())
            for name, buffer in module._buffers.items():
                if buffer is not None and name not in unsaved:
                    targets[dot + name] = (module, name, buffer)
            inside = above | {id(module)}  # a module holding itself would never end
            below = [
                (f"{dot}{child}.", sub, inside)
                for child, sub in module._modules.items()
                if sub is not None and id(sub) not in inside
            ]
            stack.extend(reversed(below))
        return targets

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter and persistent buffer, by dotted name: parameters of
        each module, then its buffers, then its sub-modules' (one registered under two names
        under both, as torch). NumPy copies, whatever the device (so a checkpoint loads
        anywhere): unlike torch, whose state_dict holds detached views that share storage,
        changing an entry leaves the module as it was."""
        return {key: to_numpy(value).copy() for key, (_, _, value) in self._state_targets().items()}

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True
    ) -> IncompatibleKeys:
        """Copy `state_dict`'s arrays into the parameters and buffers (keeping their dtypes).

        Shapes must match. With `strict=True` (the default) the keys must match exactly;
        with `strict=False` missing and unexpected keys are returned instead. A parameter
        or buffer reachable under two keys (a shared sub-module or a tied weight) needs
        only one of them; where the state holds both, their values must agree (torch
        silently keeps the later). Nothing is changed when an error is raised.
        """
        targets = self._state_targets()
        aliases = _alias_groups(targets)
        missing = [
            key
            for key in targets
            if not any(alias in state_dict for alias in aliases[_target_identity(targets[key])])
        ]
        unexpected = [key for key in state_dict if key not in targets]
        owner = type(self).__name__
        arrays = {
            key: _readable(owner, key, state_dict[key]) for key in targets if key in state_dict
        }
        misshaped = [
            f"{key}: expected shape {current.shape}, got {arrays[key].shape}"
            + _transpose_hint(module, name, arrays[key].shape)
            for key, (module, name, current) in targets.items()
            if key in arrays and arrays[key].shape != current.shape
        ]
        problems = []
        if strict and missing:
            problems.append(f"missing keys: {', '.join(missing)}")
        if strict and unexpected:
            problems.append(f"unexpected keys: {', '.join(unexpected)}")
        if misshaped:
            problems.append(f"mis-shaped keys: {'; '.join(misshaped)}")
        if problems:
            raise ValueError(
                f"load_state_dict for {type(self).__name__}: "
                + " | ".join(problems)
                + ". Save and load the same architecture (compare model.state_dict().keys() "
                "and shapes), or pass strict=False to skip missing and unexpected keys"
            )
        # Every value is converted before the first is copied, so that one that cannot be
        # (a string, a complex array) leaves the whole model as it was.
        values = {
            key: _loaded_value(owner, key, arrays[key], current)
            for key, (_, _, current) in targets.items()
            if key in arrays
        }
        _refuse_disagreeing_aliases(type(self).__name__, values, aliases)
        for key, value in values.items():
            module, name, current = targets[key]
            parameter = module._parameters.get(name)
            if (
                parameter is not None
                and buffer_of(parameter) is not None
                and type(current) is np.ndarray
            ):
                np.copyto(parameter.data, value)  # stay a view of the flat buffer
                parameter.increment_version()
            elif parameter is not None:
                parameter.data = value
            else:
                module._buffers[name] = value
        return IncompatibleKeys(missing, unexpected)

    # --- devices (issue 16)
    def to(self: ModuleT, device: Any) -> ModuleT:
        """Move every parameter (with its `.grad`) and buffer to `device`, in place, and
        return this module: "cpu" (NumPy), "cuda" or "cuda:N" (CuPy), an array library's
        module (array_api_strict, jax.numpy) or a device object of one, as `Tensor.to`.

        Each Parameter stays the same object, so an optimizer built on them keeps working
        (its state follows a parameter to its device at the next step). A parameter moved
        off NumPy leaves its flat buffer (`flatten_parameters`, NumPy only) and is updated
        on its own; call `flatten_parameters()` again after moving back to the cpu. A
        library that would change a dtype (JAX without jax_enable_x64: float64 to float32)
        is refused before anything moves.
        """
        _refuse_dtype_as_device(device)
        placed = [
            (parameter, move_keeping_dtype("to", parameter.data, device))
            for parameter in self.parameters()
        ]
        buffers = [
            (module, name, move_keeping_dtype("to", buffer, device))
            for module in self.modules()
            for name, buffer in module._buffers.items()
            if buffer is not None
        ]
        for parameter, moved in placed:
            if moved is parameter.data:
                continue
            grad = parameter.grad
            parameter.grad = None
            parameter.data = moved
            if type(moved) is not np.ndarray:  # flat buffers and their slots are NumPy's
                set_grad_slot(parameter, None)
            if grad is not None:
                parameter.grad = grad.detach().to(device)
        for module, name, buffer in buffers:
            module._buffers[name] = buffer
        return self

    # --- torch conveniences (nn-utils)
    def apply(self: ModuleT, fn: Callable[[Module], Any]) -> ModuleT:
        """Call `fn` on every sub-module (children first, each subtree before its root) and
        then on this module; returns this module (as torch: to initialize weights)."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    def requires_grad_(self: ModuleT, requires_grad: bool = True) -> ModuleT:
        """Set `requires_grad` on every parameter (False freezes the module); returns it."""
        for parameter in self.parameters():
            parameter.requires_grad_(requires_grad)
        return self

    def float(self: ModuleT) -> ModuleT:
        """Convert every floating-point parameter (with its `.grad`) and buffer to float32."""
        return self._convert_floats(np.dtype(np.float32))

    def double(self: ModuleT) -> ModuleT:
        """Convert every floating-point parameter (with its `.grad`) and buffer to float64."""
        return self._convert_floats(np.dtype(np.float64))

    def _convert_floats(self: ModuleT, dtype: np.dtype[Any]) -> ModuleT:
        """As torch's float()/double(): in place, each Parameter staying the same object (so
        an optimizer built on them keeps them); integer buffers are left as they are. A
        converted parameter leaves its flat buffer (call flatten_parameters() again). Every
        array is converted before any is replaced, so a refusal leaves the module as it was."""
        op = "double" if dtype == np.float64 else "float"
        parameters = [
            (parameter, _converted(op, parameter.data, dtype))
            for parameter in self.parameters()
            if parameter.dtype.kind == "f" and parameter.dtype != dtype
        ]
        buffers = [
            (module, name, _converted(op, buffer, dtype))
            for module in self.modules()
            for name, buffer in module._buffers.items()
            if buffer is not None and np.dtype(numpy_dtype(buffer.dtype)).kind == "f"
        ]
        for parameter, data in parameters:
            parameter.data = data  # converts .grad too
        for module, name, buffer in buffers:
            module._buffers[name] = buffer
        return self

    # ----------------------------------------------------------------- calling
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        forward = getattr(self, "forward", None)
        if forward is None:
            raise TypeError(
                f"{type(self).__name__} has no forward method; define forward(self, x) in "
                "the subclass: calling a module runs its forward"
            )
        if _calls.depth == 0 and self.__dict__.get("_named_at") != _STRUCTURE.changes:
            _refuse_unregistered_members(self)
            self._name_parameters()
            object.__setattr__(self, "_named_at", _STRUCTURE.changes)
        _calls.depth += 1
        try:
            return forward(*args, **kwargs)
        finally:
            _calls.depth -= 1

    def _run_in_order(self, modules: Iterable[Module | None], x: Any) -> Any:
        """x through each of `modules` in turn (None is passed over): a container's forward.
        Inside a module call, a module whose class keeps `Module.__call__` runs its forward
        directly, as that call would (it names parameters only from outside every module,
        and the depth stays above 0 either way): one Python call fewer per layer."""
        nested = _calls.depth > 0
        for module in modules:
            if module is None:
                continue
            forward = getattr(module, "forward", None) if nested else None
            if forward is not None and type(module).__call__ is _MODULE_CALL:
                x = forward(x)
            else:
                x = module(x)
        return x

    def _name_parameters(self) -> None:
        """Give each unnamed parameter its path ("0.weight") as its name, so a drawn or
        explained graph reads as `named_parameters` lists the model; called by the outermost
        module call, whose paths are the ones the user sees."""
        for path, parameter in self.named_parameters():
            if parameter.name is None:
                parameter.name = path

    def extra_repr(self) -> str:
        """The arguments shown inside this module's repr, e.g. "in_features=4, ..."."""
        return ""

    def __repr__(self) -> str:
        lines = []
        for name, module in self._modules.items():
            child = repr(module).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child}")
        if not lines:
            return f"{type(self).__name__}({self.extra_repr()})"
        header = self.extra_repr()
        body = "\n".join(([f"  {header}"] if header else []) + lines)
        return f"{type(self).__name__}(\n{body}\n)"


_MODULE_CALL = Module.__call__


def _refuse_dtype_as_device(device: Any) -> None:
    """Refuse a dtype given to `Module.to` (torch's `model.to(torch.float64)`), which would
    otherwise be refused as an unknown device: say how chainrule converts dtypes."""
    if dtype_named_by(device) is not None:
        raise TypeError(
            f"to: {device!r} is a dtype, but Module.to takes a device ('cpu', 'cuda', an array "
            "library's module); convert the floating-point parameters and buffers with "
            "model.float() (float32) or model.double() (float64)"
        )


def _converted(op: str, array: Any, dtype: np.dtype[Any]) -> Any:
    """`array` as `dtype` in its own library; JAX without jax_enable_x64 would truncate
    float64 back to float32 with only a warning, which is refused here."""
    if type(array) is np.ndarray:
        return array.astype(dtype)
    xp = namespace(array)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # JAX's truncation warning: checked just below
        converted = xp.astype(array, getattr(xp, dtype.name))
    check_dtype_kept(op, converted, dtype)
    return converted
