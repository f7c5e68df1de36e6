"""Array backends: the array library a rule computes in.

Every primitive's forward and vjp take their namespace from their inputs,
`xp = namespace(x, y)`, and call only functions of the array API standard on it
(https://data-apis.org/array-api/latest/), so one rule runs on NumPy arrays, on CuPy arrays
(GPU), on JAX arrays (traced by `jax.jit` when compiling to XLA) and on `array_api_strict`
arrays (the test that keeps the rules inside the standard). NumPy 2's main namespace holds
the standard's names, so on NumPy `xp` is plain `numpy` and the rule costs what it did.

A chainrule Tensor also answers to `numpy`: NumPy hands its calls on Tensors to chainrule's
ops (`__array_ufunc__`, `__array_function__`), which is how a rule run on Tensors records
its own backward (gradients of gradients), whatever array the Tensors hold.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_NUMPY_TYPES: set[type] = {np.ndarray}
"""Types whose computations go through `numpy`: ndarrays and the types that implement
NumPy's protocols for themselves (chainrule's Tensor registers here: a one-way plug)."""

_SCALARS = (int, float, bool, np.generic)


def dispatch_through_numpy(cls: type) -> None:
    """Make `namespace` answer `numpy` for instances of `cls`, a type that implements NumPy's
    `__array_ufunc__` and `__array_function__` protocols (chainrule.Tensor)."""
    _NUMPY_TYPES.add(cls)


def is_recording(value: Any) -> bool:
    """True for a chainrule Tensor (or another registered type): a call on it is recorded,
    not a plain array computation."""
    cls = type(value)
    return cls is not np.ndarray and cls in _NUMPY_TYPES


def namespace(*values: Any) -> Any:
    """The array namespace `values` compute in, as `array_api_compat.array_namespace`:
    `numpy` for ndarrays, NumPy scalars, Python numbers, None and Tensors; for other arrays
    (CuPy, JAX, array_api_strict) the standard namespace of their library. Mixing two
    libraries is an error, as in the standard."""
    foreign: list[Any] = []
    for value in values:
        cls = type(value)
        if cls in _NUMPY_TYPES:
            if cls is not np.ndarray:
                return np  # a Tensor: numpy dispatches every call on it to its recorded op
            continue
        if value is None or isinstance(value, _SCALARS):
            continue
        foreign.append(value)
    if not foreign:
        return np
    return _foreign_namespace(foreign)


def _foreign_namespace(arrays: list[Any]) -> Any:
    try:
        import array_api_compat
    except ImportError:  # pragma: no cover - the extras install it
        raise TypeError(
            f"chainrule: arrays of type {type(arrays[0]).__name__} need the array API "
            "adapter: pip install 'chainrule[array-api]' (or the [xla] or [cuda] extra)"
        ) from None
    try:
        return array_api_compat.array_namespace(*arrays)
    except TypeError as error:
        kinds = sorted({type(array).__name__ for array in arrays})
        raise TypeError(
            f"chainrule: cannot compute with arrays of type {', '.join(kinds)}: {error}. "
            "Use arrays of one library (NumPy, CuPy, JAX or another array API library)"
        ) from None


def creation_device(array: Any) -> Any:
    """`array`'s device, for the `device=` of the standard's creation functions (xp.zeros,
    xp.arange, xp.eye, xp.asarray of host values) so that an array made beside it combines
    with it: array_api_strict on device1 and CuPy on a second GPU refuse to mix devices.
    None (the default device) for NumPy arrays, numbers, Tensors and traced JAX values."""
    if array is None or type(array) is np.ndarray or isinstance(array, _SCALARS):
        return None
    if is_recording(array):
        return None
    import array_api_compat

    try:
        return array_api_compat.device(array)
    except (AttributeError, TypeError, ValueError):  # no device: a traced JAX value
        return None


def is_numpy(xp: Any) -> bool:
    """True when `xp` is NumPy itself: the rules' fast paths (`out=`, ufunc methods)."""
    return xp is np


def to_numpy(array: Any) -> np.ndarray:
    """The values of an array of any backend as an ndarray (copied from a GPU)."""
    if type(array) is np.ndarray:
        return array
    if isinstance(array, np.ndarray):  # a subclass: a plain view (its base is the array's own)
        return np.asarray(array)
    if isinstance(array, _SCALARS):
        return np.asarray(array)
    get = getattr(array, "get", None)  # CuPy: device to host
    if get is not None and type(array).__module__.startswith("cupy"):
        return np.asarray(get())
    try:
        return np.from_dlpack(array)
    except (TypeError, RuntimeError, BufferError, AttributeError):
        return np.asarray(array)


def module_name(xp: Any) -> str:
    """A short name for a namespace, for error messages: numpy, jax.numpy, cupy, ..."""
    name = getattr(xp, "__name__", type(xp).__name__)
    return str(name).replace("array_api_compat.", "")


__all__ = [
    "dispatch_through_numpy",
    "is_numpy",
    "is_recording",
    "module_name",
    "namespace",
    "to_numpy",
]
