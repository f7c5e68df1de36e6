"""Every reader of a run's own data (resume, evaluate, and explain, explore and graph through
`run_loss`) refuses data that now differ from the run's instead of reporting a figure of
other examples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from idx_folders import write_idx_folder

from chainrule.cli import main
from chainrule.data import save_idx
from chainrule.exploration.run import RunDataError, run_loss

SMALL = ["--model", "mlp", "--hidden", "8", "--batch-size", "16", "--no-progress"]


def train_on(data: str, run: Path, *extra: str) -> None:
    arguments = ["train", *SMALL, "--schedule", "constant", "--epochs", "1"]
    assert main([*arguments, "--data", data, "--out", str(run), *extra]) == 0


def overwrite_test_images(data: Path) -> None:
    """New t10k images of the same shape: the run's "own" test split is now other images."""
    rng = np.random.default_rng(99)
    save_idx(data / "t10k-images-idx3-ubyte.gz", rng.integers(0, 256, (10, 28, 28), dtype=np.uint8))


@pytest.fixture
def trained(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, Path]:
    data, run = tmp_path / "data", tmp_path / "run"
    write_idx_folder(data, seed=1)
    train_on(str(data), run)
    capsys.readouterr()
    return data, run


def test_run_loss_refuses_the_runs_data_once_they_changed(trained: tuple[Path, Path]) -> None:
    data, run = trained
    _, loss = run_loss(run, examples=5)  # the data as trained: read
    assert np.isfinite(loss.item())
    overwrite_test_images(data)
    # Before: the loss on the new images, without a word.
    with pytest.raises(
        RunDataError, match=r"^the data differ from the run's: it was trained"
    ) as error:
        run_loss(run, examples=5)
    assert str(error.value).count(str(data.resolve())) == 3
    assert str(error.value).endswith(
        f"read these on purpose with --data {data.resolve()} (data= in Python)"
    )
    # Named on purpose, the same folder is read.
    _, loss = run_loss(run, examples=5, data=str(data))
    assert np.isfinite(loss.item())


@pytest.mark.parametrize(
    "command",
    [["explain"], ["explore", "--out", "{tmp}/e.html"], ["graph", "--out", "{tmp}/g.svg"]],
)
def test_explain_explore_and_graph_refuse_changed_data_in_one_line(
    trained: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
) -> None:
    data, run = trained
    overwrite_test_images(data)
    name, *options = command
    assert main([name, str(run), *[option.format(tmp=tmp_path) for option in options]]) == 2
    captured = capsys.readouterr()
    (line,) = captured.err.splitlines()
    assert line.startswith(f"chainrule {name}: the data differ from the run's: it was trained")
    assert "pass --data with where the run's data are now" not in line  # the moved-folder hint
    assert not (tmp_path / "e.html").exists()
    assert not (tmp_path / "g.dot").exists()


def test_evaluate_refuses_changed_data_and_reads_them_when_named(
    trained: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    data, run = trained
    overwrite_test_images(data)
    assert main(["evaluate", str(run)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("chainrule evaluate: the data differ from the run's: it was trained")
    assert main(["evaluate", str(run), "--data", str(data)]) == 0
