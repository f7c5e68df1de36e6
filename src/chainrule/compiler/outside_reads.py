"""Values a traced step's own code reads from outside the program: the clock, a file, the
terminal.

Such a value differs from call to call with no change that the guards (`compiler.guards`) or
the signature can see, and a replay repeats no Python code: every call would reuse the traced
reading, in an op (`lr * (time.time() % 2)`) or in a branch taken on it (`if
time.perf_counter() - t0 > limit`). Comparing the first two traces catches only a value
that differed between them, not a coarse clock (`date.today()`, an hour) nor a file changed
after them, so the read itself is refused.

Only the user's own code counts: a frame whose code lies outside the standard library, the
installed packages (site-packages) and chainrule. Library code reads the clock for its own
ends while a step runs (logging stamps its records, JAX and tqdm time themselves); what it
reads does not reach the step's values through the step's code.
"""

from __future__ import annotations

import builtins
import datetime
import linecache
import os
import pathlib
import site
import sysconfig
import time
from types import BuiltinFunctionType, CodeType, FrameType
from typing import Any, NamedTuple

import numpy as np

_CLOCK = "read the clock"
_FILE = "opened a file"
_TERMINAL = "read the terminal"

_CLOCK_NAMES = (
    "time",
    "time_ns",
    "perf_counter",
    "perf_counter_ns",
    "monotonic",
    "monotonic_ns",
    "process_time",
    "process_time_ns",
    "thread_time",
    "thread_time_ns",
    # Given no time they read the clock, which is what they are called for in a step.
    "localtime",
    "gmtime",
    "ctime",
)
_C_READERS: dict[int, tuple[str, str]] = {
    **{
        id(getattr(time, name)): (_CLOCK, f"time.{name}()")
        for name in _CLOCK_NAMES
        if hasattr(time, name)
    },
    id(builtins.open): (_FILE, "open()"),
    id(np.fromfile): (_FILE, "np.fromfile()"),
    id(builtins.input): (_TERMINAL, "input()"),
}
"""The C functions that read from outside, by id (module functions, made once): what each
does and its name."""

_DATE_CLOCKS = frozenset(("now", "utcnow", "today"))
"""The class methods of `datetime.date` and `datetime.datetime` that read the clock."""

_PYTHON_READERS: dict[CodeType, tuple[str, str]] = {
    pathlib.Path.read_text.__code__: (_FILE, "Path.read_text()"),
    pathlib.Path.read_bytes.__code__: (_FILE, "Path.read_bytes()"),
    pathlib.Path.open.__code__: (_FILE, "Path.open()"),
    np.load.__code__: (_FILE, "np.load()"),
    np.loadtxt.__code__: (_FILE, "np.loadtxt()"),
    np.genfromtxt.__code__: (_FILE, "np.genfromtxt()"),
}
"""Python functions that read from outside, by their code: a "call" event runs one."""


def _library_directories() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    folders = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    folders.update(site.getsitepackages())
    if site.ENABLE_USER_SITE:
        folders.add(site.getusersitepackages())
    folders.add(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # chainrule
    # Both spellings of each: a code's file name follows sys.path, which may hold either.
    spellings = {os.path.abspath(f) for f in folders} | {os.path.realpath(f) for f in folders}
    return tuple(os.path.join(folder, "") for folder in spellings)


_LIBRARY_DIRECTORIES = _library_directories()


def is_user_frame(frame: FrameType) -> bool:
    """Whether `frame` runs the user's own code: code not in the standard library, an
    installed package or chainrule (nor frozen: importlib's), and not a module's body run
    by an import."""
    code = frame.f_code
    filename = code.co_filename
    return (
        code.co_name != "<module>"
        and not filename.startswith("<frozen ")
        and not os.path.abspath(filename).startswith(_LIBRARY_DIRECTORIES)
    )


class OutsideRead(NamedTuple):
    """A read from outside the program by the step's own code."""

    what: str  # _CLOCK, _FILE or _TERMINAL
    name: str  # the function called: "time.perf_counter()"
    location: str  # "file:line: code" of the call

    def refusal(self) -> str:
        """The CompileError message for a step that made this read while traced."""
        if self.what == _CLOCK:
            fix = (
                "Read the clock outside the step and pass the value as an argument: a 0-d "
                "array (np.asarray(time.perf_counter())) is read afresh at each call (a "
                "Python number is part of the signature: each new value traces the step "
                "again); decide a branch on it outside the step"
            )
        else:
            fix = (
                "Read it outside the step and pass what it gives as an argument (an array "
                "is read afresh at each call); write files outside the step too, after the "
                "call (a replay would not write them)"
            )
        return (
            f"compile: the step {self.what} ({self.name}, at {self.location}) while it was "
            "traced; a replay repeats no Python code, so every call would reuse what the "
            f"traced call read there, in an op or in a branch taken on it. {fix}"
        )


def outside_read(frame: FrameType, event: str, arg: Any) -> OutsideRead | None:
    """The read from outside the program (the clock, a file, the terminal) that this
    profile event starts in the user's own code, if it starts one."""
    if event == "c_call":
        found = _C_READERS.get(id(arg))
        if found is None and type(arg) is BuiltinFunctionType:
            owner = arg.__self__
            if (owner is datetime.datetime or owner is datetime.date) and (
                arg.__name__ in _DATE_CLOCKS
            ):
                found = (_CLOCK, f"{owner.__name__}.{arg.__name__}()")
        caller: FrameType | None = frame
    elif event == "call":
        found = _PYTHON_READERS.get(frame.f_code)
        caller = frame.f_back
    else:
        return None
    if found is None or caller is None or not is_user_frame(caller):
        return None
    filename, line = caller.f_code.co_filename, caller.f_lineno
    code = linecache.getline(filename, line).strip()
    return OutsideRead(*found, f"{filename}:{line}: {code}")
