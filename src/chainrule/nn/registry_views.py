"""Shared machinery of the list and dict containers (`ModuleList`, `ModuleDict`,
`ParameterList`, `ParameterDict`): each keeps its members in one of `Module`'s registries
(`_modules` or `_parameters`) under the names "0", "1", ... or the dict's keys, so that
parameters(), state_dict(), train(), to() and optimizers reach them as any other member.

`RegistryList` and `RegistryDict` hold the list and dict mechanics once; the containers
differ only in the registry they fill and in how they check an entry."""

from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, ClassVar, Generic, NoReturn, TypeVar

from chainrule.nn.module import Module, note_structure_change
from chainrule.nn.parameter import Parameter

EntryT = TypeVar("EntryT", Module, Parameter)


def list_position(owner: Module, index: Any, length: int) -> int:
    """`index` as a position in 0..length-1 (a negative one counts from the end)."""
    kind = type(owner).__name__
    try:
        position = operator.index(index)
    except TypeError:
        raise TypeError(
            f"{kind}: an index must be an int or a slice (as torch), got "
            f"{type(index).__name__} {index!r}"
        ) from None
    if not -length <= position < length:
        raise IndexError(f"{kind}: index {position} is out of range for {length} entries")
    return position % length


def renumber(owner: Module, registry: dict[str, Any], values: list[Any]) -> None:
    """Make `registry` hold `values` under "0", "1", ... in order (after an insert or a
    delete), as torch keeps a list's names contiguous, so state_dict keys match torch's."""
    registry.clear()
    note_structure_change()
    for position, value in enumerate(values):
        setattr(owner, str(position), value)


def delete_entries(owner: Module, registry: dict[str, Any], index: int | slice) -> None:
    """`del owner[index]` for a container numbered "0", "1", ...: the entry at `index` (or
    the slice's) removed from `registry`, the rest renumbered (entries set to None, which
    hold nothing, are passed over)."""
    entries = [entry for entry in registry.values() if entry is not None]
    if isinstance(index, slice):
        del entries[index]
    else:
        del entries[list_position(owner, index, len(entries))]
    renumber(owner, registry, entries)


def check_key(owner: Module, key: Any, registry: dict[str, Any]) -> str:
    """`key` if it can name a member of a dict container: a non-empty string without a dot
    that is not already an attribute (a method such as "keys", or "training")."""
    kind = type(owner).__name__
    if not isinstance(key, str):
        raise TypeError(f"{kind}: a key must be a string (as torch), got {type(key).__name__}")
    if not key or "." in key:
        raise KeyError(
            f"{kind}: key {key!r} must be a non-empty string without '.' (the dot separates "
            "names in state_dict keys)"
        )
    if key not in registry and hasattr(owner, key):
        raise KeyError(
            f"{kind}: key {key!r} is already an attribute of {kind} (a method or setting); "
            "choose another key"
        )
    return key


def refuse_call(owner: Module) -> NoReturn:
    """A container has no forward (as torch's NotImplementedError): say what to do."""
    kind = type(owner).__name__
    raise NotImplementedError(
        f"{kind} has no forward: it only holds and registers its entries. Use them in your "
        f"Module's forward (for layer in self.layers: x = layer(x)), or hold the layers in "
        "nn.Sequential to run them in order"
    )


class RegistryList(Module, Generic[EntryT]):
    """The list mechanics shared by `ModuleList` and `ParameterList`: entries live in one
    of Module's registries under "0", "1", ..., renumbered after every insert and delete.

    A subclass names its registry (`_registry`), checks (or wraps) each new entry
    (`_checked`), and declares the public methods with torch's argument names."""

    _kind: ClassVar[str]  # the container's name in error messages ("ModuleList")

    def _registry(self) -> dict[str, EntryT | None]:
        raise NotImplementedError(f"{type(self).__name__} must name its registry (_registry)")

    def _checked(self, operation: str, value: Any) -> EntryT:
        """`value` as an entry, or a TypeError naming `operation` ("ModuleList.insert")."""
        raise NotImplementedError(f"{type(self).__name__} must check its entries (_checked)")

    def _entries(self) -> list[EntryT]:
        return [entry for entry in self._registry().values() if entry is not None]

    def _append(self, value: Any) -> None:
        entry = self._checked(f"{self._kind}.append", value)
        setattr(self, str(len(self._registry())), entry)

    def _extend(self, given: Iterable[Any]) -> None:
        # Every entry is checked before the first is added: a bad one leaves the list as it was.
        checked = [self._checked(f"{self._kind}.extend", value) for value in given]
        for entry in checked:
            self._append(entry)

    def _insert(self, index: int, value: Any) -> None:
        entries = self._entries()
        entries.insert(index, self._checked(f"{self._kind}.insert", value))
        renumber(self, self._registry(), entries)

    def pop(self, index: int = -1) -> EntryT:
        """Remove and return the entry at `index` (the last by default)."""
        entry = self[index]
        del self[index]
        return entry

    def __getitem__(self, index: int) -> EntryT:
        # A subclass adds slicing, which returns a new container of its own class.
        entries = self._entries()
        return entries[list_position(self, index, len(entries))]

    def __setitem__(self, index: int, value: Any) -> None:
        position = list_position(self, index, len(self._entries()))
        setattr(self, str(position), self._checked(self._kind, value))

    def __delitem__(self, index: int | slice) -> None:
        delete_entries(self, self._registry(), index)

    def __len__(self) -> int:
        return len(self._entries())

    def __iter__(self) -> Iterator[EntryT]:
        return iter(self._entries())

    def forward(self, *args: Any, **kwargs: Any) -> NoReturn:
        refuse_call(self)


class RegistryDict(Module, Generic[EntryT]):
    """The dict mechanics shared by `ModuleDict` and `ParameterDict`: entries live in one
    of Module's registries under their keys, in insertion order.

    A subclass names its registry (`_registry`), checks (or wraps) each new entry
    (`_checked`), and declares `__init__` and `update` with torch's argument names."""

    _kind: ClassVar[str]  # the container's name in error messages ("ModuleDict")
    _entry_noun: ClassVar[str]  # what a missing key does not hold ("module")

    def _registry(self) -> dict[str, EntryT | None]:
        raise NotImplementedError(f"{type(self).__name__} must name its registry (_registry)")

    def _checked(self, operation: str, value: Any) -> EntryT:
        """`value` as an entry, or a TypeError naming `operation` ("ModuleDict")."""
        raise NotImplementedError(f"{type(self).__name__} must check its entries (_checked)")

    def _update(self, given: Mapping[str, Any] | Iterable[tuple[str, Any]], pairs: str) -> None:
        pairs_given = list(given.items()) if isinstance(given, Mapping) else list(given)
        for pair in pairs_given:
            if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
                raise TypeError(
                    f"{self._kind}.update: expected a mapping or {pairs} pairs, got an "
                    f"entry {pair!r}"
                )
            self[pair[0]] = pair[1]

    def __getitem__(self, key: str) -> EntryT:
        entry = self._registry().get(key) if isinstance(key, str) else None
        if entry is None:
            raise KeyError(
                f"{self._kind} has no {self._entry_noun} {key!r}; it holds {self.keys()}"
            )
        return entry

    def __setitem__(self, key: str, value: Any) -> None:
        name = check_key(self, key, self._registry())
        setattr(self, name, self._checked(self._kind, value))

    def __delitem__(self, key: str) -> None:
        self[key]  # the KeyError naming what is held
        delattr(self, key)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._registry().get(key) is not None

    def __len__(self) -> int:
        return len(self.keys())

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def keys(self) -> list[str]:
        """The keys, in insertion order."""
        return [key for key, entry in self._registry().items() if entry is not None]

    def values(self) -> list[EntryT]:
        """The entries, in insertion order."""
        return [self[key] for key in self.keys()]

    def items(self) -> list[tuple[str, EntryT]]:
        """(key, entry) pairs, in insertion order."""
        return [(key, self[key]) for key in self.keys()]

    def pop(self, key: str) -> EntryT:
        """Remove the entry under `key` and return it."""
        entry = self[key]
        del self[key]
        return entry

    def clear(self) -> None:
        """Remove every entry."""
        for key in self.keys():
            del self[key]

    def forward(self, *args: Any, **kwargs: Any) -> NoReturn:
        refuse_call(self)
