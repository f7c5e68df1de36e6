"""Through the real launcher: N ranks at global batch B take the same steps as one process
at batch B, to rounding (the gradient sums run in another order), in float64."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from lockstep_worker import run
from mpi_helpers import Launch

WORKER = Path(__file__).with_name("lockstep_worker.py")
RTOL = 1e-12


def relative_error(got: np.ndarray, expected: np.ndarray) -> float:
    return float(np.linalg.norm(got - expected) / np.linalg.norm(expected))


@pytest.mark.parametrize("ranks", [1, 2, 4])
@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
def test_ranks_match_one_process_step_for_step(
    launch: Launch, tmp_path: Path, ranks: int, optimizer: str
) -> None:
    out = tmp_path / "result.json"
    finished = launch(ranks, str(WORKER), optimizer, str(out), timeout=120)
    assert finished.returncode == 0, finished.stderr
    got = json.loads(out.read_text())
    expected = run(optimizer, None)
    assert got["ranks"] == ranks
    losses = np.array(got["losses"])
    assert losses.shape == (30,)
    np.testing.assert_allclose(losses, np.array(expected["losses"]), rtol=RTOL, atol=0)
    assert sorted(got["weights"]) == sorted(expected["weights"])
    for name, weights in expected["weights"].items():
        assert relative_error(np.array(got["weights"][name]), np.array(weights)) <= RTOL, name


@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
def test_a_parameter_unused_on_every_rank_is_skipped_as_on_one_process(
    launch: Launch, tmp_path: Path, optimizer: str
) -> None:
    """A parameter with optimizer state and no gradient on any rank: one process (and DDP)
    leaves it alone; it was handed a zero gradient, so momentum kept moving it."""
    out = tmp_path / "result.json"
    finished = launch(2, str(WORKER), optimizer, str(out), "unused", timeout=120)
    assert finished.returncode == 0, finished.stderr
    got = json.loads(out.read_text())["weights"]
    expected = run(optimizer, None, "unused")["weights"]
    spare = np.array(got["spare"])
    assert spare.shape == (2,)
    np.testing.assert_array_equal(spare, np.array(expected["spare"]))
    for name, weights in expected.items():
        assert relative_error(np.array(got[name]), np.array(weights)) <= RTOL, name


def test_clipping_between_backward_and_step_clips_the_averaged_gradient(
    launch: Launch, tmp_path: Path
) -> None:
    """clip_grad_norm_ after backward clipped each rank's own gradient before the step
    averaged them: another step than one process's, which clips the global batch's."""
    out = tmp_path / "result.json"
    finished = launch(2, str(WORKER), "momentum", str(out), "clip", timeout=120)
    assert finished.returncode == 0, finished.stderr
    got = json.loads(out.read_text())
    expected = run("momentum", None, "clip")
    np.testing.assert_allclose(
        np.array(got["losses"]), np.array(expected["losses"]), rtol=RTOL, atol=0
    )
    for name, weights in expected["weights"].items():
        assert relative_error(np.array(got["weights"][name]), np.array(weights)) <= RTOL, name
