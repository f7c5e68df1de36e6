"""Gradients in a flat buffer (`chainrule.nn.flat`) are averaged over the ranks in place:
one Allreduce on the buffer itself, with the same result as the gathering path."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from thread_ranks import ThreadRank, run_ranks

from chainrule import distributed, nn
from chainrule.nn.flat import FlatBuffer, flatten_parameters
from chainrule.tensor import Tensor

SHAPES = [(4, 3), (3,), (3, 2), (2,)]


class RecordingRank:
    """A rank that keeps every array it is asked to allreduce."""

    def __init__(self, comm: ThreadRank) -> None:
        self.comm = comm
        self.reduced: list[np.ndarray] = []

    def allreduce_sum(self, buffer: np.ndarray) -> None:
        self.reduced.append(buffer)
        self.comm.allreduce_sum(buffer)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.comm, name)


def _params_with_grads(rank: int, dtype: Any) -> list[nn.Parameter]:
    rng = np.random.default_rng(rank)
    params = []
    for shape in SHAPES:
        param = nn.Parameter(np.zeros(shape, dtype))
        param.grad = Tensor(rng.standard_normal(shape).astype(dtype))
        params.append(param)
    return params


def _averaged(
    flat: bool, samples: list[int] | None, dtype: Any
) -> list[tuple[list[np.ndarray], list[np.ndarray], FlatBuffer | None]]:
    def body(comm: ThreadRank) -> tuple[list[np.ndarray], list[np.ndarray], FlatBuffer | None]:
        params = _params_with_grads(comm.rank, dtype)
        buffer = flatten_parameters(params)[0] if flat else None
        recording = RecordingRank(comm)
        distributed.GradientBuffer(params).allreduce(
            recording, None if samples is None else samples[comm.rank]
        )
        grads = [param.grad.data for param in params if param.grad is not None]
        return grads, recording.reduced, buffer

    return run_ranks(2, body)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_flat_gradient_buffer_is_allreduced_in_place_in_one_call(dtype: Any) -> None:
    for grads, reduced, buffer in _averaged(True, None, dtype):
        assert buffer is not None
        assert len(reduced) == 1
        assert reduced[0] is buffer.grad_and_spare
        assert all(np.shares_memory(grad, buffer.grad) for grad in grads)


@pytest.mark.parametrize("samples", [None, [3, 1]], ids=["equal", "weighted"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_in_place_average_equals_gathered_average_bit_for_bit(
    dtype: Any, samples: list[int] | None
) -> None:
    gathered = _averaged(False, samples, dtype)
    in_place = _averaged(True, samples, dtype)
    for (expected, _, _), (got, _, _) in zip(gathered, in_place, strict=True):
        for expected_grad, got_grad in zip(expected, got, strict=True):
            assert got_grad.dtype == expected_grad.dtype == dtype
            assert got_grad.shape == expected_grad.shape
            np.testing.assert_array_equal(got_grad, expected_grad)


def test_flat_buffer_missing_a_gradient_on_one_rank_is_gathered_there() -> None:
    """Rank 0 reduces its whole flat buffer in place while rank 1, missing one gradient,
    gathers: the two layouts must line up, and the missing gradient counts as zero."""

    def body(comm: ThreadRank) -> tuple[bool, np.ndarray]:
        params = _params_with_grads(comm.rank, np.float64)
        (buffer,) = flatten_parameters(params)
        if comm.rank == 1:
            params[1].grad = None
        recording = RecordingRank(comm)
        distributed.GradientBuffer(params).allreduce(recording)
        assert params[1].grad is not None
        return recording.reduced[0] is buffer.grad_and_spare, params[1].grad.data.copy()

    rank_0_grad = _params_with_grads(0, np.float64)[1].grad.data
    results = run_ranks(2, body)
    assert [in_place for in_place, _ in results] == [True, False]
    for _, missing in results:
        assert missing.shape == (3,)
        np.testing.assert_array_equal(missing, rank_0_grad / 2)


def test_flat_buffer_missing_a_gradient_on_every_rank_keeps_it_none() -> None:
    def body(comm: ThreadRank) -> tuple[bool, Any]:
        params = _params_with_grads(comm.rank, np.float64)
        (buffer,) = flatten_parameters(params)
        params[1].grad = None
        recording = RecordingRank(comm)
        distributed.GradientBuffer(params).allreduce(recording)
        return recording.reduced[0] is buffer.grad_and_spare, params[1].grad

    for reduced_in_place, missing in run_ranks(2, body):
        assert not reduced_in_place
        assert missing is None
