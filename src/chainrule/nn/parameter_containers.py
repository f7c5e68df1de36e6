"""`ParameterList` and `ParameterDict`: Parameters held by position or by key, registered
as torch's (state_dict keys "scales.0", "gains.alpha"), with no forward of their own."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NoReturn, overload

import numpy as np

from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.nn.registry_views import check_key, list_position, refuse_call, renumber
from chainrule.placement import is_foreign
from chainrule.tensor import Tensor


def _parameter(owner: str, value: Any) -> Parameter:
    """`value` as a Parameter: one is kept as it is; a Tensor's or an array's values become
    a new Parameter (as torch wraps a tensor), sharing a NumPy float array's memory."""
    if isinstance(value, Parameter):
        return value
    if isinstance(value, Tensor):
        return Parameter(value.detach().data)
    if isinstance(value, (np.ndarray, np.generic)) or is_foreign(value):
        return Parameter(value)
    raise TypeError(
        f"{owner}: every entry must be a Parameter, a Tensor or an array, got "
        f"{type(value).__name__}; hold sub-modules in nn.ModuleList / nn.ModuleDict"
    )


class ParameterList(Module):
    """Parameters held in order, registered under "0", "1", ... as torch's
    `nn.ParameterList`. A Tensor or an array given as an entry is wrapped into a new
    Parameter (torch does the same for tensors): keep the Parameter the list holds
    (`plist[-1]`), not what you passed, to see what training changes.

    Indexable by int (negative counts from the end) or slice (a new ParameterList of the
    same Parameters), iterable and sized; `append`, `extend`, `insert`, `pop`, `+=`, item
    assignment and `del` keep the names contiguous. Calling it is an error.

    Example:
        >>> scales = ParameterList([np.ones(3, np.float32), np.zeros(2, np.float32)])
        >>> [name for name, _ in scales.named_parameters()], type(scales[0]).__name__
        (['0', '1'], 'Parameter')
    """

    def __init__(self, values: Iterable[Any] | None = None) -> None:
        super().__init__()
        if values is not None:
            self.extend(values)

    def _entries(self) -> list[Parameter]:
        return [value for value in self._parameters.values() if value is not None]

    def append(self, value: Any) -> ParameterList:
        """Add `value` (wrapped into a Parameter if it is not one) at the end."""
        setattr(self, str(len(self._parameters)), _parameter("ParameterList.append", value))
        return self

    def extend(self, values: Iterable[Any]) -> ParameterList:
        """Add each of `values` at the end, in order; returns this list."""
        if isinstance(values, (Tensor, np.ndarray)) or not isinstance(values, Iterable):
            raise TypeError(
                f"ParameterList.extend takes an iterable of Parameters, got "
                f"{type(values).__name__}; use append for a single one"
            )
        checked = [_parameter("ParameterList.extend", value) for value in values]
        for value in checked:
            self.append(value)
        return self

    def insert(self, index: int, value: Any) -> None:
        """Put `value` before position `index` (as list.insert: beyond the end appends)."""
        entries = self._entries()
        entries.insert(index, _parameter("ParameterList.insert", value))
        renumber(self, self._parameters, entries)

    def pop(self, index: int = -1) -> Parameter:
        """Remove and return the Parameter at `index` (the last by default)."""
        value = self[index]
        del self[index]
        return value

    @overload
    def __getitem__(self, index: int) -> Parameter: ...

    @overload
    def __getitem__(self, index: slice) -> ParameterList: ...

    def __getitem__(self, index: Any) -> Parameter | ParameterList:
        entries = self._entries()
        if isinstance(index, slice):
            return ParameterList(entries[index])
        return entries[list_position(self, index, len(entries))]

    def __setitem__(self, index: int, value: Any) -> None:
        position = list_position(self, index, len(self._entries()))
        setattr(self, str(position), _parameter("ParameterList", value))

    def __delitem__(self, index: int | slice) -> None:
        entries = self._entries()
        if isinstance(index, slice):
            del entries[index]
        else:
            del entries[list_position(self, index, len(entries))]
        renumber(self, self._parameters, entries)

    def __len__(self) -> int:
        return len(self._entries())

    def __iter__(self) -> Iterator[Parameter]:
        return iter(self._entries())

    def __iadd__(self, values: Iterable[Any]) -> ParameterList:
        return self.extend(values)

    def extra_repr(self) -> str:
        return ", ".join(
            f"({name}): {value.dtype} {value.shape}"
            for name, value in self._parameters.items()
            if value is not None
        )

    def forward(self, *args: Any, **kwargs: Any) -> NoReturn:
        refuse_call(self)


class ParameterDict(Module):
    """Parameters held by string key, in insertion order, as torch's `nn.ParameterDict`:
    the keys are their state_dict names. A Tensor or an array given as a value is wrapped
    into a new Parameter (as torch does for tensors). `[key]`, `[key] = value`, `del`,
    `in`, `len`, iteration over keys, `keys`/`values`/`items`, `update`, `pop` and `clear`
    work as a dict's; a key must be a string without '.' that is not a method name.

    Example:
        >>> gains = ParameterDict({"alpha": np.ones(1, np.float32)})
        >>> gains["beta"] = np.zeros(1, np.float32)
        >>> list(gains), type(gains["beta"]).__name__
        (['alpha', 'beta'], 'Parameter')
    """

    def __init__(self, values: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None):
        super().__init__()
        if values is not None:
            self.update(values)

    def __getitem__(self, key: str) -> Parameter:
        value = self._parameters.get(key) if isinstance(key, str) else None
        if value is None:
            raise KeyError(f"ParameterDict has no parameter {key!r}; it holds {self.keys()}")
        return value

    def __setitem__(self, key: str, value: Any) -> None:
        name = check_key(self, key, self._parameters)
        setattr(self, name, _parameter("ParameterDict", value))

    def __delitem__(self, key: str) -> None:
        self[key]  # the KeyError naming what is held
        delattr(self, key)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._parameters.get(key) is not None

    def __len__(self) -> int:
        return len(self.keys())

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def keys(self) -> list[str]:
        """The keys, in insertion order."""
        return [key for key, value in self._parameters.items() if value is not None]

    def values(self) -> list[Parameter]:
        """The Parameters, in insertion order."""
        return [self[key] for key in self.keys()]

    def items(self) -> list[tuple[str, Parameter]]:
        """(key, Parameter) pairs, in insertion order."""
        return [(key, self[key]) for key in self.keys()]

    def update(self, values: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> None:
        """Add or replace each (key, value) of a mapping or of an iterable of pairs."""
        pairs = list(values.items()) if isinstance(values, Mapping) else list(values)
        for pair in pairs:
            if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
                raise TypeError(
                    f"ParameterDict.update: expected a mapping or (key, value) pairs, got an "
                    f"entry {pair!r}"
                )
            self[pair[0]] = pair[1]

    def pop(self, key: str) -> Parameter:
        """Remove the Parameter under `key` and return it."""
        value = self[key]
        del self[key]
        return value

    def clear(self) -> None:
        """Remove every Parameter."""
        for key in self.keys():
            del self[key]

    def extra_repr(self) -> str:
        return ", ".join(f"({key}): {value.dtype} {value.shape}" for key, value in self.items())

    def forward(self, *args: Any, **kwargs: Any) -> NoReturn:
        refuse_call(self)
