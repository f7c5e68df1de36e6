"""Global switches of the engine: whether ops are recorded, and whether NaN/inf is hunted.

`no_grad()` turns recording off (evaluation, optimizer updates); `detect_anomaly()` checks
every forward output and backward gradient for NaN/inf and names the op and the user's line.
"""

from __future__ import annotations

import contextlib
import linecache
import os
import sys
from collections.abc import Iterator
from types import FrameType
from typing import Any

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class CompileError(ValueError):
    """The step cannot be replayed faithfully; the message says what to change.

    (`chainrule.compile`'s error; defined here so that ops can let it through unchanged.)"""


class _State:
    grad_enabled: bool = True
    anomaly: bool = False
    # The active `chainrule.compiler.Tracer` while `chainrule.compile` traces a step, else None.
    tracer: Any = None


STATE = _State()


def is_grad_enabled() -> bool:
    """Whether ops on tensors that require grad are recorded for backward."""
    return STATE.grad_enabled


class _GradMode(contextlib.ContextDecorator):
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._previous: list[bool] = []

    def __enter__(self) -> None:
        self._previous.append(STATE.grad_enabled)
        STATE.grad_enabled = self.enabled

    def __exit__(self, *exc: object) -> None:
        STATE.grad_enabled = self._previous.pop()


def no_grad() -> _GradMode:
    """Context manager and decorator: inside it no graph is recorded (as torch.no_grad)."""
    return _GradMode(False)


def enable_grad() -> _GradMode:
    """Context manager and decorator: record ops even inside `no_grad`."""
    return _GradMode(True)


class AnomalyError(FloatingPointError):
    """A NaN or inf appeared in a forward value or a gradient under `detect_anomaly()`."""


@contextlib.contextmanager
def detect_anomaly() -> Iterator[None]:
    """Inside it, the first op whose output or gradient holds NaN/inf raises AnomalyError
    naming the op and the line of user code that created it. Slower: use it to debug."""
    previous = STATE.anomaly
    STATE.anomaly = True
    try:
        yield
    finally:
        STATE.anomaly = previous


def user_frame() -> str:
    """'file:line: code' of the innermost caller outside chainrule (where the user built it)."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
    if frame is None:
        return "<unknown location>"
    filename, lineno = frame.f_code.co_filename, frame.f_lineno
    code = linecache.getline(filename, lineno).strip()
    return f"{filename}:{lineno}: {code}"


def record_effect(effect: Any) -> None:
    """While a step is being traced for `chainrule.compile`, remember that `effect()` (an
    optimizer's step or zero_grad) ran here, so every replay runs it at the same point."""
    if STATE.tracer is not None:
        STATE.tracer.record_effect(effect, sys._getframe(1))
