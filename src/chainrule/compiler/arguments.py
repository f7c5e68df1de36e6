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

The mark follows the values out of NumPy: every ufunc and NumPy function called on a marked
array gives marked arrays (`np.sort`, `np.bincount`, `np.copy`, ...), and so do `np.asarray`,
`np.array`, `np.ascontiguousarray` and `.view(np.ndarray)` (`converting`). What cannot carry
a mark is a read: a Python value a NumPy function returns (`np.count_nonzero`,
`np.array_equal`), `.tobytes()`, `.data`, an `out=` or in-place write into a plain array, and
the shape of an array whose shape came from the values (`np.unique`, `np.flatnonzero`, a
boolean mask, `np.bincount`) read by `len()`, `.shape` or `.size`. A Tensor argument's
`.numpy()` and `.data` are marked views too (`Tracer.numpy_of`); a 0-d float argument's
reads are refused (`scalar`).
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
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


def called_directly_by_the_step() -> bool:
    """Whether the caller of the function asking is the step's own code (not NumPy's, whose
    functions convert their inputs with `np.asarray` and expect plain arrays back)."""
    name = sys._getframe(2).f_code.co_filename
    return not name.startswith(_NUMPY_DIR) and not name.startswith(_CHAINRULE_DIR)


SETTINGS_READ = "read as the settings of"
"""Marks a read made by an op (`ArrayArgument.note_setting`), not by the step's own code."""

_asarray = np.asarray  # NumPy's own, not `converting`'s
_view = np.ndarray.view  # the plain method: `ArrayArgument.view` marks what the step views

# NumPy functions whose result's shape depends on their input's values, not only its shape.
_SHAPE_FROM_VALUES_NAMES = (
    "unique unique_all unique_counts unique_inverse unique_values flatnonzero nonzero "
    "argwhere extract compress bincount trim_zeros setdiff1d intersect1d union1d setxor1d "
    "histogram histogram_bin_edges histogram2d histogramdd delete insert repeat where pad "
    "resize tile broadcast_to full_like"
)
_SHAPE_FROM_VALUES = frozenset(_SHAPE_FROM_VALUES_NAMES.split())
# NumPy functions that tell of their input's shape, type or memory, not its values.
_METADATA = frozenset({"shape", "ndim", "size", "iscomplexobj", "isrealobj", "result_type"})
_METADATA_SHAPE = frozenset({"shape", "size"})
# NumPy functions that write into their first argument.
_WRITERS = frozenset({"copyto", "put", "place", "putmask", "put_along_axis", "fill_diagonal"})


_MARKED: dict[int, tuple[np.ndarray, ArrayArgument]] = {}
"""The arrays the step computed from its arguments' values with NumPy while it is traced,
by the id of the array owning their memory (kept, so that no id is reused); emptied after
each trace (`converting`)."""


def _owner(array: np.ndarray) -> np.ndarray:
    """The array whose memory `array` views (itself if it owns its memory)."""
    while isinstance(array.base, np.ndarray):
        array = array.base
    return array


def marked_source(array: Any) -> ArrayArgument | None:
    """The value the step computed from an argument's values with NumPy (its
    `ArrayArgument`) whose memory `array` holds, or None: a Tensor made of one holds a plain
    view of it (`np.asarray`), which carries no mark itself."""
    while isinstance(array, np.ndarray):
        if isinstance(array, ArrayArgument):
            return array
        found = _MARKED.get(id(array))
        if found is not None:
            return found[1]
        array = array.base
    return None


def _plain(value: Any) -> Any:
    if isinstance(value, ArrayArgument):
        return _view(value, np.ndarray)
    if type(value) in (tuple, list):
        return type(value)(map(_plain, value))
    if type(value) is dict:
        return {key: _plain(entry) for key, entry in value.items()}
    return value


def _marked(value: Any) -> ArrayArgument | None:
    """The first marked array in `value` (an argument list, a tuple, a dict)."""
    if isinstance(value, ArrayArgument):
        return value
    if isinstance(value, (tuple, list)):
        entries: Any = value
    elif isinstance(value, dict):
        entries = value.values()
    else:
        return None
    for entry in entries:
        found = _marked(entry)
        if found is not None:
            return found
    return None


def _shape_from_values(value: Any) -> bool:
    if isinstance(value, ArrayArgument):
        return value.shape_from_values
    if isinstance(value, (tuple, list)):
        return any(map(_shape_from_values, value))
    if isinstance(value, dict):
        return any(map(_shape_from_values, value.values()))
    return False


def _has_plain_array(value: Any) -> bool:
    if isinstance(value, (tuple, list)):
        return any(map(_has_plain_array, value))
    return isinstance(value, np.ndarray) and not isinstance(value, ArrayArgument)


def _is_mask(index: Any) -> bool:
    """Whether an index holds a boolean array made from the arguments' values, or an index
    array whose own shape came from them: the result's shape comes from those values."""
    if isinstance(index, tuple):
        return any(map(_is_mask, index))
    return isinstance(index, ArrayArgument) and (
        (index.dtype == np.bool_ and index.ndim > 0) or index.shape_from_values
    )


# The plain attributes, under the properties that note a read of a shape from values.
_SHAPE: Any = np.ndarray.shape
_SIZE: Any = np.ndarray.size


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
    # Its shape came from the arguments' values (np.unique, a mask): reading it is a read.
    shape_from_values = False
    # A 0-d float argument (or a value computed from one): data replayed with each call's
    # value, where a Python int or float would be a setting; a read of it is refused.
    scalar = False

    def __array_finalize__(self, obj: Any) -> None:
        self.position = getattr(obj, "position", 0)
        self.reads = getattr(obj, "reads", None)
        self.tensor_shape = getattr(obj, "tensor_shape", None)
        self.shape_from_values = getattr(obj, "shape_from_values", False)
        self.scalar = getattr(obj, "scalar", False)

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        out = kwargs.get("out")
        step = STATE.tracer is not None and called_by_the_step()
        if step and (_has_plain_array(out) or (method == "at" and _has_plain_array(inputs[0]))):
            self._note(f"np.{ufunc.__name__}.{method} writing into a plain array")
        if out is not None:
            kwargs["out"] = _plain(out)
        result = getattr(ufunc, method)(*map(_plain, inputs), **kwargs)
        if out is not None:  # NumPy returns the `out` arrays themselves
            outputs = out if isinstance(out, tuple) else (out,)
            return outputs[0] if len(outputs) == 1 else outputs
        if not step:
            return result
        return self._taint(result, _shape_from_values(inputs))

    def __array_function__(
        self, func: Any, types: Iterable[Any], args: Iterable[Any], kwargs: Mapping[str, Any]
    ) -> Any:
        if STATE.tracer is None or not called_by_the_step():
            return super().__array_function__(func, types, args, kwargs)
        name, args = func.__name__, tuple(args)
        source = _marked((args, kwargs))
        if source is None:
            source = self
        out = kwargs.get("out")
        if _has_plain_array(out) or (name in _WRITERS and _has_plain_array(args[:1])):
            source._note(f"np.{name} writing into a plain array")
        result = func(*_plain(args), **_plain(kwargs))
        if out is not None:
            return out
        if name in _METADATA:
            if name in _METADATA_SHAPE and _shape_from_values(args):
                source._note(f"np.{name} of an array whose shape came from the values")
            return result
        shaped = name in _SHAPE_FROM_VALUES or _shape_from_values((args, kwargs))
        return source._taint(result, shaped, f"np.{name}")

    def _taint(self, result: Any, shaped: bool = False, how: str = "") -> Any:
        """`result`, computed from this array's values, marked as it is; a Python value
        computed by `how` (a NumPy function) is a read."""
        if isinstance(result, (tuple, list)):
            return type(result)(self._taint(entry, shaped, how) for entry in result)
        if isinstance(result, (np.ndarray, np.generic)):
            array = _asarray(result)
            tainted = _view(array, ArrayArgument)
            # A Tensor made of it holds a plain view of the same memory (`np.asarray`):
            # remembered by that memory, for `marked_source`.
            owner = _owner(array)
            _MARKED[id(owner)] = (owner, tainted)
            tainted.position = self.position
            tainted.reads = self.reads
            tainted.tensor_shape = self.tensor_shape
            tainted.shape_from_values = shaped or self.shape_from_values
            tainted.scalar = self.scalar
            return tainted
        if how and isinstance(result, (bool, int, float, complex)):
            self._note(f"{how} (it returns a Python value)")
        return result

    def _note(self, how: str) -> None:
        """Note that the step read this value into Python with `how` (refused for a traced
        tensor's values or a 0-d float argument's)."""
        if self.scalar and STATE.tracer is not None:  # chainrule's own reads too
            raise CompileError(
                f"compile: the step converted its 0-d array argument {self.position} to a "
                f"Python value with {how} ({user_frame()}); the value would be frozen at the "
                "first call's on every replay: pass it as a Python number (each value is "
                "then traced once), or use it in chainrule ops as an array"
            )
        if STATE.tracer is None or not called_by_the_step():
            return
        if self.tensor_shape is not None:
            raise CompileError(
                f"compile: the step read into Python, with {how} ({user_frame()}), values "
                f"computed from .numpy() of a traced tensor of shape {self.tensor_shape} (or "
                "its .data); "
                "Python code is not replayed, so every replay would reuse the traced "
                "call's path or number. Compute with chainrule ops instead, or return the "
                "tensor and read it after the call"
            )
        if self.reads is not None:
            self.reads.append(f"argument {self.position} read with {how} at {user_frame()}")

    def note_setting(self, op: str) -> None:
        """chainrule's `op` turned these values into its settings (counts, shifts, widths, a
        shape), which a replay keeps: the trace holds for these values only (a read of the
        argument), and a traced tensor's values are refused, as a read by the step."""
        if STATE.tracer is None:
            return
        if self.tensor_shape is not None:
            raise CompileError(
                f"compile: {op} took its settings from the values of a traced tensor of shape "
                f"{self.tensor_shape} ({user_frame()}); a replay would keep the traced "
                "call's. Pass Python ints, or run the step eagerly"
            )
        if self.reads is not None:
            self.reads.append(f"argument {self.position} {SETTINGS_READ} {op} at {user_frame()}")

    def note_constant(self, what: str) -> None:
        """`what`, a constant of the trace, holds values the step computed from these with
        NumPy (`np.where(x[0, 0] > 0, 2.0, 1.0)`), frozen by the trace as a Python read's
        would be: noted as a read of the argument (the trace then holds for its values only,
        and a second trace whose constant differs is refused), or refused outright where no
        condition on the arguments can pin the values (a traced tensor's, a 0-d float
        argument's)."""
        if STATE.tracer is None:
            return
        if self.scalar or self.tensor_shape is not None:
            source = (
                f"the 0-d array argument {self.position}"
                if self.scalar
                else f".numpy() of a traced tensor of shape {self.tensor_shape}"
            )
            raise CompileError(
                f"compile: {what} was computed with NumPy from the values of {source} "
                f"({user_frame()}); the trace would freeze it at the first call's values on "
                "every replay. Compute it with chainrule ops instead (cr.where, comparisons "
                "of tensors are refused too: use relu, maximum, minimum, clip)"
            )
        if self.reads is not None:
            self.reads.append(
                f"argument {self.position} made into {what} (a constant of the trace) at "
                f"{user_frame()}"
            )

    def __bool__(self) -> bool:
        self._note("bool() (an if or a while)")
        return bool(_view(self, np.ndarray))

    def __float__(self) -> float:
        self._note("float()")
        return float(_view(self, np.ndarray))

    def __int__(self) -> int:
        self._note("int()")
        return int(_view(self, np.ndarray))

    def __index__(self) -> int:
        self._note("an index (range(), a slice)")
        return _view(self, np.ndarray).__index__()

    def __complex__(self) -> complex:
        self._note("complex()")
        return complex(_view(self, np.ndarray))

    def __round__(self, ndigits: Any = None) -> Any:
        # NumPy's reductions give the step a NumPy scalar eagerly (round(x.mean()) works) but
        # a 0-d ArrayArgument here, and ndarray defines no __round__.
        self._note("round()")
        return round(self._eager_value(), ndigits)

    def __trunc__(self) -> Any:
        self._note("math.trunc()")
        return math.trunc(self._eager_value())

    def _eager_value(self) -> Any:
        """What the step would hold eagerly: a NumPy scalar for a 0-d value (which Python's
        round() and math.trunc() take), the plain array otherwise (which they refuse, as
        eagerly)."""
        plain = _view(self, np.ndarray)
        return plain[()] if plain.ndim == 0 else plain

    def item(self, *args: Any) -> Any:
        self._note("item()")
        return _view(self, np.ndarray).item(*args)

    def tolist(self) -> Any:
        self._note("tolist()")
        return _view(self, np.ndarray).tolist()

    def tobytes(self, order: Any = "C") -> bytes:
        self._note("tobytes()")
        return _view(self, np.ndarray).tobytes(order)

    @property
    def data(self) -> memoryview:
        self._note(".data (a memoryview)")
        return _view(self, np.ndarray).data

    def view(self, *args: Any, **kwargs: Any) -> Any:
        result = _view(self, *args, **kwargs)
        if type(result) is np.ndarray and STATE.tracer is not None and called_by_the_step():
            return self._taint(result)  # .view(np.ndarray): still the argument's values
        return result

    def _note_shape(self) -> None:
        if self.shape_from_values:
            self._note("its shape (len(), .shape, .size), which came from the values")

    @property
    def shape(self) -> tuple[int, ...]:
        self._note_shape()
        shape: tuple[int, ...] = _SHAPE.__get__(self)
        return shape

    @shape.setter
    def shape(self, value: Any) -> None:
        _SHAPE.__set__(self, value)

    @property
    def size(self) -> int:
        self._note_shape()
        size: int = _SIZE.__get__(self)
        return size

    def __len__(self) -> int:
        self._note_shape()
        return super().__len__()

    def __getitem__(self, index: Any) -> Any:
        value = super().__getitem__(index)
        if STATE.tracer is None or not called_by_the_step():
            return value
        if isinstance(value, np.generic):
            return self._taint(value)  # an element: kept an array, so an `if` on it is seen
        if _is_mask(index) and isinstance(value, ArrayArgument):
            value.shape_from_values = True
        return value

    def __iter__(self) -> Any:
        return (self[index] for index in range(len(self)))

    def __str__(self) -> str:
        self._note("str()")
        return str(_view(self, np.ndarray))

    def __repr__(self) -> str:
        self._note("repr()")
        return repr(_view(self, np.ndarray))

    def __format__(self, spec: str) -> str:
        self._note("format() (an f-string)")
        return format(_view(self, np.ndarray), spec)


def _marked_method(name: str, shaped: bool) -> Callable[..., Any]:
    """The ndarray method `name`, whose result (computed in C, past `__array_ufunc__` and
    `__array_function__`) is marked as its array was; `shaped`: its shape comes from the
    values."""
    method = getattr(np.ndarray, name)

    def call(self: ArrayArgument, *args: Any, **kwargs: Any) -> Any:
        result = method(self, *args, **kwargs)
        if STATE.tracer is None or not called_by_the_step():
            return result
        return self._taint(result, shaped or _shape_from_values(args), f".{name}()")

    call.__name__ = call.__qualname__ = name
    return call


for _name in ("argmax", "argmin", "argpartition", "choose", "dot", "searchsorted", "take"):
    setattr(ArrayArgument, _name, _marked_method(_name, shaped=False))
for _name in ("compress", "nonzero", "repeat", "trace"):
    setattr(ArrayArgument, _name, _marked_method(_name, shaped=_name != "trace"))


# What makes a plain array of its input: the result is marked as the input was.
_CONVERSIONS = ("asarray", "array", "ascontiguousarray", "asfortranarray", "require", "fromiter")


def _converting(original: Callable[..., Any]) -> Callable[..., Any]:
    def convert(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        if args and STATE.tracer is not None and called_directly_by_the_step():
            source = _marked(args[0])
            if source is not None:
                return source._taint(result, _shape_from_values(args[0]))
        return result

    return convert


_DATA: Any = Tensor.data


def _traced_data(tensor: Tensor) -> Any:
    tracer = STATE.tracer
    return _DATA.fget(tensor) if tracer is None else tracer.data_of(tensor)


@contextmanager
def converting() -> Iterator[None]:
    """While the step is traced, `np.asarray` and the other conversions named in
    `_CONVERSIONS` keep the mark of an argument they convert (a name bound to one of them
    before the trace, `from numpy import asarray`, is not seen), and `Tensor.data` gives
    what `.numpy()` does (swapped in here: eager code pays nothing for it)."""
    originals = {name: getattr(np, name) for name in _CONVERSIONS}
    for name, original in originals.items():
        setattr(np, name, _converting(original))
    setattr(Tensor, "data", property(_traced_data, _DATA.fset, doc=_DATA.__doc__))  # noqa: B010
    try:
        yield
    finally:
        _MARKED.clear()
        setattr(Tensor, "data", _DATA)  # noqa: B010
        for name, original in originals.items():
            setattr(np, name, original)


def guard_array_arguments(args: tuple[Any, ...], reads: list[str]) -> tuple[Any, ...]:
    """`args` with each NumPy array of numbers of 1 or more dimensions replaced by an
    `ArrayArgument` view of it, whose reads into Python are appended to `reads`, and each
    0-d float array by one whose reads are refused (a 0-d integer or boolean array is a
    setting, part of the signature)."""
    guarded = list(args)
    for position, value in enumerate(args):
        if type(value) is not np.ndarray:
            continue
        scalar = value.ndim == 0 and value.dtype.kind == "f"
        if scalar or (value.ndim and value.dtype.kind in "biuf"):
            view = value.view(ArrayArgument)
            view.position = position
            view.reads = reads
            view.scalar = scalar
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
