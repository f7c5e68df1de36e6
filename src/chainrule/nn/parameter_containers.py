"""`ParameterList` and `ParameterDict`: Parameters held by position or by key, registered
as torch's (state_dict keys "scales.0", "gains.alpha"), with no forward of their own."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, overload

import numpy as np

from chainrule.nn.parameter import Parameter
from chainrule.nn.registry_views import RegistryDict, RegistryList
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


class ParameterList(RegistryList[Parameter]):
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

    _kind = "ParameterList"

    def __init__(self, values: Iterable[Any] | None = None) -> None:
        super().__init__()
        if values is not None:
            self.extend(values)

    def _registry(self) -> dict[str, Parameter | None]:
        return self._parameters

    def _checked(self, operation: str, value: Any) -> Parameter:
        return _parameter(operation, value)

    def append(self, value: Any) -> ParameterList:
        """Add `value` (wrapped into a Parameter if it is not one) at the end."""
        self._append(value)
        return self

    def extend(self, values: Iterable[Any]) -> ParameterList:
        """Add each of `values` at the end, in order; returns this list."""
        if isinstance(values, (Tensor, np.ndarray)) or not isinstance(values, Iterable):
            raise TypeError(
                f"ParameterList.extend takes an iterable of Parameters, got "
                f"{type(values).__name__}; use append for a single one"
            )
        self._extend(values)
        return self

    def insert(self, index: int, value: Any) -> None:
        """Put `value` before position `index` (as list.insert: beyond the end appends)."""
        self._insert(index, value)

    @overload
    def __getitem__(self, index: int) -> Parameter: ...

    @overload
    def __getitem__(self, index: slice) -> ParameterList: ...

    def __getitem__(self, index: Any) -> Parameter | ParameterList:
        if isinstance(index, slice):
            return ParameterList(self._entries()[index])
        return super().__getitem__(index)

    def __iadd__(self, values: Iterable[Any]) -> ParameterList:
        return self.extend(values)

    def extra_repr(self) -> str:
        return ", ".join(
            f"({name}): {value.dtype} {value.shape}"
            for name, value in self._parameters.items()
            if value is not None
        )


class ParameterDict(RegistryDict[Parameter]):
    """Parameters held by string key, as torch's `nn.ParameterDict`: the keys are their
    state_dict names. A Tensor or an array given as a value is wrapped into a new Parameter
    (as torch does for tensors). `[key]`, `[key] = value`, `del`, `in`, `len`, iteration
    over keys, `keys`/`values`/`items`, `update`, `pop` and `clear` work as a dict's; a key
    must be a string without '.' that is not a method name.

    Entries keep their insertion order, a plain dict's too; torch sorts the keys of a plain
    dict given to the constructor or `update` (an OrderedDict keeps its order), so there
    `parameters()` may list them in another order than here.

    Example:
        >>> gains = ParameterDict({"alpha": np.ones(1, np.float32)})
        >>> gains["beta"] = np.zeros(1, np.float32)
        >>> list(gains), type(gains["beta"]).__name__
        (['alpha', 'beta'], 'Parameter')
    """

    _kind = "ParameterDict"
    _entry_noun = "parameter"

    def __init__(self, values: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None):
        super().__init__()
        if values is not None:
            self.update(values)

    def _registry(self) -> dict[str, Parameter | None]:
        return self._parameters

    def _checked(self, operation: str, value: Any) -> Parameter:
        return _parameter(operation, value)

    def update(self, values: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> None:
        """Add or replace each (key, value) of a mapping or of an iterable of pairs."""
        self._update(values, pairs="(key, value)")

    def get(self, key: str, default: Any = None) -> Any:
        """The parameter under `key`, or `default` when there is none (as dict.get)."""
        entry = self._parameters.get(key) if isinstance(key, str) else None
        return default if entry is None else entry

    def setdefault(self, key: str, default: Any = None) -> Parameter | None:
        """The parameter under `key`; when there is none, `default` is added under it first
        (wrapped into a Parameter, as any value) and returned, as torch's; a None default
        adds nothing and returns None."""
        if key not in self and default is not None:
            self[key] = default
        return self._parameters.get(key)

    def extra_repr(self) -> str:
        return ", ".join(f"({key}): {value.dtype} {value.shape}" for key, value in self.items())
