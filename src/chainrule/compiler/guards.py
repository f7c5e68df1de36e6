"""Guards of a traced step: the Python state it can reach without being passed it.

A trace bakes in every Python value the step reads outside its arguments: a closure or
global float (`loss * weight`), a module's `training` flag (Dropout on or off), which
Parameter a module holds, which optimizer or tensor a variable names. Like `torch.compile`'s
guards, each such value is noted when the step is traced and checked before each replay; one
that changed makes the step trace again instead of replaying a stale value. Python state the
step itself changes (a counter, a list it appends to, `model.train()`) is not repeated by a
replay, so a trace that changed any is refused.

What is followed, from the step and from the objects passed to it as arguments (a module, a
config: settings of the signature, matched by identity): its globals, closure and default
arguments, transitively
those of the user functions it calls, the attributes of user modules that code names, the
attributes of the user classes (and of their metaclass, whose properties run on `C.name`)
and objects it holds (its own, if bound; `__slots__` ones too), the entries of their dicts,
lists and deques (numbers included) and of read-only dict views (MappingProxyType), the
members of sets, the values of raw buffers (`array.array`, bytearray, memoryview, ctypes
values) and of NumPy arrays of any size (their bytes, compared whole: a sampled fingerprint
could miss a change), the process environment where the code names `environ` or `getenv`
(copied and compared whole: the key may be computed), and whole module trees (each
module's `training`, public attributes, the private ones the code names, parameters,
buffers and children). An object's
attribute or a dict's string key is guarded where the code names it, by a constant or by a
string the step holds (`table[key]`); a key computed at run time (`table[f"w{i}"]`) is not.
Optimizers and
schedulers are guarded by identity, and by what the user code reads of them itself
(`param_groups` entries it names, `get_last_lr()`, `last_epoch`): their `step()` is
replayed and reads their live state.
"""

from __future__ import annotations

import array
import collections
import ctypes
import functools
import operator
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from itertools import islice, repeat
from types import (
    BuiltinMethodType,
    CellType,
    CodeType,
    FunctionType,
    MappingProxyType,
    MethodType,
    ModuleType,
)
from typing import Any

import numpy as np

from chainrule.compiler.tracer import CompileError
from chainrule.nn.module import Module, structure_changes
from chainrule.optim.lr_scheduler import LRScheduler
from chainrule.optim.optimizer import Optimizer
from chainrule.tensor import Tensor

_DEPTH = 6
"""How many references deep the guards follow functions, objects and containers."""
_WIDTH = 64
"""How many entries of one container are guarded (of a dict or an object's attributes,
the first ones, and beyond them those the user code names: `_guarded_keys`)."""
_CLASS_ENTRY = MappingProxyType.get  # a class's own attribute, read in C
_LIMIT = 4096
"""How many values are guarded at most (a step that reaches a huge object graph)."""
_ENVIRONMENT_NAMES = frozenset(("environ", "environb", "getenv", "getenvb"))
"""Names through which code reads the process environment (`os.environ.get("SCALE")`)."""

_NOT_CALLED = frozenset(("__init__", "__new__", "__del__", "__init_subclass__", "__set_name__"))
"""Special methods a step's values do not run once made."""
_SCALARS = (bool, int, float, complex, str, bytes, type(None), np.generic)
_LIBRARIES = ("chainrule.", "numpy", "jax", "builtins", "torch")
_HEAP_TYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: a class made by a class statement or type()
_CACHED_FUNCTION = type(functools.lru_cache(maxsize=None)(len))  # functools.cache's too
_CELL_CONTENTS = operator.attrgetter("cell_contents")
_MISSING = object()
_BUFFERS = (
    array.array,
    bytearray,
    memoryview,
    ctypes._SimpleCData,
    ctypes.Array,
    ctypes.Structure,
    ctypes.Union,
)
"""Containers of raw values, guarded by their bytes (`bytes(value)`, read in C)."""
_CALL = operator.methodcaller("__call__")  # f(), called in C
_BYTES: Callable[[np.ndarray], bytes] = np.ndarray.tobytes
_STRUCTURE_NAME = "the parameters or sub-modules of a module"
_MODULE_CONTAINERS = frozenset(("_parameters", "_buffers", "_modules"))
"""A module's own dicts of parameters, buffers and sub-modules (`Module.__init__`)."""


def _names(code: CodeType) -> Iterator[str]:
    """The global and attribute names `code` and the functions, lambdas and comprehensions
    inside it use."""
    yield from code.co_names
    for constant in code.co_consts:
        if isinstance(constant, CodeType):
            yield from _names(constant)


def _strings(code: CodeType) -> Iterator[str]:
    """The string constants of `code` and of the code inside it (the keys it indexes with)."""
    for constant in code.co_consts:
        if isinstance(constant, str):
            yield constant
        elif isinstance(constant, CodeType):
            yield from _strings(constant)


def _class_functions(value: Any) -> Iterator[FunctionType]:
    """The functions defined by the user classes of `value`'s type (its methods, property
    getters), which the step may call through it."""
    for cls in type(value).__mro__:
        if _is_library_class(cls):
            continue
        for attribute in vars(cls).values():
            function = attribute_of(attribute, "fget") or attribute_of(
                attribute, "__func__", attribute
            )
            if isinstance(function, FunctionType):
                yield function


def _is_library_class(cls: type) -> bool:
    """A class of Python's or a library's. A class made by `exec` in globals without
    `__name__` has `__module__` 'builtins' as well (its body's `__name__` is the builtins
    module's), but it is the user's: unlike a built-in type, it is a heap type."""
    if cls.__module__ == "builtins":
        return not cls.__flags__ & _HEAP_TYPE
    return cls.__module__.startswith(_LIBRARIES)


def attribute_of(value: Any, name: str, default: Any = None) -> Any:
    """`getattr(value, name, default)`, also where a user `__getattr__` raises another error
    than AttributeError for a name it lacks (KeyError, as a dict-backed object may): the
    guards look at attributes the step may never read, and must not fail on them."""
    try:
        return getattr(value, name, default)
    except Exception:  # any error means: no such attribute to follow
        return default


def _is_user_function(value: Any) -> bool:
    # exec'd code whose globals lack __name__ has __module__ None: the user's own
    module = getattr(value, "__module__", None) or ""
    return isinstance(value, FunctionType) and not module.startswith(_LIBRARIES)


def _is_user_module(module: ModuleType) -> bool:
    """A module of the user's own: not the standard library's, nor a library's."""
    top = module.__name__.partition(".")[0]
    return (
        top not in sys.stdlib_module_names and top != "chainrule" and not top.startswith(_LIBRARIES)
    )


def _is_user_object(value: Any) -> bool:
    return (
        attribute_of(value, "__dict__") is not None
        and not isinstance(value, (ModuleType, type, FunctionType, MethodType))
        and not _is_library_class(type(value))
    )


class Guards:
    """The values a step can reach, where each is held, and a check that none has changed.

    Each value is read from its holder by C-level calls only (`dict.get`, a cell's
    `cell_contents`, `len`), so checking costs no Python call per value: numbers, strings and
    None are compared by value, everything else by identity (the objects are kept alive)."""

    def __init__(self, step: Callable[..., Any], arguments: Sequence[tuple[str, Any]] = ()) -> None:
        """Guard what `step` reaches and what its `arguments` (name, value) that are objects
        hold: a module or a settings object passed to the step is part of its signature by
        identity, so its mode and attributes must be guarded as a closure's are."""
        self.tensors: list[Tensor] = []
        self._start_lists()
        # The names and string constants of the user code reached: an object's attribute or a
        # dict's string key is guarded only if that code names it (so a counter the loop keeps
        # on an object the step reaches, unread by the step, does not make every call a
        # trace). The first walk finds them; the second guards with them.
        self._found_names: set[str] = set()
        self._used: set[str] | None = None
        self._methods: list[FunctionType] = []  # methods of the objects met
        self._follow_roots(step, arguments)
        while True:  # the methods named by the code found so far, until no new one is named
            named = [f for f in self._methods if self._called(f) and id(f) not in self._seen]
            if not named:
                break
            for function in named:
                self._follow(function, function.__qualname__, 1)
        used = self._found_names
        self._start_lists()
        self._used = used
        self._follow_roots(step, arguments)
        if not used.isdisjoint(_ENVIRONMENT_NAMES):
            self._environment()
        self._drop_tensor_arrays()
        self.values = self._read()

    def _follow_roots(self, step: Callable[..., Any], arguments: Sequence[tuple[str, Any]]) -> None:
        self._follow(step, "the step", 0)
        for name, value in arguments:
            self._follow(value, name, 1)

    def _start_lists(self) -> None:
        self._dicts: list[dict[Any, Any]] = []
        self._keys: list[Any] = []
        self._cells: list[CellType] = []
        # (a class's own attributes, a method name): each module class's entry for the
        # methods calling its modules runs, in every class of its MRO down to the one that
        # defines it (one set on any of them later replaces it for every instance).
        self._classes: list[MappingProxyType[str, Any]] = []
        self._class_keys: list[str] = []
        self._class_seen: set[tuple[type, str]] = set()
        self._sized: list[Any] = []
        # Entries of lists (`weights[0]`), and attributes read with getattr: those of objects
        # without a __dict__ (__slots__), and a function's defaults.
        self._lists: list[Any] = []  # lists and deques
        self._indices: list[int] = []
        self._item_names: list[str] = []
        self._owners: list[Any] = []
        self._attributes: list[str] = []
        self._attribute_names: list[str] = []
        # Small NumPy arrays the step reaches (not a tensor's): changed in place between
        # calls, a value the step read from one into Python would be stale.
        self._arrays: list[np.ndarray] = []
        self._array_names: list[str] = []
        # Values compared by ==, each read by a C function from its holder (`_snapshot`).
        self._snapshot_reads: list[Callable[[], Any]] = []
        self._snapshot_names: list[str] = []
        # One name per guarded value, in the order `_read` gives them: dict entries, closure
        # cells, lengths (entries and cells are collected interleaved, so kept apart).
        self._entry_names: list[str] = []
        self._cell_names: list[str] = []
        self._class_names: list[str] = []
        self._length_names: list[str] = []
        self._seen: set[int] = set()
        self._modules = False  # whether any module tree is guarded
        # The tensors met on the way (modules' parameters among them), for `trained_arrays`.
        self.tensors = []

    # ------------------------------------------------------------------ collecting
    def _full(self) -> bool:
        named = (
            self._entry_names,
            self._cell_names,
            self._class_names,
            self._item_names,
            self._attribute_names,
            self._length_names,
            self._array_names,
            self._snapshot_names,
        )
        return sum(map(len, named)) >= _LIMIT

    def _entry(
        self, holder: dict[Any, Any], key: Any, name: str, depth: int, named: bool = False
    ) -> None:
        """Guard `holder[key]` and follow its value; `named`: only if the user code names
        `key` (an object's attribute, a dict's string key)."""
        if self._full():
            return
        if named and self._used is not None and isinstance(key, str) and key not in self._used:
            return
        self._dicts.append(holder)
        self._keys.append(key)
        self._entry_names.append(name)
        self._follow(holder.get(key), name, depth + 1)

    def _follow(self, value: Any, name: str, depth: int) -> None:
        if type(value) is str and self._used is None:
            # A key held in a variable (`table[key]`, `getattr(settings, name)`) names an
            # entry as a string constant of the code does.
            self._found_names.add(value)
        if depth > _DEPTH or id(value) in self._seen or isinstance(value, _SCALARS):
            return
        if isinstance(value, Tensor):
            self.tensors.append(value)
            return
        if isinstance(value, Optimizer):
            self._seen.add(id(value))
            self._optimizer(value, name, depth)
            return
        if isinstance(value, LRScheduler):
            self._seen.add(id(value))
            self._scheduler(value, name, depth)
            return
        if isinstance(value, np.ndarray):
            # Every size: an in-place change of a large table read into Python (`float(t[i])`)
            # would otherwise replay its old value. Object arrays hold references, not values.
            if value.dtype.kind != "O" and not self._full():
                self._seen.add(id(value))
                self._arrays.append(value)
                self._array_names.append(f"the values of the array {name}")
            return
        if value is os.environ:
            self._seen.add(id(value))
            self._environment()
            return
        if isinstance(value, CellType):
            return
        self._seen.add(id(value))
        if isinstance(value, MethodType):
            self._follow(value.__func__, name, depth)
            self._follow(value.__self__, f"{name}'s object", depth)
        elif _is_user_function(value):
            self._function(value, depth)
        elif isinstance(value, _CACHED_FUNCTION):
            # An lru_cache wrapper is C code: the function it calls on a miss is the user's.
            self._follow(value.__wrapped__, name, depth)
        elif isinstance(value, BuiltinMethodType) and not isinstance(value.__self__, ModuleType):
            # `settings.get`, `values.__getitem__`: a C method reads the object it is bound to.
            self._follow(value.__self__, f"{name}'s object", depth)
        elif isinstance(value, functools.partial):
            # Its function and arguments are not in vars(): followed as the call reads them.
            self._follow(value.func, f"{name}.func", depth)
            self._follow(value.args, f"{name}.args", depth + 1)
            # Every keyword is passed, named in the user's code or not.
            self._length(value.keywords, f"{name}.keywords")
            for key in list(value.keywords)[:_WIDTH]:
                self._entry(value.keywords, key, f"{name}.keywords[{key!r}]", depth)
        elif isinstance(value, Module):
            self._module_tree(value, name, depth)
        elif isinstance(value, dict):
            for key in self._guarded_keys(value):
                self._entry(value, key, f"{name}[{key!r}]", depth, named=True)
        elif isinstance(value, (list, collections.deque)):
            self._length(value, name)
            for index, item in enumerate(islice(value, _WIDTH)):  # a deque has no slices
                if not self._full():
                    self._lists.append(value)
                    self._indices.append(index)
                    self._item_names.append(f"{name}[{index}]")
                self._follow(item, f"{name}[{index}]", depth + 1)
            if len(value) > _WIDTH:
                # `schedule[step]` past the first entries: which one is read is computed,
                # so the rest are compared as one copy (by identity, then ==), in C.
                self._snapshot(_tail, value, f"the entries of {name} past its first {_WIDTH}")
        elif isinstance(value, tuple):
            for index, item in enumerate(value[:_WIDTH]):
                self._follow(item, f"{name}[{index}]", depth + 1)
        elif isinstance(value, (set, frozenset)):
            # `if key in active:`: changed in place, its members are compared, and followed.
            self._snapshot(frozenset, value, f"the members of the set {name}")
            for item in list(value)[:_WIDTH]:
                self._follow(item, f"a member of {name}", depth + 1)
        elif isinstance(value, _BUFFERS):
            self._snapshot(bytes, value, f"the values of {name}")
        elif isinstance(value, MappingProxyType):
            # A read-only view of a dict held elsewhere: its entries, copied and compared.
            self._snapshot(dict, value, f"the entries of {name}")
        elif isinstance(value, type) and not _is_library_class(value):
            self._class_attributes(value, depth)
            if not _is_library_class(type(value)):
                # `Config.scale` through a property of its metaclass: that getter runs, and
                # reads what the metaclass itself defines as well.
                self._methods_of(value, name, depth)
                self._class_attributes(type(value), depth)
        elif isinstance(value, ModuleType) and _is_user_module(value):
            # A settings module (`config.LOSS_WEIGHT`): the attributes the user code names.
            attributes = vars(value)
            used = self._found_names if self._used is None else self._used
            for key in sorted(key for key in used if key in attributes)[:_WIDTH]:
                self._entry(attributes, key, f"{name}.{key}", depth)
        elif _is_user_object(value):
            self._methods_of(value, name, depth)
            self._class_attributes(type(value), depth)  # `self.scale`, set on the class
            attributes = vars(value)
            self._length(attributes, f"the attributes of {name}")
            for key in self._guarded_keys(attributes):
                self._entry(attributes, key, f"{name}.{key}", depth, named=True)
        elif _is_user_slots_object(value):
            self._methods_of(value, name, depth)
            self._class_attributes(type(value), depth)
            for key in _slot_names(type(value))[:_WIDTH]:
                if self._used is None or key in self._used:
                    self._attribute(value, key, f"{name}.{key}", depth)

    def _guarded_keys(self, holder: dict[Any, Any]) -> list[Any]:
        """The keys of a dict (or an object's attributes) to guard: its first `_WIDTH`, and
        beyond them those the user code names (`settings["lr"]` in a dict of a hundred
        entries), which would otherwise go unguarded however plainly the step reads them."""
        keys = list(islice(holder, _WIDTH))
        if len(holder) > _WIDTH:
            used = self._found_names if self._used is None else self._used
            first = set(keys)
            keys += sorted(key for key in used if key in holder and key not in first)
        return keys

    def _attribute(self, owner: Any, key: str, name: str, depth: int) -> None:
        """Guard `getattr(owner, key)` (read in C by `getattr`) and follow its value."""
        if self._full():
            return
        try:
            value = getattr(owner, key, _MISSING)
        except Exception:  # a __getattr__ raising KeyError: nothing to read
            return
        self._owners.append(owner)
        self._attributes.append(key)
        self._attribute_names.append(name)
        self._follow(value, name, depth + 1)

    def _snapshot(self, read: Callable[[Any], Any], holder: Any, name: str) -> None:
        """Guard `read(holder)`, compared by value (==) before each replay: a container
        whose entries the other guards cannot read in C one by one (a set's members, an
        array.array's values)."""
        try:
            read(holder)
        except (ValueError, TypeError):  # a released memoryview: nothing the step can read
            return
        if not self._full():
            self._snapshot_reads.append(functools.partial(read, holder))
            self._snapshot_names.append(name)

    def _environment(self) -> None:
        """Guard the process environment (`os.environ`, `os.getenv`): all of it, since the
        key the step reads may be computed; its dict is copied and compared in C."""
        data = getattr(os.environ, "_data", None)
        if isinstance(data, dict) and id(data) not in self._seen:
            self._seen.add(id(data))
            self._snapshot(dict.copy, data, "the environment (os.environ)")

    def _names_any(self, *names: str) -> bool:
        used = self._found_names if self._used is None else self._used
        return any(name in used for name in names)

    def _optimizer(self, optimizer: Optimizer, name: str, depth: int) -> None:
        """An optimizer's `step()` is replayed and reads its live state, so only what the
        user code reads itself is guarded: `param_groups` entries it names (an lr read into
        an op would otherwise be baked into the trace)."""
        if self._names_any("param_groups"):
            self._entry(vars(optimizer), "param_groups", f"{name}.param_groups", depth)

    def _scheduler(self, scheduler: LRScheduler, name: str, depth: int) -> None:
        """As `_optimizer`: the lrs `get_last_lr()` gives and the epoch, where the user code
        reads them."""
        attributes = vars(scheduler)
        if self._names_any("get_last_lr"):
            self._entry(attributes, "_last_lr", f"{name}.get_last_lr()", depth)
        if self._names_any("last_epoch"):
            self._entry(attributes, "last_epoch", f"{name}.last_epoch", depth)
        if self._names_any("optimizer"):
            self._follow(scheduler.optimizer, f"{name}.optimizer", depth + 1)

    def _called(self, function: FunctionType) -> bool:
        """Whether the step may call this method: it is `forward`, a special method Python
        calls without the code naming it (`__call__`, `__getitem__`, `__getattr__`, a
        descriptor's `__get__`, an operator), or the user code found so far names it."""
        name = function.__name__
        special = name.startswith("__") and name.endswith("__") and name not in _NOT_CALLED
        return special or name == "forward" or name in (self._used or self._found_names)

    def _methods_of(self, value: Any, name: str, depth: int) -> None:
        """Follow the methods of `value`'s user classes that the step may call (the others, a
        training loop's own, would guard what only the loop reads)."""
        for function in _class_functions(value):
            self._methods.append(function)
            if self._called(function):
                self._follow(function, name, depth + 1)

    def _length(self, sized: Any, name: str) -> None:
        if not self._full():
            self._sized.append(sized)
            self._length_names.append(f"len({name})")

    def _function(self, function: FunctionType, depth: int) -> None:
        code = function.__code__
        self._found_names.update(_names(code), _strings(code))
        # Its default arguments: replaced (f.__defaults__ = ...) or changed inside.
        label = function.__qualname__
        self._attribute(function, "__defaults__", f"the defaults of {label}", depth)
        self._attribute(function, "__kwdefaults__", f"the keyword defaults of {label}", depth)
        for name in dict.fromkeys(_names(code)):
            if name in function.__globals__:
                self._entry(function.__globals__, name, name, depth)
        for name, cell in zip(code.co_freevars, function.__closure__ or (), strict=False):
            if self._full():
                return
            try:
                contents = cell.cell_contents
            except ValueError:  # a cell not yet filled
                continue
            self._cells.append(cell)
            self._cell_names.append(name)
            self._follow(contents, name, depth + 1)

    def _module_tree(self, root: Module, name: str, depth: int) -> None:
        """Every module below `root`: its mode, public settings and buffers, whatever the
        nesting. Which parameters and sub-modules each holds is guarded by one number for all
        modules (`structure_changes()`, which every such assignment bumps)."""
        self._modules = True
        for path, module in root.named_modules():
            if id(module) != id(root) and id(module) in self._seen:
                continue
            self._seen.add(id(module))
            self._methods_of(module, name, depth)
            self._class_attributes(type(module), depth)
            label = f"{name}.{path}" if path else name
            attributes = vars(module)
            used = self._found_names if self._used is None else self._used
            for key in self._guarded_keys(attributes):
                # A private setting (`self._scale`, `self.__mask`) where the user code names
                # it; the module's own containers are guarded apart (structure, buffers).
                private = key.startswith("_") and key not in _MODULE_CONTAINERS
                if key == "training" or not key.startswith("_") or (private and key in used):
                    self._entry(attributes, key, f"{label}.{key}", depth)
            # The methods calling it runs: forward, and those of its user classes that the
            # step's code names. Absent from the instance now, one set there later
            # (m.forward = f) replaces the class's, so the replay must not run the old one.
            called = [f.__name__ for f in _class_functions(module) if self._called(f)]
            for key in dict.fromkeys(["forward", *called]):
                if key not in attributes and key != "__call__":
                    self._entry(attributes, key, f"{label}.{key}", depth)
            self._module_class(type(module), called)
            self.tensors.extend(p for p in module._parameters.values() if p is not None)
            buffers = module._buffers
            for key in list(buffers)[:_WIDTH]:
                if not self._full():
                    self._dicts.append(buffers)
                    self._keys.append(key)
                    self._entry_names.append(f"the buffer {label}.{key}")

    def _class_attributes(self, cls: type, depth: int) -> None:
        """A user class the step reaches (`Config.scale`, a static method's `C.k`, `self.k`
        of an instance): the attributes that the user code names, defined on it or on a user
        class of its MRO, read statically as `_module_class` does. Each is guarded in every
        class of the MRO down to the one defining it: one set later on a class before that
        shadows it."""
        used = self._found_names if self._used is None else self._used
        owners = [owner for owner in cls.__mro__ if not _is_library_class(owner)]
        keys = dict.fromkeys(key for owner in owners for key in vars(owner) if key in used)
        for key in list(keys)[:_WIDTH]:
            for owner in owners:
                if self._full() or (owner, key) in self._class_seen:
                    break
                self._class_seen.add((owner, key))
                label = f"{owner.__qualname__}.{key}"
                self._classes.append(owner.__dict__)
                self._class_keys.append(key)
                self._class_names.append(label)
                if key in owner.__dict__:
                    attribute = owner.__dict__[key]
                    function = attribute_of(attribute, "__func__", attribute)
                    self._follow(function, label, depth + 1)
                    break

    def _module_class(self, cls: type, called: list[str]) -> None:
        """Guard what `cls.forward`, `cls.__call__` and the `called` methods are (a method
        set on the class later runs for every instance, library classes' too)."""
        for key in dict.fromkeys(["forward", "__call__", *called]):
            for owner in cls.__mro__:
                if self._full() or (owner, key) in self._class_seen:
                    break
                self._class_seen.add((owner, key))
                # Read statically (not getattr: a descriptor may make a new object per read)
                self._classes.append(owner.__dict__)
                self._class_keys.append(key)
                self._class_names.append(f"{owner.__qualname__}.{key}")
                if key in owner.__dict__:
                    break

    def _drop_tensor_arrays(self) -> None:
        """Forget the arrays that hold a tensor's values (`p.data` kept in a variable): an
        optimizer changes those at every call, and a replay reads them afresh."""
        held = [t.data for t in self.tensors if isinstance(t.data, np.ndarray)]
        kept = [
            (array, name)
            for array, name in zip(self._arrays, self._array_names, strict=True)
            if not any(np.may_share_memory(array, data) for data in held)
        ]
        self._arrays = [array for array, _ in kept]
        self._array_names = [name for _, name in kept]

    def trained_arrays(self) -> list[np.ndarray]:
        """The writable NumPy arrays of the tensors met that require grad (parameters)."""
        arrays = {
            id(t.data): t.data
            for t in self.tensors
            if t.requires_grad and type(t.data) is np.ndarray and t.data.flags.writeable
        }
        return list(arrays.values())

    # ------------------------------------------------------------------ checking
    def _read(self) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        """The guarded values (dict entries, closure cells, module classes' methods, list
        entries, getattr attributes) and those compared by value: the guarded lengths, the
        modules' structure count and the small arrays' bytes."""
        missing = repeat(_MISSING)  # map stops at its shortest iterable: no list per read
        entries = map(dict.get, self._dicts, self._keys, missing)
        cells = map(_CELL_CONTENTS, self._cells)
        methods = map(_CLASS_ENTRY, self._classes, self._class_keys, missing)
        lengths: tuple[Any, ...] = tuple(map(len, self._sized))
        if self._modules:
            lengths += (structure_changes(),)
        if self._arrays:
            lengths += tuple(map(_BYTES, self._arrays))
        if self._snapshot_reads:
            lengths += tuple(map(_CALL, self._snapshot_reads))
        items = map(operator.getitem, self._lists, self._indices)  # IndexError: shorter
        attributes = map(getattr, self._owners, self._attributes, missing)
        return (*entries, *cells, *methods, *items, *attributes), lengths

    def changed(self) -> str | None:
        """The name of the first guarded value that is not what it was when the guards were
        made (None: all are)."""
        try:
            objects, lengths = self._read()
        except ValueError:  # a closure cell emptied (`del` of the variable)
            return "a variable in the closure of the step"
        except IndexError:
            return "the entries of a list the step reads"
        before_objects, before_lengths = self.values
        compared = len(before_objects)  # the first compared by identity, the rest by value
        for index, (name, before, after) in enumerate(
            zip(
                (
                    *self._entry_names,
                    *self._cell_names,
                    *self._class_names,
                    *self._item_names,
                    *self._attribute_names,
                    *self._length_names,
                    *([_STRUCTURE_NAME] if self._modules else []),
                    *self._array_names,
                    *self._snapshot_names,
                ),
                (*before_objects, *before_lengths),
                (*objects, *lengths),
                strict=False,
            )
        ):
            if not (_same(before, after) if index < compared else _equal(before, after)):
                return name
        return None

    def hold(self) -> bool:
        """Whether every guarded value is as it was. The common case, every value the same
        object, costs C-level calls only; an equal number that is a new object is compared
        by value (and then kept, so the next check is fast again)."""
        try:
            objects, lengths = self._read()
        except (ValueError, IndexError):  # an emptied closure cell, a shorter list
            return False
        before_objects, before_lengths = self.values
        try:
            same = lengths == before_lengths
        except (ValueError, TypeError):  # a snapshot's new array, compared with an old one
            same = False
        if same and all(map(operator.is_, objects, before_objects)):
            return True
        if self.changed() is not None:
            return False
        self.values = objects, lengths
        return True

    def refuse_changes_by_the_step(self) -> None:
        """Raise CompileError if the step itself changed a guarded value while traced: a
        replay repeats no Python code, so the change would happen on the first call only."""
        name = self.changed()
        if name is not None:
            raise CompileError(
                f"compile: the step changed {name} while it was traced; a replay repeats "
                "only chainrule ops, backward() and optimizer and scheduler steps, not Python "
                "code, so the change would happen on the first call only. Make the change "
                "outside the compiled step (return what it needs and update it after the "
                "call; call model.train()/eval() before it)"
            )


def _slot_names(cls: type) -> list[str]:
    """The attribute names the __slots__ of `cls` and its bases declare."""
    names: list[str] = []
    for owner in cls.__mro__:
        slots = owner.__dict__.get("__slots__", ())
        names.extend([slots] if isinstance(slots, str) else slots)
    return [name for name in names if name not in ("__dict__", "__weakref__")]


def _is_user_slots_object(value: Any) -> bool:
    return (
        attribute_of(value, "__dict__") is None
        and bool(_slot_names(type(value)))
        and not _is_library_class(type(value))
    )


def _tail(items: list[Any] | collections.deque[Any]) -> tuple[Any, ...]:
    """The entries of a list or deque past the guards' width."""
    return tuple(islice(items, _WIDTH, None))


def _equal(before: Any, after: Any) -> bool:
    """`before == after` for values compared by value (a snapshot's dict may hold arrays,
    whose comparison raises where they are new objects: then they differ)."""
    try:
        return bool(before == after)
    except (ValueError, TypeError):
        return False


def _same(before: Any, after: Any) -> bool:
    """Whether a guarded value is still the one traced: the same object, or a scalar of the
    same type and value. A float is compared by its repr, which tells 0.0 from -0.0 (equal,
    yet `x / s` is +inf for one and -inf for the other) and NaN from nothing else."""
    if before is after:
        return True
    if isinstance(before, _SCALARS) and type(before) is type(after):
        if isinstance(before, (float, complex, np.inexact)):
            return repr(before) == repr(after)
        return bool(before == after)
    return False
