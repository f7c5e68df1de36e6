"""Keep freed memory in the process for the next step.

glibc's malloc serves large blocks by mmap and gives freed memory above a trim threshold
back to the system, so a training step, which allocates arrays of the same sizes every step,
faults their pages in afresh each time: on the project's machine a third of a CNN step's
CPU time went to those page faults. `chainrule train` raises both thresholds for its own
process (other processes, and programs that import chainrule, keep glibc's defaults).
"""

from __future__ import annotations

import ctypes
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_MAX = 32 * 2**20
"""glibc's largest mmap threshold on 64-bit systems: blocks below it come from the heap."""
TRIM_THRESHOLD = 2**30
"""Freed heap memory kept for reuse before any is given back: 1 GiB."""


def keep_freed_memory() -> bool:
    """Raise glibc's trim and mmap thresholds for this process; False (and nothing changed)
    where the C library is not glibc or does not take the settings."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
