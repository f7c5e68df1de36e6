"""Data-parallel training on MPI (the `mpi` extra: mpi4py and mpich).

Launch N copies with `mpiexec -n N`; each is one rank. Parameters are broadcast from rank 0,
each rank trains on its shard of every global batch (`DistributedSampler`), and gradients
are averaged with one Allreduce per step on a flat buffer (`DataParallel`,
`allreduce_grads`), so every rank takes the same optimizer step. Without a launcher the
communicator is `SingleProcess` and everything runs as one process.
"""

from chainrule.distributed.communicator import CollectiveTimeout, Communicator, SingleProcess
from chainrule.distributed.data_parallel import (
    DataParallel,
    GradientBuffer,
    allreduce_grads,
    broadcast_parameters,
)
from chainrule.distributed.launcher import launched_world, world
from chainrule.distributed.sampler import DistributedSampler, ShardError, shard_bounds

__all__ = [
    "CollectiveTimeout",
    "Communicator",
    "DataParallel",
    "DistributedSampler",
    "GradientBuffer",
    "ShardError",
    "SingleProcess",
    "allreduce_grads",
    "broadcast_parameters",
    "launched_world",
    "shard_bounds",
    "world",
]
