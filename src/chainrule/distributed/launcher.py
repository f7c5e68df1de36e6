"""Which rank of how many this process is, from the MPI launcher that started it.

MPICH's hydra sets PMI_RANK / PMI_SIZE, Open MPI sets OMPI_COMM_WORLD_RANK / _SIZE; when
mpi4py is already imported its COMM_WORLD is asked. `world()` is the matching communicator:
MPI under a launcher of more than one rank, `SingleProcess` otherwise.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from chainrule.distributed.communicator import Communicator, SingleProcess

LAUNCHER_VARIABLES = (("PMI_RANK", "PMI_SIZE"), ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"))

_WORLD: Communicator | None = None


def launched_world(environ: Mapping[str, str] | None = None) -> tuple[int, int]:
    """(rank, size) from the launcher's variables, or from mpi4py when it is imported and
    initialised; (0, 1) for a process started without a launcher."""
    environ = os.environ if environ is None else environ
    for rank_name, size_name in LAUNCHER_VARIABLES:
        if rank_name in environ and size_name in environ:
            try:
                rank, size = int(environ[rank_name]), int(environ[size_name])
            except ValueError:
                raise ValueError(
                    f"chainrule.distributed: {rank_name}={environ[rank_name]!r} "
                    f"and {size_name}={environ[size_name]!r} must be integers; "
                    "start the job with mpiexec"
                ) from None
            if not 0 <= rank < size:
                raise ValueError(
                    f"chainrule.distributed: {rank_name}={rank} is outside "
                    f"0..{size - 1} ({size_name}={size})"
                )
            return rank, size
    mpi_module = sys.modules.get("mpi4py.MPI")
    if mpi_module is not None and mpi_module.Is_initialized() and not mpi_module.Is_finalized():
        comm = mpi_module.COMM_WORLD
        return int(comm.Get_rank()), int(comm.Get_size())
    return 0, 1


def world() -> Communicator:
    """The communicator of this process's job (made once): MPI when launched with more than
    one rank, else `SingleProcess`."""
    global _WORLD
    if _WORLD is None:
        _, size = launched_world()
        if size > 1:
            from chainrule.distributed.mpi import MPICommunicator

            _WORLD = MPICommunicator()
        else:
            _WORLD = SingleProcess()
    return _WORLD
