"""The array arguments of a step while it is traced: values a replay takes afresh each call.

Python code of the step that reads an argument's values (`if x.mean() > 0`,
`for _ in range(int(y.max()))`, `if y[0] == 1`, `scale = float(x.std())`) is not replayed:
the path it took, or the number it read, on the traced call would be reused on every replay,
whatever the batch holds. So the step sees each n-d array argument as an `ArrayArgument`
view: NumPy's element-wise functions and reductions called by the step's own code give
`ArrayArgument`s too (0-d for a reduction or a single element), and turning one into a
Python value (`bool()`, `int()`, `float()`, `.item()`, an index) is noted in the trace's
`reads`. Such a trace holds for its arguments' values only: compile replays it while every
array argument holds the same bytes (full-batch training), and traces the step again (an
eager run) on other values. chainrule's own code (an op checking its labels) computes on
plain arrays, and its reads are not noted: they are repeated by the replay.
"""

from __future__ import annotations

import os
import sys
from types import FrameType
from typing import Any

import numpy as np

from chainrule.modes import STATE, CompileError, user_frame
from chainrule.tensor import Tensor

_NUMPY_DIR = os.path.dirname(os.path.abspath(np.__file__))
_CHAINRULE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def called_by_the_step(skip: int = 1) -> bool:
    """Whether the innermost caller outside NumPy (and this module) is not chainrule's code;
    `skip`: how many calls up to start (past the chainrule functions that asked)."""
    frame: FrameType | None = sys._getframe(skip)
    while frame is not None and (
        frame.f_code.co_filename.startswith(_NUMPY_DIR) or frame.f_code.co_filename == __file__
    ):
        frame = frame.f_back
    return frame is not None and not frame.f_code.co_filename.startswith(_CHAINRULE_DIR)


def _plain(value: Any) -> Any:
    if isinstance(value, ArrayArgument):
        return value.view(np.ndarray)
    if isinstance(value, tuple):
        return tuple(map(_plain, value))
    return value


class ArrayArgument(np.ndarray):
    """An array argument (or a value the step computed from one with NumPy) while the step is
    traced: used in chainrule ops it is the argument; read into Python it would be frozen at
    the traced call's values, so that read raises CompileError."""

    position: int = 0
    reads: list[str] | None = None  # the trace's notes of the step's reads (shared)
    # Not an argument: a traced tensor's values (`t.numpy()`), which change at every call
    # and which no condition on the arguments can pin: a read of them is refused.
    tensor_shape: tuple[int, ...] | None = None
    plain_numpy = True  # a Tensor made of it holds a plain ndarray view (`placement`)

    def __array_finalize__(self, obj: Any) -> None:
        self.position = getattr(obj, "position", 0)
        self.reads = getattr(obj, "reads", None)
        self.tensor_shape = getattr(obj, "tensor_shape", None)

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        out = kwargs.get("out")
        if out is not None:
            kwargs["out"] = _plain(out)
        result = getattr(ufunc, method)(*map(_plain, inputs), **kwargs)
        if out is not None:  # NumPy returns the `out` arrays themselves
            outputs = out if isinstance(out, tuple) else (out,)
            return outputs[0] if len(outputs) == 1 else outputs
        if STATE.tracer is None or not called_by_the_step():
            return result
        return self._taint(result)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        # NumPy's other functions (take, where, nonzero, einsum, histogram): their arrays
        # are marked as the ufuncs' are (Python numbers they return, as array_equal's bool,
        # are not: README).
        result = super().__array_function__(func, types, args, kwargs)
        if STATE.tracer is None or not called_by_the_step():
            return result
        return self._taint(result)

    def _taint(self, result: Any) -> Any:
        if isinstance(result, (tuple, list)):
            return type(result)(map(self._taint, result))
        if isinstance(result, (np.ndarray, np.generic)):
            tainted = np.asarray(result).view(ArrayArgument)
            tainted.position = self.position
            tainted.reads = self.reads
            tainted.tensor_shape = self.tensor_shape
            return tainted
        return result

    def _note(self, how: str) -> None:
        """Note that the step read this value into Python with `how` (refused for a traced
        tensor's values)."""
        if STATE.tracer is None or not called_by_the_step():
            return
        if self.tensor_shape is not None:
            raise CompileError(
                f"compile: the step read into Python, with {how} ({user_frame()}), values "
                f"computed from .numpy() of a traced tensor of shape {self.tensor_shape} (or its "
                ".data); "
                "Python code is not replayed, so every replay would reuse the traced "
                "call's path or number. Compute with chainrule ops instead, or return the "
                "tensor and read it after the call"
            )
        if self.reads is not None:
            self.reads.append(f"argument {self.position} read with {how} at {user_frame()}")

    def __bool__(self) -> bool:
        self._note("bool() (an if or a while)")
        return bool(self.view(np.ndarray))

    def __float__(self) -> float:
        self._note("float()")
        return float(self.view(np.ndarray))

    def __int__(self) -> int:
        self._note("int()")
        return int(self.view(np.ndarray))

    def __index__(self) -> int:
        self._note("an index (range(), a slice)")
        return self.view(np.ndarray).__index__()

    def __complex__(self) -> complex:
        self._note("complex()")
        return complex(self.view(np.ndarray))

    def item(self, *args: Any) -> Any:
        self._note("item()")
        return self.view(np.ndarray).item(*args)

    def tolist(self) -> Any:
        self._note("tolist()")
        return self.view(np.ndarray).tolist()

    def __getitem__(self, index: Any) -> Any:
        value = super().__getitem__(index)
        if isinstance(value, np.generic) and STATE.tracer is not None and called_by_the_step():
            return self._taint(value)  # an element: kept an array, so an `if` on it is seen
        return value

    def __iter__(self) -> Any:
        return (self[index] for index in range(len(self)))


def guard_array_arguments(args: tuple[Any, ...], reads: list[str]) -> tuple[Any, ...]:
    """`args` with each NumPy array of numbers of 1 or more dimensions replaced by an
    `ArrayArgument` view of it, whose reads into Python are appended to `reads`."""
    guarded = list(args)
    for position, value in enumerate(args):
        if type(value) is np.ndarray and value.ndim and value.dtype.kind in "biuf":
            view = value.view(ArrayArgument)
            view.position = position
            view.reads = reads
            guarded[position] = view
    return tuple(guarded)


def separate_aliases(
    args: tuple[Any, ...], arrays: list[np.ndarray | None]
) -> tuple[tuple[Any, ...], list[np.ndarray | None]]:
    """`args` and their `arrays` with each argument that is the same array as an earlier one
    (the same object, or the same view of the same memory) replaced by a copy for the trace:
    the trace tells arguments apart by their arrays, and binding both to one would make
    every replay read that one for both, though later calls pass two different arrays."""
    guarded, separate = list(args), list(arrays)
    seen: set[tuple[Any, ...]] = set()
    for position, array in enumerate(arrays):
        if array is None:
            continue
        address = array.__array_interface__["data"][0]
        key = (address, array.shape, array.strides, array.dtype)
        if key not in seen:
            seen.add(key)
            continue
        copy = array.copy()
        separate[position] = copy
        tensor = not isinstance(args[position], np.ndarray)
        guarded[position] = Tensor.from_numpy(copy) if tensor else copy
    return tuple(guarded), separate
