"""`chainrule train` keeps freed memory for the next step instead of faulting it in again."""

from __future__ import annotations

import subprocess
import sys

import pytest

# Run in a child process: the setting is process-wide. A step allocates several large arrays
# and frees them all: with glibc's defaults the freed heap top exceeds the trim threshold
# and goes back to the system, so the next step faults its pages in again; after
# keep_freed_memory the next step reuses them.
CHILD = """
import resource, sys
import numpy as np
from chainrule.train.allocator import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
def step():
    arrays = [np.ones(2**21, dtype=np.float32) for _ in range(3)]
    del arrays
for _ in range(3):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> int:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, mode], capture_output=True, text=True, check=True
    )
    return int(result.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_keep_freed_memory_stops_the_page_faults_of_repeated_large_arrays() -> None:
    assert _faults("keep") < 100
    assert _faults("default") > 10 * 1000
