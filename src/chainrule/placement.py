"""Where an array lives: its library and device (`Device`), moving arrays between them, and
the check that one op's arrays share a device. NumPy is "cpu"; CuPy arrays are "cuda:N";
the arrays of any other array API library (JAX, array_api_strict) are named by library and
device. The engine and the Tensor methods (`chainrule.devices`) build on these.
"""

from __future__ import annotations

import importlib
import warnings
from types import ModuleType
from typing import Any

import numpy as np

from chainrule.backends import module_name, namespace, to_numpy
from chainrule.dtypes import (
    UNSEEN,
    MixedLibraries,
    check_dtype,
    check_exact_integers,
    is_floating,
    namespace_dtype,
    numpy_dtype,
    remember_promotion,
)
from chainrule.primitives.elementwise import Cast

CUDA_INSTALL = "pip install 'chainrule[cuda]'"
"""How to get CuPy, chainrule's GPU arrays."""


class Device:
    """An array library and one of its devices: `Device("numpy")` is "cpu", CuPy's GPU 0 is
    "cuda:0", an array_api_strict device reads "array_api_strict:device1". Compares equal to
    its name, so `t.device == "cpu"` works, as with torch.device."""

    __slots__ = ("library", "native")

    def __init__(self, library: str, native: Any = None) -> None:
        self.library = library  # "numpy", "cupy", "jax", "array_api_strict", ...
        self.native = native  # the library's own device object (None for NumPy)

    def __str__(self) -> str:
        if self.library == "numpy":
            return "cpu"
        if self.library == "cupy":
            return f"cuda:{getattr(self.native, 'id', 0)}"
        name = str(self.native)  # array_api_strict.Device('device1') reads device1
        if name.count("'") == 2:
            name = name.split("'")[1]
        return f"{self.library}:{name}"

    def __repr__(self) -> str:
        return f"device({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return str(self) == other
        if isinstance(other, Device):
            return str(self) == str(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(str(self))


CPU = Device("numpy")


def library_of(array: Any) -> str:
    """The short name of `array`'s library: numpy, cupy, jax, array_api_strict, ..."""
    if type(array) is np.ndarray:
        return "numpy"
    return module_name(namespace(array)).removesuffix(".numpy")


def device_of(array: Any) -> Device:
    """Where `array` lives."""
    if type(array) is np.ndarray or isinstance(array, (np.generic, int, float, bool)):
        return CPU
    import array_api_compat

    return Device(library_of(array), array_api_compat.device(array))


def device_of_tensor(tensor: Any) -> Device:
    """Where the values live: "cpu" (NumPy), "cuda:N" (CuPy), or another array API library
    and its device ("array_api_strict:device1"); compares equal to its name."""
    return device_of(tensor.data)


def is_foreign(data: Any) -> bool:
    """True for an array of another array API library than NumPy (CuPy, JAX,
    array_api_strict, ...), which a Tensor keeps in its library. PyTorch tensors are read
    through NumPy as before (chainrule does not compute on them)."""
    if type(data) is np.ndarray or isinstance(data, (np.generic, list, tuple, int, float)):
        return False
    if getattr(data, "plain_numpy", False):  # compile's traced arguments: held as ndarrays
        return False
    try:
        import array_api_compat
    except ImportError:  # pragma: no cover - NumPy data needs no adapter
        return False
    return array_api_compat.is_array_api_obj(data) and not array_api_compat.is_torch_array(data)


def tensor_array(data: Any, dtype: Any | None) -> Any:
    """The array a new Tensor holds: float arrays keep their dtype (NumPy's are shared, not
    copied), Python numbers and integer data become float32 unless `dtype` says otherwise
    (integers not exact in float32 are refused); arrays of another library stay in it, on
    their device."""
    if type(data) is not np.ndarray and is_foreign(data):
        return foreign_array(data, dtype)
    if dtype is not None:
        target = np.dtype(dtype)
        check_dtype("tensor", target)
        return np.asarray(data, dtype=target)
    from_numpy = isinstance(data, (np.ndarray, np.generic))
    array = np.asarray(data)
    if array.dtype.kind in "biu":
        return _exact_float32(array)
    check_dtype("tensor", array.dtype)
    return array if from_numpy else array.astype(np.float32)


def _exact_float32(array: np.ndarray) -> np.ndarray:
    """Integer or bool data as the float32 a tensor makes of it by default, refused where a
    value would round (int64 past 2**24: a silent wrong value), naming the dtype to ask for."""
    converted = array.astype(np.float32)
    if array.dtype.kind in "iu":
        check_exact_integers(
            array,
            converted,
            "tensor",
            f"pass dtype=np.{array.dtype} to keep them as integers (constants, as torch.tensor "
            "keeps integer data), dtype=np.float64 for floats exact to 2**53, or "
            "dtype=np.float32 to accept the rounding",
        )
    return converted


def refuse_stacking(value: Any) -> Any:
    """`value`, unless it is a list or tuple holding arrays or tensors of 1 or more dimensions
    (numbers and 0-d arrays are fine): as an op's or a layer's input NumPy would stack it into
    one array with a new leading axis (a DataLoader batch, a tuple, passed whole to a layer
    gave a result of shape (1, ...) silently), where PyTorch refuses a tuple.
    `chainrule.tensor(...)` still stacks on purpose, as np.array."""
    if isinstance(value, (list, tuple)) and any(getattr(item, "ndim", 0) for item in value):
        raise TypeError(
            f"expected an array or tensor, got a {type(value).__name__} of {len(value)} "
            "arrays or tensors, which would be stacked into one with a new leading axis; "
            "pass one array or tensor (a DataLoader batch is a tuple: unpack it, "
            "`x, y = batch`), or stack them on purpose (chainrule.stack, chainrule.tensor)"
        )
    return value


def foreign_array(data: Any, dtype: Any | None) -> Any:
    """The array a new Tensor holds for `data` of another library, kept in that library and
    on its device, with NumPy's rules: a float array keeps its dtype (shared, not copied),
    integers and booleans become float32 unless `dtype` says otherwise."""
    xp = namespace(data)
    if dtype is not None:
        target = numpy_dtype(dtype)
        check_dtype("tensor", target)
        return xp.astype(data, namespace_dtype(xp, target), copy=False)
    own = numpy_dtype(data.dtype)
    if own.kind in "biu":
        if own.kind != "b":
            _exact_float32(np.asarray(to_numpy(data)))
        return xp.astype(data, namespace_dtype(xp, np.float32))
    check_dtype("tensor", own)
    return data


def promote_inputs(op: str, key: tuple[Any, ...], entry: Any, inputs: tuple[Any, ...]) -> Any:
    """The inputs of an op whose PROMOTIONS entry under `key` is `entry` (not None): unseen,
    a float dtype that its integer inputs take, or `MixedLibraries` (the devices checked
    first)."""
    if entry is UNSEEN:
        entry = remember_promotion(key)
    if type(entry) is MixedLibraries:
        check_same_device(op, [x.data for x in inputs])
        entry = entry.target
    if entry is None:
        return inputs
    if entry.kind != "f":  # int64 for an integer sum (astype converts only to floats)
        return tuple(type(x)._apply(Cast, (x,), {"dtype": entry}) for x in inputs)
    return tuple(x if numpy_dtype(x.dtype).kind == "f" else x.astype(entry) for x in inputs)


def check_same_device(op: str, arrays: Any) -> None:
    """Refuse arrays of two libraries or devices in one op, naming both (as PyTorch's
    "Expected all tensors to be on the same device")."""
    devices: list[Device] = []
    for array in arrays:
        device = device_of(array)
        if device not in devices:
            devices.append(device)
    if len(devices) > 1:
        first, second = devices[:2]
        raise TypeError(
            f"{op}: expected all tensors on the same device, but found at least two: "
            f"{first} and {second}; move them to one first, e.g. x.to(y.device)"
        )


def forward(primitive: Any, arrays: list[Any], params: dict[str, Any]) -> tuple[Any, Any, Any]:
    """`primitive`'s forward on arrays of another library than NumPy (CuPy, JAX, ...): the
    arrays checked to share one device (else an error naming both), the NumPy arrays in
    `params` (index arrays, masks, class targets, also inside tuples) moved there, as
    PyTorch's indexing takes CPU indices for a GPU tensor, NumPy dtypes given as the
    library's own where its dtypes are not NumPy's (array_api_strict), and a result computed
    in NumPy refused (a rule not yet written for the array API standard) rather than leave
    the device. Returns (out, saved, the params it ran with)."""
    check_same_device(primitive.name, arrays)
    if params:
        device = device_of(arrays[0])
        own_dtypes = not isinstance(arrays[0].dtype, np.dtype)
        params = {key: _value_like(value, device, own_dtypes) for key, value in params.items()}
    out, saved = primitive.forward(*arrays, **params)
    if isinstance(out, (np.ndarray, np.generic)):
        raise TypeError(
            f"{primitive.name}: its rule computed a NumPy array from {device_of(arrays[0])} "
            "inputs; the rule does not follow the array API standard yet, so it cannot run "
            "there: use NumPy tensors (t.cpu()) for this op"
        )
    return out, saved, params


def result_array(op: str, out: Any, arrays: list[Any]) -> Any:
    """The result of an op whose first input is NumPy's, when it is not an ndarray: a NumPy
    scalar as a 0-d ndarray; another library's array (a later input's library answered)
    refused when the inputs are on two devices."""
    if isinstance(out, np.generic):
        return np.asarray(out)
    if is_foreign(out):
        check_same_device(op, arrays)
        return out
    return np.asarray(out)


def _value_like(value: Any, device: Device, own_dtypes: bool) -> Any:
    if type(value) is np.ndarray:
        return move(value, device)
    if isinstance(value, tuple):
        return tuple(_value_like(item, device, own_dtypes) for item in value)
    if own_dtypes and isinstance(value, np.dtype):
        return namespace_dtype(_namespace_of_library(device.library), value)
    return value


def cuda_problem() -> str | None:
    """Why CuPy arrays cannot be made here (CuPy missing, or no GPU), or None."""
    try:
        cupy = importlib.import_module("cupy")
    except ImportError:
        return f"CuPy is not installed; install it with {CUDA_INSTALL}"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as error:  # CuPy's CUDARuntimeError: no driver
        return f"CuPy found no CUDA GPU ({error}); run on a machine with an NVIDIA GPU"
    if count == 0:
        return "CuPy found no CUDA GPU; run on a machine with an NVIDIA GPU"
    return None


def _cupy(index: int) -> Any:
    problem = cuda_problem()
    if problem is not None:
        raise RuntimeError(f"to('cuda:{index}'): {problem}")
    return importlib.import_module("cupy")


def move(array: Any, target: Any) -> Any:
    """`array` on `target`: "cpu" or the numpy module (NumPy), "cuda" or "cuda:N" (CuPy), a
    `Device`, an array library's namespace (array_api_strict, jax.numpy: its default
    device) or a device object of an array API library (array_api_strict.Device("device1"),
    a JAX device). The values are copied unless `array` is there already."""
    if isinstance(target, Device):
        target = str(target) if target.library in ("numpy", "cupy") else target.native
    if isinstance(target, str):
        return _move_to_named(array, target)
    if isinstance(target, ModuleType):
        if target is np or target.__name__ in ("numpy", "array_api_compat.numpy"):
            return _to_cpu(array)
        if library_of(array) == module_name(target).removesuffix(".numpy"):
            return array
        return target.asarray(to_numpy(array))
    library = type(target).__module__.split(".")[0]
    if library in ("jaxlib", "jax"):
        import jax

        return jax.device_put(array if library_of(array) == "jax" else to_numpy(array), target)
    if library == "cupy":
        cupy = _cupy(target.id)
        with target:
            return cupy.asarray(to_numpy(array) if library_of(array) != "cupy" else array)
    xp = _namespace_of_library(library)
    if xp is None:
        raise TypeError(
            f"to: cannot place arrays on {target!r}; pass 'cpu', 'cuda', 'cuda:N', an array "
            "library's module (array_api_strict, jax.numpy) or one of its device objects"
        )
    if library_of(array) == library:
        return array.to_device(target)
    return xp.asarray(to_numpy(array), device=target)


def _namespace_of_library(library: str) -> Any:
    try:
        module = importlib.import_module(library)
    except ImportError:
        return None
    return module if hasattr(module, "__array_api_version__") else None


def _to_cpu(array: Any) -> np.ndarray:
    """`array` as a writable ndarray of its own: itself when it is one already."""
    return array if type(array) is np.ndarray else numpy_copy(array)


def _move_to_named(array: Any, name: str) -> Any:
    if name == "cpu":
        return _to_cpu(array)
    if name == "cuda" or (name.startswith("cuda:") and name[5:].isdigit()):
        index = int(name[5:]) if name != "cuda" else 0
        cupy = _cupy(index)
        with cupy.cuda.Device(index):
            if library_of(array) == "cupy" and array.device.id == index:
                return array
            return cupy.asarray(to_numpy(array))
    raise ValueError(
        f"to: unknown device {name!r}; pass 'cpu', 'cuda' or 'cuda:N' (N a GPU index), an "
        "array library's module (array_api_strict, jax.numpy) or one of its device objects"
    )


def numpy_copy(array: Any) -> np.ndarray:
    """The values of an array of another library as an ndarray of their own: copied from a
    GPU, and copied again where NumPy would share a CPU library's memory (DLPack)."""
    if library_of(array) == "cupy":
        return to_numpy(array)
    return np.array(to_numpy(array), copy=True)


def ones_like(array: Any) -> Any:
    """An array of ones in `array`'s shape, dtype, library and device."""
    if type(array) is np.ndarray:
        # np.ones's own two steps, in C (np.ones is a Python function): once per backward.
        ones = np.empty(array.shape, dtype=array.dtype)
        ones.fill(1)
        return ones
    return namespace(array).ones_like(array)


def like(value: Any, array: Any) -> Any:
    """`value` (a number, an array of `array`'s library or a NumPy array) as an array of
    `array`'s library, device and dtype; another library's array is refused by name, and
    values that are not real numbers (complex, strings, None) by their dtype, rather than
    cast (which would drop an imaginary part, or turn None into NaN)."""
    if type(array) is np.ndarray:
        return _real_numbers(value, array.dtype).astype(array.dtype, copy=False)
    xp = namespace(array)
    if is_foreign(value):
        check_same_device("backward", (value, array))
        return xp.astype(value, array.dtype, copy=False)
    values = _real_numbers(value, array.dtype).astype(numpy_dtype(array.dtype), copy=False)
    return xp.asarray(values, device=device_of(array).native)


def _real_numbers(value: Any, output_dtype: Any) -> np.ndarray:
    values = np.asarray(value)
    if values.dtype.kind not in "biuf":
        raise TypeError(
            f"backward: grad has dtype {values.dtype}, but a gradient must hold real numbers "
            f"(it is cast to the output's dtype, {output_dtype}); pass a float array of the "
            "output's shape"
        )
    return values


def all_finite(array: Any) -> bool:
    """Whether every value of a float array (of any library) is finite."""
    if type(array) is np.ndarray or not is_foreign(array):
        return bool(np.all(np.isfinite(array)))
    if not is_floating(array.dtype):
        return True
    xp = namespace(array)
    return bool(xp.all(xp.isfinite(array)))


def copy(array: Any) -> Any:
    """A copy of `array` in its library and on its device."""
    if type(array) is np.ndarray:
        return array.copy()
    return namespace(array).asarray(array, copy=True)


__all__ = [
    "CPU",
    "CUDA_INSTALL",
    "Device",
    "all_finite",
    "check_same_device",
    "copy",
    "cuda_problem",
    "device_of",
    "device_of_tensor",
    "foreign_array",
    "forward",
    "is_foreign",
    "library_of",
    "like",
    "move",
    "numpy_copy",
    "ones_like",
    "result_array",
    "tensor_array",
    "to_numpy",
]


def move_keeping_dtype(op: str, array: Any, target: Any) -> Any:
    """`move(array, target)`, refused when the target library would change a float dtype:
    JAX without jax_enable_x64 makes float64 float32 with only a warning. (An integer
    counter held as int32 there loses nothing, so integers are let through.)"""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # JAX's truncation warning: checked just below
        moved = move(array, target)
    dtype = np.dtype(numpy_dtype(array.dtype))
    if dtype.kind == "f":
        check_dtype_kept(op, moved, dtype)
    return moved


def check_dtype_kept(op: str, result: Any, dtype: np.dtype[Any]) -> None:
    """Refuse `result` (a moved or converted array) unless it still has `dtype`."""
    if np.dtype(numpy_dtype(result.dtype)) != dtype:
        raise TypeError(
            f"{op}: {library_of(result)} keeps this {dtype.name} array as "
            f"{numpy_dtype(result.dtype)}; nothing was changed. JAX holds 64-bit numbers "
            "only with jax.config.update('jax_enable_x64', True), set before creating arrays"
        )


def dtype_named_by(device: Any) -> np.dtype[Any] | None:
    """The numeric dtype that a `.to(...)` argument names (np.float64, "float64", torch's
    torch.float64), or None for a device: torch's `x.to(dtype)` spelling, which chainrule's
    `to` (devices only) refuses with a pointer to `astype`."""
    if isinstance(device, (type, np.dtype)):
        candidate: Any = device
    elif device is None or (isinstance(device, str) and device.startswith(("cpu", "cuda"))):
        return None
    else:  # "float64", torch.float64
        candidate = str(device).removeprefix("torch.")
    try:
        dtype = np.dtype(candidate)
    except TypeError:
        return None
    return dtype if dtype.kind in "biufc" else None
