"""What `chainrule train` does differently on more than one rank, kept out of the loop.

Rank 0 alone prints, writes metrics, plots and checkpoints; the others train in step, after
checking that they read the same data and resumed the same checkpoint as rank 0 (each rank
reads its own copies: on a cluster, those of its machine). The
loader becomes a `DistributedSampler` (same global batches, one shard per rank), the
gradients are averaged by `DataParallel`, and epoch losses and validation metrics are summed
over the ranks. Dropout draws its masks from a generator per rank; a checkpoint keeps every
rank's, so it resumes only with the same rank count when the model has dropout.
"""

from __future__ import annotations

import array
import os
import stat
import sys
import time
from collections.abc import Callable
from typing import Any, NoReturn

import numpy as np

from chainrule import manual
from chainrule.distributed.communicator import CollectiveTimeout, Communicator
from chainrule.distributed.launcher import world
from chainrule.distributed.sampler import DistributedSampler, ShardError, shard_bounds


def sharded_loader(
    x: np.ndarray, y: np.ndarray, batch_size: int, comm: Communicator, rng: np.random.Generator
) -> DistributedSampler:
    """This rank's shards of the shuffled global batches of `batch_size` (train's loader)."""
    from chainrule.data import ArrayDataset

    try:
        return DistributedSampler(
            ArrayDataset(x, y), batch_size, rank=comm.rank, size=comm.size, shuffle=True, rng=rng
        )
    except ShardError as error:
        raise ShardError(
            f"train: with {comm.size} ranks, {error}; --batch-size is the "
            "global batch, split over the ranks"
        ) from None


def all_ranks_ready(ready: bool, comm: Communicator) -> bool:
    """Whether every rank is `ready` (each learns it, so none waits for a rank that gave up)."""
    if comm.size == 1:
        return ready
    not_ready = np.array([0.0 if ready else 1.0])
    comm.allreduce_sum(not_ready)
    return bool(not_ready[0] == 0)


def differing_ranks(value: Any, comm: Communicator) -> list[int]:
    """The ranks whose `value` (small, picklable, comparable) differs from rank 0's; every
    rank gets the same answer, so all stop together when one differs."""
    gathered = comm.allgather_object(value)
    return [rank for rank, other in enumerate(gathered) if other != gathered[0]]


def validation_blowup_message(loss: float, epoch: int, lr: float) -> str:
    """`blowup_message` for weights that the epoch's last step left non-finite, found by
    the validation pass that follows it."""
    return (
        f"train: the validation loss ({loss}) became non-finite after epoch {epoch}: its "
        f"last step left the weights non-finite or so large that the logits overflow; the "
        f"learning rate {lr:g} is too large for this model: lower --lr (resume the run on "
        "one process to see what failed first)"
    )


def blowup_message(loss: float, epoch: int, batch: int, lr: float) -> str:
    """The one line of a run of several ranks whose loss or averaged gradients became
    non-finite (every rank sees the averaged gradients, so all stop on the same batch; the
    replay that finds what failed first runs on one process)."""
    return (
        f"train: the loss ({loss}) or the gradients averaged over the ranks became "
        f"non-finite on batch {batch} of epoch {epoch}; the learning rate {lr:g} is too "
        "large for this model: lower --lr (resume the run on one process to see what "
        "failed first)"
    )


def start_together(
    refused: Exception | None, report: Callable[[Exception], None], comm: Communicator | None = None
) -> bool:
    """Whether every rank may start (none waits in a collective for a rank that gave up).
    A refusing rank 0 reports its error; when rank 0 has none, each refusing rank reports
    its own, named by its rank."""
    comm = world() if comm is None else comm
    if comm.size == 1:
        if refused is not None:
            report(refused)
        return refused is None
    failed = np.zeros(2)
    failed[0 if comm.rank == 0 else 1] = refused is not None
    comm.allreduce_sum(failed)
    if refused is not None and comm.rank == 0:
        report(refused)
    elif refused is not None and failed[0] == 0:
        report(named_by_rank(refused, comm))
    return not failed.any()


def named_by_rank(error: Exception, comm: Communicator) -> ValueError:
    """`error` as one rank's own: "train: rank r of n: <message>" (its "train: " moved first)."""
    message = str(error).removeprefix("train: ")
    return ValueError(f"train: rank {comm.rank} of {comm.size}: {message}")


def reduced_mean_loss(loss_sum: float, samples: int, comm: Communicator) -> tuple[float, int]:
    """The epoch's mean training loss over every rank's samples, and their number."""
    totals = np.array([loss_sum, samples], dtype=np.float64)
    comm.allreduce_sum(totals)
    return float(totals[0] / totals[1]), int(totals[1])


def reduced_validation(
    logits_of: Callable[[np.ndarray], np.ndarray], x: np.ndarray, y: np.ndarray, comm: Communicator
) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of the validation set, each rank scoring its slice;
    the loss is NaN on every rank when any rank's logits are not finite."""
    start, stop = shard_bounds(len(x), comm.rank, comm.size)
    totals = np.zeros(3, dtype=np.float64)
    if stop > start:
        logits = logits_of(x[start:stop])
        # Non-finite logits (weights overflowed by the epoch's last step) make the loss NaN
        # on every rank, for the loop to report, instead of one rank's error leaving the
        # others waiting in the allreduce.
        totals[0] = (
            manual.SoftmaxCrossEntropy().forward(logits, y[start:stop]) * (stop - start)
            if np.isfinite(logits).all()
            else np.nan
        )
        totals[1] = float(np.sum(np.argmax(logits, axis=1) == y[start:stop]))
    totals[2] = stop - start
    comm.allreduce_sum(totals)
    return float(totals[0] / totals[2]), float(totals[1] / totals[2])


def rank_seed(seed: np.random.SeedSequence, comm: Communicator) -> np.random.SeedSequence:
    """A generator seed of this rank's own (`seed` itself on one process)."""
    return seed if comm.size == 1 else seed.spawn(comm.size)[comm.rank]


def gathered_generator_states(states: list[Any], comm: Communicator) -> list[list[Any]]:
    """Every rank's dropout generator states, in rank order."""
    return comm.allgather_object(states)


def resume_notice(saved_ranks: int, comm: Communicator, has_dropout: bool) -> str | None:
    """What resuming a run saved with `saved_ranks` ranks on this many does (None: same)."""
    if saved_ranks == comm.size:
        return None
    if has_dropout:
        raise ValueError(
            f"train: this run was saved with {saved_ranks} rank(s) and has dropout, whose "
            f"masks come from one generator per rank; resume it with mpiexec -n {saved_ranks}"
        )
    return (
        f"resuming a run saved with {saved_ranks} rank(s) on {comm.size}: the same global "
        "batches, split differently, so sums round differently (not bit for bit)"
    )


def quiet_unless_lead() -> bool:
    """Whether this is rank 0; the other ranks' stdout goes to the null device (their
    errors still reach stderr)."""
    if world().rank == 0:
        return True
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
    return False


STDERR_DRAIN_SECONDS = 2.0
"""How long `stop_job` waits for the launcher to read its line before ending the job."""


def _wait_until_stderr_is_read(limit: float = STDERR_DRAIN_SECONDS) -> None:
    """Wait (at most `limit` s) until the pipe behind stderr is empty. Under mpiexec that
    pipe leads to the launcher's proxy, which reacts to an abort on another channel: ending
    the job while the line still sits in the pipe can lose it."""
    try:
        import fcntl
        import termios

        descriptor = sys.stderr.fileno()
        if not stat.S_ISFIFO(os.fstat(descriptor).st_mode):
            return
        deadline = time.monotonic() + limit
        waiting = array.array("i", [1])
        while time.monotonic() < deadline:
            fcntl.ioctl(descriptor, termios.FIONREAD, waiting)
            if waiting[0] == 0:
                return
            time.sleep(0.01)
    except (ImportError, AttributeError, OSError, ValueError):
        return  # no pipe to wait on (a file, a terminal, a replaced stream, no POSIX)


def end_job(code: int) -> None:
    """On more than one rank, end every rank now with `code` (after this rank's line has
    been read): this rank met an error of its own, which the others cannot know of, and
    would otherwise wait in their next collective until its deadline. On one rank, return."""
    comm = world()
    if comm.size == 1:
        return
    _wait_until_stderr_is_read()
    abort = getattr(comm, "abort", None)
    if abort is not None:
        abort(code)
    raise SystemExit(code)


def stop_job(error: CollectiveTimeout) -> NoReturn:
    """Report a failed collective in one line and end every rank of the job."""
    print(f"chainrule train: {error}", file=sys.stderr, flush=True)
    end_job(1)
    raise SystemExit(1)
