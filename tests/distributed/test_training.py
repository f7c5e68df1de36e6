"""The loop's parts for several ranks (`chainrule.distributed.training`), on in-process
ranks."""

from __future__ import annotations

import numpy as np
from thread_ranks import ThreadRank, run_ranks

from chainrule.distributed import training


def test_non_finite_validation_logits_give_every_rank_a_nan_loss_not_one_ranks_error() -> None:
    # Rank 1 alone sees non-finite logits: were it to raise, rank 0 would wait in the
    # allreduce for it. Every rank gets the same non-finite loss, for the loop to report.
    x = np.arange(8.0).reshape(4, 2)
    y = np.array([0, 1, 0, 1])

    def logits_of(rows: np.ndarray) -> np.ndarray:
        logits = np.stack([rows[:, 0], -rows[:, 0]], axis=1)
        return np.where(rows[:, :1] > 3, np.inf, logits)

    def body(comm: ThreadRank) -> tuple[float, float]:
        return training.reduced_validation(logits_of, x, y, comm)

    for loss, _ in run_ranks(2, body):
        assert np.isnan(loss)
