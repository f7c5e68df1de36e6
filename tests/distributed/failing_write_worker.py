"""`chainrule train` under mpiexec where rank 0's checkpoint writes fail (a full disk), for
test_train_mpiexec: the error is rank 0's alone, and must not leave rank 1 waiting."""

from __future__ import annotations

import errno
import sys
from pathlib import Path
from typing import Any

import chainrule.train.loop as loop
from chainrule.cli import main
from chainrule.distributed import world


def full_disk(folder: Path, meta: dict[str, Any]) -> None:
    raise OSError(errno.ENOSPC, "No space left on device", str(folder))


if __name__ == "__main__":
    if world().rank == 0:
        loop.save_checkpoint = full_disk
    sys.exit(main(sys.argv[1:]))
