"""`ModuleList` and `ModuleDict`: sub-modules held by position or by key, registered as
torch's (parameters named "layers.0.weight", "heads.cls.bias"), with no forward of their own."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, overload

from chainrule.nn.module import Module
from chainrule.nn.registry_views import RegistryDict, RegistryList


def _module(owner: str, value: Any) -> Module:
    if not isinstance(value, Module):
        raise TypeError(
            f"{owner}: every entry must be a Module, got {type(value).__name__}; wrap "
            "functions in a Module subclass (activations: ReLU(), Tanh()), and hold "
            "Parameters in nn.ParameterList / nn.ParameterDict"
        )
    return value


class ModuleList(RegistryList[Module]):
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

    _kind = "ModuleList"

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _registry(self) -> dict[str, Module | None]:
        return self._modules

    def _checked(self, operation: str, value: Any) -> Module:
        return _module(operation, value)

    def append(self, module: Module) -> ModuleList:
        """Add `module` at the end; returns this list."""
        self._append(module)
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
        self._extend(given)
        return self

    def insert(self, index: int, module: Module) -> None:
        """Put `module` before position `index` (as list.insert: beyond the end appends)."""
        self._insert(index, module)

    @overload
    def __getitem__(self, index: int) -> Module: ...

    @overload
    def __getitem__(self, index: slice) -> ModuleList: ...

    def __getitem__(self, index: Any) -> Module | ModuleList:
        if isinstance(index, slice):
            return ModuleList(self._entries()[index])
        return super().__getitem__(index)

    def __iadd__(self, modules: Iterable[Module]) -> ModuleList:
        return self.extend(modules)

    def __add__(self, other: Iterable[Module]) -> ModuleList:
        return ModuleList([*self._entries(), *other])


class ModuleDict(RegistryDict[Module]):
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

    _kind = "ModuleDict"
    _entry_noun = "module"

    def __init__(
        self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]] | None = None
    ) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def _registry(self) -> dict[str, Module | None]:
        return self._modules

    def _checked(self, operation: str, value: Any) -> Module:
        return _module(operation, value)

    def update(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]]) -> None:
        """Add or replace each (key, module) of a mapping or of an iterable of pairs."""
        self._update(modules, pairs="(key, module)")
