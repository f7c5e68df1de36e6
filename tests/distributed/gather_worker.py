"""Run under mpiexec by test_mpi_object_gather: every rank gathers an object of its own size;
with `hang`, rank 1 never joins, and rank 0 must give up at the deadline."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from chainrule.distributed import CollectiveTimeout
from chainrule.distributed.mpi import MPICommunicator


def main(timeout: float, mode: str, out: Path) -> None:
    comm = MPICommunicator(timeout=timeout)
    if mode == "hang" and comm.rank == 1:
        while True:
            time.sleep(0.05)
    started = time.monotonic()
    try:
        gathered = comm.allgather_object({"rank": comm.rank, "items": list(range(comm.rank * 500))})
    except CollectiveTimeout as error:
        result = {"timeout": str(error), "waited": time.monotonic() - started}
        out.with_suffix(f".{comm.rank}.json").write_text(json.dumps(result))
        comm.abort(3)
        return
    out.with_suffix(f".{comm.rank}.json").write_text(json.dumps({"gathered": gathered}))


if __name__ == "__main__":
    main(float(sys.argv[1]), sys.argv[2], Path(sys.argv[3]))
