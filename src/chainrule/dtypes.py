"""The dtypes a tensor may hold, and the exactness rule for integer values that become
floats: checked where data enters a tensor (construction, `.data =`)."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np


def check_dtype(op: str, dtype: np.dtype[Any]) -> None:
    """Refuse a dtype chainrule does not hold: floats up to float64 (which can require grad),
    and integers and booleans (constants)."""
    if dtype.kind in "biu" or (dtype.kind == "f" and dtype.itemsize <= 8):
        return
    raise TypeError(
        f"{op}: cannot make a tensor from data of dtype {dtype}; chainrule tensors hold "
        "float16, float32 or float64 (the dtypes that can require grad), or integers and "
        "booleans as constants: convert the data first, e.g. values.astype(np.float32)"
    )


def check_exact_integers(
    array: np.ndarray, converted: np.ndarray, op: str = "data", fix: str | None = None
) -> None:
    """Refuse integer values that `converted` (their float form) does not hold exactly: a
    ValueError naming `op`, the first such value, and `fix` (by default: convert them)."""
    with np.errstate(invalid="ignore", over="ignore"):
        back = converted.astype(array.dtype)
    inexact = np.flatnonzero(back != array)
    if inexact.size:
        first = inexact[0]
        if fix is None:
            fix = (
                f"convert them explicitly: .astype(np.float64) to adopt float64, or "
                f".astype(np.{converted.dtype}) to accept the rounding"
            )
        raise ValueError(
            f"{op}: the {array.dtype} values are not exact in {converted.dtype} "
            f"({array.flat[first]} would become {converted.flat[first]:.17g}); {fix}"
        )


def float_promotion(dtypes: list[np.dtype[Any]], float_result: bool | str) -> np.dtype[Any] | None:
    """The float dtype the integer and bool inputs of one primitive are converted to, or
    None to leave them: beside float inputs, those inputs' dtype (PyTorch's promotion: int64
    with float32 is float32, where NumPy gives float64); into a primitive whose result is a
    float (`float_result` True), float32, PyTorch's default dtype (NumPy gives float16 for
    bool and int8, float64 for int64). `float_result` a string of NumPy kinds ("bu"): a
    primitive whose integer result is int64 for inputs of those kinds (a sum of unsigned
    integers), so such inputs become int64. Integer tensors never require grad, so the
    conversion carries no gradient."""
    try:
        floats = [dtype for dtype in dtypes if dtype.kind == "f"]
    except AttributeError:  # array_api_strict's dtypes have no kind: read them as NumPy's
        dtypes = [numpy_dtype(dtype) for dtype in dtypes]
        floats = [dtype for dtype in dtypes if dtype.kind == "f"]
    if len(floats) == len(dtypes) or (not floats and not float_result):
        return None
    if floats:
        return np.result_type(*floats)
    if isinstance(float_result, str):
        as_int64 = any(dtype.kind in float_result for dtype in dtypes)
        return np.dtype(np.int64) if as_int64 else None
    return np.dtype(np.float32)


PROMOTIONS: dict[tuple[Any, ...], Any] = {}
"""`float_promotion` of the inputs seen so far, by key (float_result, *array types, *dtypes):
a recorded op looks its inputs up here instead of calling it (a few keys per program). The
array types come first so that two keys of different libraries differ before their dtypes
are compared (array_api_strict warns when its dtypes meet NumPy's)."""


UNSEEN: Any = object()
"""`PROMOTIONS.get(key, UNSEEN)` for a key not seen yet."""


NUMPY_FLOATS: frozenset[np.dtype[Any]] = frozenset(map(np.dtype, ("float16", "float32", "float64")))
"""The float dtypes a tensor may hold, as NumPy's dtype objects."""


class MixedLibraries(NamedTuple):
    """The PROMOTIONS entry of a key whose first input is a NumPy array and a later one is
    not: NumPy would read the other through `__array__` and answer on the CPU without a word,
    so such an op first checks its inputs share a device (`placement.promote_inputs`)."""

    target: np.dtype[Any] | None


def remember_promotion(key: tuple[Any, ...]) -> np.dtype[Any] | MixedLibraries | None:
    """`float_promotion(dtypes, float_result)` for key = (float_result, *array types,
    *dtypes), kept in PROMOTIONS (as `MixedLibraries` where the array types mix NumPy first
    with another library)."""
    inputs = (len(key) - 1) // 2
    target = float_promotion(list(key[1 + inputs :]), key[0])
    types = key[1 : 1 + inputs]
    mixed = types[0] is np.ndarray and types.count(np.ndarray) != inputs
    entry = PROMOTIONS[key] = MixedLibraries(target) if mixed else target
    return entry


# --- array backends (issue 16): dtypes of any array API library
def numpy_dtype(dtype: Any) -> np.dtype[Any]:
    """`dtype` of any array library as NumPy's: NumPy, CuPy and JAX dtypes already are;
    an array API dtype without NumPy's (array_api_strict.float32) is read by its name."""
    if isinstance(dtype, np.dtype):
        return dtype
    try:
        converted: np.dtype[Any] = np.dtype(dtype)
        return converted
    except TypeError:
        return np.dtype(str(dtype).rsplit(".", 1)[-1])


def is_floating(dtype: Any) -> bool:
    """Whether `dtype`, of any array library, is a real floating dtype (can require grad)."""
    return numpy_dtype(dtype).kind == "f"


def namespace_dtype(xp: Any, dtype: Any) -> Any:
    """The dtype of namespace `xp` named as `dtype` (a NumPy dtype or another library's):
    `xp.float32` for float32; NumPy's own for NumPy."""
    name = numpy_dtype(dtype).name
    return np.dtype(name) if xp is np else getattr(xp, name)
