"""The single-process communicator and rank detection from the MPI launchers' variables."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule import distributed
from chainrule.distributed import SingleProcess, launched_world
from chainrule.distributed.mpi import DEFAULT_TIMEOUT, TIMEOUT_ENV, _default_timeout


def test_single_process_is_rank_0_of_1() -> None:
    comm = SingleProcess()
    assert (comm.rank, comm.size) == (0, 1)


def test_single_process_allreduce_leaves_the_buffer() -> None:
    buffer = np.array([1.5, -2.0])
    SingleProcess().allreduce_sum(buffer)
    np.testing.assert_array_equal(buffer, [1.5, -2.0])


def test_allreduce_refuses_a_non_contiguous_buffer() -> None:
    with pytest.raises(TypeError, match="C-contiguous"):
        SingleProcess().allreduce_sum(np.zeros((3, 4))[:, 1])


def test_broadcast_refuses_a_root_outside_the_world() -> None:
    with pytest.raises(ValueError, match="root 1"):
        SingleProcess().broadcast(np.zeros(2), root=1)


def test_allgather_object_returns_the_one_value() -> None:
    assert SingleProcess().allgather_object({"a": 1}) == [{"a": 1}]


def test_mpich_variables_give_rank_and_size() -> None:
    assert launched_world({"PMI_RANK": "2", "PMI_SIZE": "4"}) == (2, 4)


def test_open_mpi_variables_give_rank_and_size() -> None:
    environ = {"OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_SIZE": "3"}
    assert launched_world(environ) == (1, 3)


def test_no_launcher_is_rank_0_of_1() -> None:
    assert launched_world({}) == (0, 1)


def test_a_rank_outside_the_size_is_refused() -> None:
    with pytest.raises(ValueError, match=r"PMI_RANK=4 is outside 0\.\.3"):
        launched_world({"PMI_RANK": "4", "PMI_SIZE": "4"})


def test_non_integer_launcher_variables_are_refused() -> None:
    with pytest.raises(ValueError, match="must be integers"):
        launched_world({"PMI_RANK": "x", "PMI_SIZE": "2"})


def test_world_without_a_launcher_is_single_process() -> None:
    assert isinstance(distributed.world(), SingleProcess)


def test_the_collective_deadline_defaults_to_600_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TIMEOUT_ENV, raising=False)
    assert _default_timeout() == DEFAULT_TIMEOUT == 600.0


def test_the_collective_deadline_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(TIMEOUT_ENV, "2.5")
    assert _default_timeout() == 2.5


@pytest.mark.parametrize("value", ["0", "-1", "soon", "nan"])
def test_an_unusable_collective_deadline_is_refused(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv(TIMEOUT_ENV, value)
    with pytest.raises(ValueError, match="must be a positive number of seconds"):
        _default_timeout()
