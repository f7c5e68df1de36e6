"""Counting the Python calls an action makes: the deterministic measure of per-step overhead
that the budget tests pin (timings belong in benchmarks/)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import FrameType
from typing import Any


def python_calls(action: Callable[[], Any]) -> int:
    """How many Python functions `action` calls (C functions, NumPy's ufuncs, are not counted)."""
    calls = 0

    def count(frame: FrameType, event: str, arg: Any) -> None:
        nonlocal calls
        if event == "call":
            calls += 1

    previous = sys.getprofile()
    sys.setprofile(count)
    try:
        action()
    finally:
        sys.setprofile(previous)
    return calls - 1  # the action itself
