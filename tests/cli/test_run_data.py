"""Every reader of a run's own data (resume, evaluate, and explain, explore and graph through
`run_loss`) reads the folder the run was trained on, from any working directory, and refuses
data that now differ from the run's instead of reporting a figure of other examples."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from idx_folders import write_idx_folder

from chainrule.cli import main
from chainrule.data import save_idx
from chainrule.exploration.run import RunDataError, run_loss
from chainrule.train.checkpoint import META_FILE
from chainrule.train.metrics import read_metrics

SMALL = ["--model", "mlp", "--hidden", "8", "--batch-size", "16", "--no-progress"]


def train_on(data: str, run: Path, *extra: str) -> None:
    arguments = ["train", *SMALL, "--schedule", "constant", "--epochs", "1"]
    assert main([*arguments, "--data", data, "--out", str(run), *extra]) == 0


def overwrite_test_images(data: Path) -> None:
    """New t10k images of the same shape: the run's "own" test split is now other images."""
    rng = np.random.default_rng(99)
    save_idx(data / "t10k-images-idx3-ubyte.gz", rng.integers(0, 256, (10, 28, 28), dtype=np.uint8))


def edit_meta(run: Path, edit: object) -> None:
    document = json.loads((run / META_FILE).read_text())
    edit(document["meta"])  # type: ignore[operator]
    (run / META_FILE).write_text(json.dumps(document))


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


def test_a_relative_data_folder_is_recorded_absolute_and_read_from_anywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    write_idx_folder(tmp_path / "data", seed=1)
    monkeypatch.chdir(tmp_path)
    train_on("data", tmp_path / "run")
    saved = json.loads((tmp_path / "run" / META_FILE).read_text())["meta"]["config"]["data"]
    assert saved == str((tmp_path / "data").resolve())
    monkeypatch.chdir(elsewhere)
    capsys.readouterr()
    # Before: "chainrule evaluate: --data 'data' is neither digits, ... nor a folder".
    assert main(["evaluate", str(tmp_path / "run")]) == 0
    assert main(["explain", str(tmp_path / "run")]) == 0
    resumed = ["train", "--resume", str(tmp_path / "run"), "--epochs", "2", "--no-progress"]
    assert main(resumed) == 0, capsys.readouterr().err
    assert [record["epoch"] for record in read_metrics(tmp_path / "run")] == [1, 2]


def test_resume_with_the_relative_data_spelled_again_is_no_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_idx_folder(tmp_path / "data", seed=1)
    monkeypatch.chdir(tmp_path)
    train_on("data", tmp_path / "run")
    resumed = ["train", "--resume", "run", "--epochs", "2", "--no-progress", "--data", "data"]
    assert main(resumed) == 0, capsys.readouterr().err


def make_old_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, fingerprint: bool) -> Path:
    """A run as an older chainrule left it: its config names the data folder relative to
    the directory it was trained in (and, with `fingerprint`, its data fingerprint records
    the folder's absolute path)."""
    write_idx_folder(tmp_path / "data", seed=1)
    train_on(str(tmp_path / "data"), tmp_path / "run")

    def relative(meta: dict) -> None:
        meta["config"]["data"] = "data"
        if not fingerprint:
            del meta["data_fingerprint"]

    edit_meta(tmp_path / "run", relative)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    return tmp_path / "run"


def test_an_old_relative_data_path_is_read_where_the_fingerprint_recorded_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run = make_old_run(tmp_path, monkeypatch, fingerprint=True)
    assert main(["evaluate", str(run)]) == 0
    assert main(["explain", str(run)]) == 0
    assert main(["train", "--resume", str(run), "--epochs", "2", "--no-progress"]) == 0
    resaved = json.loads((run / META_FILE).read_text())["meta"]["config"]["data"]
    assert resaved == str((tmp_path / "data").resolve())


@pytest.mark.parametrize(
    "command", [["evaluate"], ["train", "--no-progress", "--resume"], ["explain"]]
)
def test_an_old_relative_data_path_without_a_fingerprint_names_the_path_tried(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
) -> None:
    run = make_old_run(tmp_path, monkeypatch, fingerprint=False)
    capsys.readouterr()
    assert main([*command, str(run)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    tried = tmp_path.resolve() / "elsewhere" / "data"
    assert line.startswith(
        f"chainrule {command[0]}: the run was trained on the data in {tried} (its config "
        f"records the relative path 'data', read from the current directory "
    ), line
    assert "which is gone" in line
    assert not re.search(r"--data '", line)  # an option the user did not give
    monkeypatch.chdir(tmp_path)  # where it was trained: read there
    assert main([*command, str(run)]) == 0, capsys.readouterr().err
