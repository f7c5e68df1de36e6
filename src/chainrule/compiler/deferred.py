"""Values held elsewhere (on an XLA device) for objects the user sees: a `Deferral` swaps
each such object's class for a generated subclass whose chosen attributes first flush, copying
the pending values back into the host arrays, and restore the original classes.

The engine reads `tensor._data`, a slot, everywhere; a property there would slow every eager
op. The swap costs eager code nothing: while nothing is deferred no object has a flushing
class, and the first read of a deferred object's attribute ends the deferral for all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from chainrule.backends import dispatch_through_numpy, is_recording

_CLASSES: dict[tuple[type, tuple[str, ...]], type] = {}
"""The flushing subclass made for (original class, attribute names)."""

_ORIGINAL: dict[type, type] = {}
"""Each flushing subclass's original class."""

_ACTIVE: list[Deferral] = []
"""The one deferral in force, if any: a new one flushes it first."""


def flush() -> None:
    """Copy every value held on a device back into the arrays the user sees (the arrays of
    `.data`, `.grad`, optimizer state and flat buffers). Any read of those objects does it
    by itself; call it before reading an ndarray taken from `.data` before the calls."""
    for deferral in list(_ACTIVE):
        deferral.flush()


def _flush_for(owner: Any) -> None:
    flush()
    original = _ORIGINAL.get(type(owner))
    if original is not None:  # a deferral that failed to restore it: never recurse
        owner.__class__ = original


def _flushing_attribute(name: str) -> property:
    def get(self: Any) -> Any:
        _flush_for(self)
        return getattr(self, name)

    def set_(self: Any, value: Any) -> None:
        _flush_for(self)
        setattr(self, name, value)

    def delete(self: Any) -> None:
        _flush_for(self)
        delattr(self, name)

    return property(get, set_, delete, f"`{name}`, after the deferred values are flushed")


def _reduce_ex(self: Any, protocol: Any) -> Any:
    """Pickling and copy.deepcopy see the flushed object, of its own class."""
    _flush_for(self)
    return self.__reduce_ex__(protocol)


def flushing_class(cls: type, names: tuple[str, ...]) -> type:
    """`cls`'s subclass (same layout, no new slots) whose attributes `names` and whose
    pickling flush first; made once per class."""
    key = (cls, names)
    made = _CLASSES.get(key)
    if made is None:
        namespace: dict[str, Any] = {
            "__slots__": (),
            "__module__": cls.__module__,
            "__qualname__": cls.__qualname__,
            "__reduce_ex__": _reduce_ex,
        }
        namespace.update({name: _flushing_attribute(name) for name in names})
        made = _CLASSES[key] = type(cls)(cls.__name__, (cls,), namespace)
        _ORIGINAL[made] = cls
    return made


class Deferral:
    """Objects whose current values live elsewhere until `flush()`, which restores their
    classes and the host arrays' write flag, then runs `write_back` (at most once)."""

    def __init__(self, write_back: Callable[[], None]) -> None:
        flush()
        self.active = True
        self._write_back = write_back
        self._objects: list[tuple[Any, type]] = []
        self._locked: list[np.ndarray] = []
        _ACTIVE.append(self)

    def lock(self, arrays: Iterable[Any]) -> None:
        """Make `arrays` (the host copies of deferred values) read-only until the flush, so
        a write through a reference kept from before raises instead of being lost."""
        for array in arrays:
            if isinstance(array, np.ndarray) and array.flags.writeable:
                array.flags.writeable = False
                self._locked.append(array)

    def hold(self, objects: Iterable[Any], names: tuple[str, ...]) -> None:
        """Give each of `objects` (once) the flushing class of its class for `names`."""
        for obj in objects:
            cls = type(obj)
            if cls in _ORIGINAL:
                continue
            made = flushing_class(cls, names)
            if is_recording(obj):  # `namespace` matches types exactly: a Tensor stays one
                dispatch_through_numpy(made)
            obj.__class__ = made
            self._objects.append((obj, cls))

    def flush(self) -> None:
        if not self.active:
            return
        self.active = False
        if self in _ACTIVE:
            _ACTIVE.remove(self)
        try:
            for obj, cls in self._objects:
                obj.__class__ = cls
            # A view can be made writeable again only after the array owning its memory.
            for array in sorted(self._locked, key=lambda array: array.base is not None):
                array.flags.writeable = True
        finally:
            self._objects, self._locked = [], []
        self._write_back()


__all__ = ["Deferral", "flush", "flushing_class"]
