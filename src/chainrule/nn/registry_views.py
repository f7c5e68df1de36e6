"""Shared machinery of the list and dict containers (`ModuleList`, `ModuleDict`,
`ParameterList`, `ParameterDict`): each keeps its members in one of `Module`'s registries
(`_modules` or `_parameters`) under the names "0", "1", ... or the dict's keys, so that
parameters(), state_dict(), train(), to() and optimizers reach them as any other member."""

from __future__ import annotations

import operator
from typing import Any, NoReturn

from chainrule.nn.module import Module, note_structure_change


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
