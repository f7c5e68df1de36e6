"""Writing a file in one step, so that an interrupted write never leaves it truncated."""

from __future__ import annotations

import os
from pathlib import Path


def write_atomically(path: Path, payload: bytes) -> None:
    """`payload` written to a temporary file beside `path`, flushed to disk, then moved over
    it (os.replace): a write that fails or is interrupted leaves the former file whole (or
    none), never a partial one, and removes its temporary file."""
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        with open(temporary, "wb") as sink:
            sink.write(payload)
            sink.flush()
            os.fsync(sink.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
