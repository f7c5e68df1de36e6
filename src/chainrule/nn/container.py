"""`Sequential`: modules applied one after another, registered as "0", "1", ..."""

from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from typing import Any, overload

from chainrule.nn.module import Module
from chainrule.nn.registry_views import delete_entries, list_position, renumber


class Sequential(Module):
    """y = modules[-1](... modules[1](modules[0](x))).

    The modules are named "0", "1", ... or, given one OrderedDict, by its keys (as torch).
    Indexable (an int gives a module, a slice a new Sequential sharing the modules and
    keeping their names, as torch), iterable and sized; parameters are named "0.weight",
    "2.bias", ... As torch's: `model[i] = module` replaces a module under its name (a new
    head), `del model[i]` (or a slice), `insert` and `pop` renumber the rest "0", "1", ...,
    `extend` and `+=` append, and `model + other` is a new Sequential of both.

    Example:
        >>> model = Sequential(Linear(64, 32), ReLU(), Linear(32, 10))
        >>> len(model), type(model[1]).__name__
        (3, 'ReLU')
    """

    def __init__(self, *modules: Module | OrderedDict[str, Module]) -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            # As torch: one OrderedDict names the modules ("fc1", "act"), in its order.
            for name, module in modules[0].items():
                self.add_module(name, _checked("Sequential", module))
            return
        for entry in modules:
            self.append(_checked("Sequential", entry))

    def append(self, module: Module) -> Sequential:
        """Add `module` at the end and return self."""
        setattr(self, str(len(self._modules)), _checked("Sequential.append", module))
        return self

    def extend(self, modules: Iterable[Module]) -> Sequential:
        """Append each of `modules` in order (all checked first); returns self."""
        for module in [_checked("Sequential.extend", module) for module in modules]:
            self.append(module)
        return self

    def insert(self, index: int, module: Module) -> Sequential:
        """Put `module` before position `index` (-len <= index <= len) and number the
        modules "0", "1", ... again; returns self."""
        entries = self._entries()
        position = operator.index(index)
        if not -len(entries) <= position <= len(entries):
            raise IndexError(
                f"Sequential.insert: index {position} is out of range for {len(entries)} modules"
            )
        entries.insert(position, _checked("Sequential.insert", module))
        renumber(self, self._modules, entries)
        return self

    def pop(self, index: int = -1) -> Module:
        """Remove the module at `index` (the last by default), numbering the rest again, and
        return it."""
        module = self[index]
        del self[index]
        return module

    def __setitem__(self, index: int, module: Module) -> None:
        names = self._names()
        position = list_position(self, index, len(names))
        setattr(self, names[position], _checked("Sequential", module))

    def __delitem__(self, index: int | slice) -> None:
        delete_entries(self, self._modules, index)

    def __add__(self, other: Sequential) -> Sequential:
        if not isinstance(other, Sequential):
            return NotImplemented
        return Sequential(*self, *other)

    def __iadd__(self, other: Sequential) -> Sequential:
        if not isinstance(other, Sequential):
            raise TypeError(
                f"Sequential +=: expected a Sequential (as torch), got {type(other).__name__}; "
                "use extend() for a list of modules"
            )
        return self.extend(list(other))

    @overload
    def __getitem__(self, index: int) -> Module: ...

    @overload
    def __getitem__(self, index: slice) -> Sequential: ...

    def __getitem__(self, index: Any) -> Module | Sequential:
        if isinstance(index, slice):
            # As torch, the slice keeps each module's name: its state_dict keys are the
            # whole model's, so loading one into the other puts each value where it was.
            named = [(name, module) for name, module in self._modules.items() if module is not None]
            part = Sequential()
            for name, module in named[index]:
                setattr(part, name, module)
            return part
        try:
            position = operator.index(index)
        except TypeError:
            by_name = (
                f"; a module by its name is getattr(model, {index!r})"
                if isinstance(index, str)
                else ""
            )
            raise TypeError(
                f"Sequential: an index must be an int or a slice (as torch), got "
                f"{type(index).__name__} {index!r}{by_name}"
            ) from None
        modules = self._entries()
        if not -len(modules) <= position < len(modules):
            raise IndexError(
                f"Sequential: index {position} is out of range for {len(modules)} modules"
            )
        return modules[position]

    def __len__(self) -> int:
        return len(self._entries())

    def __iter__(self) -> Iterator[Module]:
        return iter(self._entries())

    def _names(self) -> list[str]:
        """The names of the modules in order (entries set to None left out)."""
        return [name for name, module in self._modules.items() if module is not None]

    def _entries(self) -> list[Module]:
        """The modules in order; an entry set to None (`model[0]` as `model.0 = None`, as
        torch allows) holds nothing and is passed over."""
        return [module for module in self._modules.values() if module is not None]

    def forward(self, x: Any) -> Any:
        return self._run_in_order(self._modules.values(), x)


def _checked(operation: str, module: Any) -> Module:
    """`module`, or a TypeError naming `operation` for anything that is not a Module."""
    if not isinstance(module, Module):
        raise TypeError(
            f"{operation}: every entry must be a Module, got {type(module).__name__}; wrap "
            "functions in a Module subclass (activations: ReLU(), Tanh(), Sigmoid())"
        )
    return module
