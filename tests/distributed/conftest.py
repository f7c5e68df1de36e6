"""Fixtures of the distributed tests: the `mpiexec` beside this interpreter (MPICH's, from
the mpi extra); missing, it skips locally and fails the run in CI."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from mpi_helpers import IN_CI, MPIEXEC, Launch, environment, mpi_command


@pytest.fixture(scope="session")
def mpiexec() -> Path:
    """MPICH's launcher from the mpi extra, beside sys.executable."""
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        if IN_CI:
            pytest.fail("mpi4py must be installed in CI: pip install -e '.[test]' (mpi extra)")
        pytest.skip("mpi4py not installed (pip install 'chainrule[mpi]')")
    if not MPIEXEC.exists():
        if IN_CI:
            pytest.fail(f"{MPIEXEC} is missing; in CI the mpi extra (mpich) must provide it")
        pytest.skip(f"{MPIEXEC} is missing (pip install 'chainrule[mpi]')")
    return MPIEXEC


@pytest.fixture
def launch(mpiexec: Path) -> Launch:
    """launch(ranks, *arguments, timeout=120) runs `python arguments` on `ranks` ranks."""

    def run(
        ranks: int, *arguments: str, timeout: float = 120.0, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            mpi_command(mpiexec, ranks, arguments),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env or environment(),
        )

    return run
