"""A tiny data-parallel training run through the user API, for the mpiexec tests.

`python lockstep_worker.py OPTIMIZER OUT.json [VARIANT]` under `mpiexec -n N` trains a small
float64 MLP for STEPS steps at global batch BATCH with `DistributedSampler` and
`DataParallel`; rank 0 writes the global loss of every step and the final weights to
OUT.json. `run(optimizer, None, variant)` is the reference: one process, a plain
`DataLoader`, no communicator. VARIANTS: "unused" adds a parameter used by the first step
only (it then has optimizer state but no gradient); "clip" clips the gradients' total norm
between backward and step.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np

from chainrule import distributed, nn, optim
from chainrule.data import ArrayDataset, DataLoader
from chainrule.distributed import Communicator

STEPS = 30
BATCH = 16
SAMPLES = 78
"""Not a multiple of BATCH: each epoch ends with a batch of 14, split unevenly over 4 ranks."""
FEATURES, HIDDEN, CLASSES = 6, 8, 3
VARIANTS = ("plain", "unused", "clip")
MAX_NORM = 0.05
"""Below the gradients' norm at every step, so "clip" scales every step."""


def run(optimizer_name: str, comm: Communicator | None, variant: str = "plain") -> dict[str, Any]:
    """Global loss per step and final weights of STEPS steps (one process when comm is None)."""
    data_rng = np.random.default_rng(7)
    x = data_rng.standard_normal((SAMPLES, FEATURES))
    y = data_rng.integers(0, CLASSES, size=SAMPLES)
    init_rng = np.random.default_rng(11)
    model = nn.Sequential(
        nn.Linear(FEATURES, HIDDEN, rng=init_rng, dtype=np.float64),
        nn.ReLU(),
        nn.Linear(HIDDEN, CLASSES, rng=init_rng, dtype=np.float64),
    )
    spare = nn.Parameter(np.ones(2))
    params = [*model.parameters(), *([spare] if variant == "unused" else [])]
    optimizer = (
        optim.SGD(params, lr=0.1, momentum=0.9)
        if optimizer_name == "momentum"
        else optim.Adam(params, lr=0.01)
    )
    criterion = nn.CrossEntropyLoss()
    shuffle_rng = np.random.default_rng(3)
    parallel = None
    if comm is None:
        loader: Any = DataLoader(
            ArrayDataset(x, y), batch_size=BATCH, shuffle=True, rng=shuffle_rng
        )
    else:
        loader = distributed.DistributedSampler(
            ArrayDataset(x, y), BATCH, rank=comm.rank, size=comm.size, shuffle=True, rng=shuffle_rng
        )
        parallel = distributed.DataParallel(params, optimizer, comm)
    losses: list[float] = []
    while len(losses) < STEPS:
        for x_batch, y_batch in loader:
            optimizer.zero_grad()
            loss = criterion(model(x_batch), y_batch)
            if variant == "unused" and not losses:
                (loss + (spare**2).sum()).backward()
            else:
                loss.backward()
            if variant == "clip":
                nn.utils.clip_grad_norm_(params, MAX_NORM)
            global_loss = np.array([loss.item() * len(x_batch)])
            if parallel is not None and comm is not None:
                parallel.samples = len(x_batch)
                comm.allreduce_sum(global_loss)
            optimizer.step()
            losses.append(float(global_loss[0]) / BATCH)
            if len(losses) == STEPS:
                break
    return {
        "losses": losses,
        "weights": {
            **{name: array.tolist() for name, array in model.state_dict().items()},
            "spare": spare.numpy().tolist(),
        },
        "ranks": 1 if comm is None else comm.size,
    }


if __name__ == "__main__":
    world = distributed.world()
    result = run(sys.argv[1], world, *sys.argv[3:])
    if world.rank == 0:
        with open(sys.argv[2], "w") as sink:
            json.dump(result, sink)
