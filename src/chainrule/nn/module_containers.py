"""`ModuleList` and `ModuleDict`: sub-modules held by position or by key, registered as
torch's (parameters named "layers.0.weight", "heads.cls.bias"), with no forward of their own."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NoReturn, overload

from chainrule.nn.module import Module
from chainrule.nn.registry_views import check_key, list_position, refuse_call, renumber


def _module(owner: str, value: Any) -> Module:
    if not isinstance(value, Module):
        raise TypeError(
            f"{owner}: every entry must be a Module, got {type(value).__name__}; wrap "
            "functions in a Module subclass (activations: ReLU(), Tanh()), and hold "
            "Parameters in nn.ParameterList / nn.ParameterDict"
        )
    return value


class ModuleList(Module):
    """Modules held in order, registered under "0", "1", ... as torch's `nn.ModuleList`.

    Indexable by int (negative counts from the end) or slice (a new ModuleList of the same
    modules), iterable and sized; `append`, `extend`, `insert`, `pop`, `+=`, item assignment
    and `del` keep the names contiguous, so state_dict keys are torch's ("layers.1.weight").
    Members added after an optimizer was built are not in it (as torch): build the
    optimizer once the model is complete. Calling a ModuleList is an error: iterate it in a
    forward, or use `Sequential` to run modules in order.

    Example:
        >>> layers = ModuleList([Linear(4, 4) for _ in range(3)])
        >>> _ = layers.append(ReLU())
        >>> len(layers), [name for name, _ in layers.named_parameters()][:2]
        (4, ['0.weight', '0.bias'])
    """

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _entries(self) -> list[Module]:
        return [module for module in self._modules.values() if module is not None]

    def append(self, module: Module) -> ModuleList:
        """Add `module` at the end; returns this list."""
        setattr(self, str(len(self._modules)), _module("ModuleList.append", module))
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        """Add each of `modules` at the end, in order; returns this list."""
        try:
            given = list(modules)
        except TypeError:
            raise TypeError(
                f"ModuleList.extend takes an iterable of Modules, got "
                f"{type(modules).__name__}; use append for a single module"
            ) from None
        checked = [_module("ModuleList.extend", module) for module in given]
        for module in checked:
            self.append(module)
        return self

    def insert(self, index: int, module: Module) -> None:
        """Put `module` before position `index` (as list.insert: beyond the end appends)."""
        entries = self._entries()
        entries.insert(index, _module("ModuleList.insert", module))
        renumber(self, self._modules, entries)

    def pop(self, index: int = -1) -> Module:
        """Remove and return the module at `index` (the last by default)."""
        module = self[index]
        del self[index]
        return module

    @overload
    def __getitem__(self, index: int) -> Module: ...

    @overload
    def __getitem__(self, index: slice) -> ModuleList: ...

    def __getitem__(self, index: Any) -> Module | ModuleList:
        entries = self._entries()
        if isinstance(index, slice):
            return ModuleList(entries[index])
        return entries[list_position(self, index, len(entries))]

    def __setitem__(self, index: int, module: Module) -> None:
        position = list_position(self, index, len(self._entries()))
        setattr(self, str(position), _module("ModuleList", module))

    def __delitem__(self, index: int | slice) -> None:
        entries = self._entries()
        if isinstance(index, slice):
            del entries[index]
        else:
            del entries[list_position(self, index, len(entries))]
        renumber(self, self._modules, entries)

    def __len__(self) -> int:
        return len(self._entries())

    def __iter__(self) -> Iterator[Module]:
        return iter(self._entries())

    def __iadd__(self, modules: Iterable[Module]) -> ModuleList:
        return self.extend(modules)

    def __add__(self, other: Iterable[Module]) -> ModuleList:
        return ModuleList([*self._entries(), *other])

    def forward(self, *args: Any, **kwargs: Any) -> NoReturn:
        refuse_call(self)


class ModuleDict(Module):
    """Modules held by string key, in insertion order, as torch's `nn.ModuleDict`: the keys
    are their names ("heads.cls.weight"). `[key]`, `[key] = module`, `del`, `in`, `len`,
    iteration over keys, `keys`/`values`/`items`, `update`, `pop` and `clear` work as a
    dict's; a key must be a string without '.' that is not a method name ("keys").
    Calling a ModuleDict is an error: pick its modules in a forward.

    Example:
        >>> heads = ModuleDict({"cls": Linear(8, 3), "box": Linear(8, 4)})
        >>> list(heads), "cls" in heads
        (['cls', 'box'], True)
    """

    def __init__(
        self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]] | None = None
    ) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        module = self._modules.get(key) if isinstance(key, str) else None
        if module is None:
            raise KeyError(f"ModuleDict has no module {key!r}; it holds {list(self.keys())}")
        return module

    def __setitem__(self, key: str, module: Module) -> None:
        setattr(self, check_key(self, key, self._modules), _module("ModuleDict", module))

    def __delitem__(self, key: str) -> None:
        self[key]  # the KeyError naming what is held
        delattr(self, key)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._modules.get(key) is not None

    def __len__(self) -> int:
        return len(self.keys())

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def keys(self) -> list[str]:
        """The keys, in insertion order."""
        return [key for key, module in self._modules.items() if module is not None]

    def values(self) -> list[Module]:
        """The modules, in insertion order."""
        return [self[key] for key in self.keys()]

    def items(self) -> list[tuple[str, Module]]:
        """(key, module) pairs, in insertion order."""
        return list(zip(self.keys(), self.values(), strict=True))

    def update(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]]) -> None:
        """Add or replace each (key, module) of a mapping or of an iterable of pairs."""
        pairs = list(modules.items()) if isinstance(modules, Mapping) else list(modules)
        for pair in pairs:
            if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
                raise TypeError(
                    f"ModuleDict.update: expected a mapping or (key, module) pairs, got an "
                    f"entry {pair!r}"
                )
            self[pair[0]] = pair[1]

    def pop(self, key: str) -> Module:
        """Remove the module under `key` and return it."""
        module = self[key]
        del self[key]
        return module

    def clear(self) -> None:
        """Remove every module."""
        for key in self.keys():
            del self[key]

    def forward(self, *args: Any, **kwargs: Any) -> NoReturn:
        refuse_call(self)
