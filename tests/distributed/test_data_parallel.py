"""Gradient averaging (`GradientBuffer`, `allreduce_grads`, `DataParallel`) on in-process
ranks: the global batch's mean gradient, one allreduce per dtype, parameters broadcast."""

from __future__ import annotations

import numpy as np
import pytest
from thread_ranks import ThreadRank, run_ranks

from chainrule import distributed, nn, optim
from chainrule.nn.flat import flatten_parameters
from chainrule.tensor import Tensor


def gradients(values: list[np.ndarray]) -> list[nn.Parameter]:
    params = []
    for value in values:
        param = nn.Parameter(np.zeros_like(value))
        param.grad = Tensor(value.copy())
        params.append(param)
    return params


def test_equal_shards_average_to_sum_over_size() -> None:
    rng = np.random.default_rng(0)
    per_rank = [[rng.standard_normal((3, 2)), rng.standard_normal(2)] for _ in range(3)]

    def body(comm: ThreadRank) -> list[np.ndarray]:
        params = gradients(per_rank[comm.rank])
        distributed.allreduce_grads(params, comm)
        return [param.grad.numpy() for param in params]

    results = run_ranks(3, body)
    for index in range(2):
        expected = sum(grads[index] for grads in per_rank) / 3
        for result in results:
            assert result[index].shape == expected.shape
            np.testing.assert_allclose(result[index], expected, rtol=1e-15)


def test_unequal_shards_are_weighted_by_their_samples() -> None:
    grads = [np.array([1.0, 2.0]), np.array([4.0, 8.0])]
    samples = [3, 1]

    def body(comm: ThreadRank) -> np.ndarray:
        params = gradients([grads[comm.rank]])
        distributed.allreduce_grads(params, comm, samples=samples[comm.rank])
        return params[0].grad.numpy()

    expected = (3 * grads[0] + 1 * grads[1]) / 4
    for result in run_ranks(2, body):
        np.testing.assert_allclose(result, expected, rtol=1e-15)


def test_one_allreduce_per_dtype_not_per_parameter() -> None:
    values = [np.ones((4, 3)), np.ones(3), np.ones((3, 2), np.float32), np.ones(2, np.float32)]

    def body(comm: ThreadRank) -> int:
        buffer = distributed.GradientBuffer(gradients(values))
        buffer.allreduce(comm)
        buffer.allreduce(comm)
        return comm.allreduce_calls

    assert run_ranks(2, body) == [4, 4]


def test_gradients_keep_their_dtype_and_shape() -> None:
    values = [np.ones((4, 3), np.float32), np.ones(3, np.float64)]

    def body(comm: ThreadRank) -> list[tuple[tuple[int, ...], np.dtype]]:
        params = gradients(values)
        distributed.allreduce_grads(params, comm)
        return [(param.grad.shape, param.grad.numpy().dtype) for param in params]

    for result in run_ranks(2, body):
        assert result == [((4, 3), np.dtype(np.float32)), ((3,), np.dtype(np.float64))]


def test_a_parameter_without_gradient_counts_as_zero() -> None:
    def body(comm: ThreadRank) -> np.ndarray:
        param = nn.Parameter(np.zeros(2))
        param.grad = Tensor(np.array([2.0, 4.0])) if comm.rank == 0 else None
        distributed.allreduce_grads([param], comm)
        return param.grad.numpy()

    for result in run_ranks(2, body):
        np.testing.assert_array_equal(result, [1.0, 2.0])


def test_a_parameter_without_gradient_on_every_rank_keeps_none() -> None:
    def body(comm: ThreadRank) -> object:
        param = nn.Parameter(np.zeros(2))
        distributed.allreduce_grads([param, *gradients([np.ones(3)])], comm)
        return param.grad

    assert run_ranks(2, body) == [None, None]


def test_clip_grad_value_clamps_the_averaged_gradient_once() -> None:
    """Each rank's own gradient [3, -3] or [-1, 1] clamped to 1 and then averaged gives 0;
    the average [1, -1] clamped gives [1, -1], as one process on the whole batch."""
    own = [np.array([3.0, -3.0]), np.array([-1.0, 1.0])]

    def body(comm: ThreadRank) -> tuple[np.ndarray, int]:
        (param,) = gradients([own[comm.rank]])
        parallel = distributed.DataParallel([param], optim.SGD([param], lr=1.0), comm)
        nn.utils.clip_grad_value_([param], 1.0)
        calls = comm.allreduce_calls
        parallel.synchronize_gradients()  # clipped after averaging: still averaged
        return param.grad.numpy().copy(), comm.allreduce_calls - calls

    for grad, more_calls in run_ranks(2, body):
        assert grad.shape == (2,)
        np.testing.assert_array_equal(grad, [1.0, -1.0])
        assert more_calls == 0


def test_a_detached_data_parallel_no_longer_averages_for_the_clippings() -> None:
    def body(comm: ThreadRank) -> np.ndarray:
        (param,) = gradients([np.array([4.0 * comm.rank])])
        distributed.DataParallel([param], optim.SGD([param], lr=1.0), comm).detach()
        nn.utils.clip_grad_norm_([param], 10.0)
        return param.grad.numpy().copy()

    assert [grad.tolist() for grad in run_ranks(2, body)] == [[0.0], [4.0]]


def test_float16_gradients_are_summed_without_overflow() -> None:
    """64 * 1100 rows overflowed float16 (max 65504): the mean gradient 64 came back inf.
    Rank 0's gradients live in a flat float16 buffer, rank 1's do not: the two must still
    meet in one layout."""

    def body(comm: ThreadRank) -> tuple[np.ndarray, bool]:
        (param,) = gradients([np.array([64.0, 0.5], np.float16)])
        if comm.rank == 0:
            flatten_parameters([param])
        buffer = distributed.GradientBuffer([param])
        buffer.allreduce(comm, samples=1100)
        return param.grad.numpy().copy(), buffer.finite

    for grad, finite in run_ranks(2, body):
        assert finite
        assert grad.dtype == np.float16
        assert grad.shape == (2,)
        np.testing.assert_array_equal(grad, np.array([64.0, 0.5], np.float16))


def test_non_finite_gradients_are_flagged_on_every_rank() -> None:
    def body(comm: ThreadRank) -> bool:
        buffer = distributed.GradientBuffer(
            gradients([np.array([np.nan if comm.rank == 1 else 1.0])])
        )
        buffer.allreduce(comm)
        return buffer.finite

    assert run_ranks(2, body) == [False, False]


def test_data_parallel_broadcasts_rank_0s_parameters() -> None:
    def body(comm: ThreadRank) -> np.ndarray:
        layer = nn.Linear(3, 2, rng=np.random.default_rng(comm.rank), dtype=np.float64)
        distributed.DataParallel(layer.parameters(), optim.SGD(layer.parameters(), lr=0.1), comm)
        return layer.weight.numpy()

    rank0, rank1 = run_ranks(2, body)
    expected = nn.Linear(3, 2, rng=np.random.default_rng(0), dtype=np.float64).weight.numpy()
    np.testing.assert_array_equal(rank0, expected)
    np.testing.assert_array_equal(rank1, expected)


class PeerSum(distributed.SingleProcess):
    """Rank 0 of two whose peer's summed contribution is fixed in advance (no threads:
    optimizer steps switch the process-wide grad mode, which threads would race on)."""

    size = 2

    def __init__(self, peer: np.ndarray) -> None:
        self.peer = peer

    def allreduce_sum(self, buffer: np.ndarray) -> None:
        buffer += self.peer

    def broadcast(self, buffer: np.ndarray, root: int = 0) -> None:
        pass


def test_data_parallel_averages_before_every_optimizer_step() -> None:
    weight = nn.Parameter(np.zeros(2))
    optimizer = optim.SGD([weight], lr=1.0)
    # The peer sends its gradient [2, 2], that it has one (1) and its sample count (1).
    distributed.DataParallel([weight], optimizer, PeerSum(np.array([2.0, 2.0, 1.0, 1.0])))
    for _ in range(2):
        weight.grad = Tensor(np.ones(2))
        optimizer.step()
    np.testing.assert_array_equal(weight.numpy(), [-3.0, -3.0])


def test_detached_data_parallel_no_longer_averages() -> None:
    weight = nn.Parameter(np.zeros(2))
    optimizer = optim.SGD([weight], lr=1.0)
    calls: list[int] = []
    parallel = distributed.DataParallel([weight], optimizer, distributed.SingleProcess())
    parallel.buffer.allreduce = lambda comm, samples=None: calls.append(1)  # type: ignore
    weight.grad = Tensor(np.ones(2))
    optimizer.step()
    parallel.detach()
    optimizer.step()
    assert calls == [1]


def test_gradient_buffer_refuses_no_parameters() -> None:
    with pytest.raises(ValueError, match="no parameters"):
        distributed.GradientBuffer([])
