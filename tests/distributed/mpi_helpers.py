"""Helpers of the distributed tests: the `mpiexec` beside this interpreter and the
environment the ranks run in."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
IN_CI = bool(os.environ.get("CI"))
MPIEXEC = Path(sys.executable).parent / "mpiexec"

Launch = Callable[..., subprocess.CompletedProcess[str]]


def environment(**extra: str) -> dict[str, str]:
    """This environment with chainrule's src first on the path (the ranks import it)."""
    path = os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, **extra}


def mpi_command(mpiexec: Path, ranks: int, arguments: Sequence[str]) -> list[str]:
    """`mpiexec -n ranks python arguments...` with this interpreter."""
    return [str(mpiexec), "-n", str(ranks), sys.executable, *arguments]
