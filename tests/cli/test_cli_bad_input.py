"""Bad input to `chainrule train` and `chainrule evaluate`: unknown or empty --data, corrupt
checkpoints and malformed options end with a one-line error and exit status 2, never a
traceback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from chainrule.cli import main
from chainrule.train.checkpoint import META_FILE

SMALL = ["--model", "mlp", "--hidden", "16", "--batch-size", "64", "--no-progress"]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("run")
    assert main(["train", *SMALL, "--epochs", "1", "--out", str(folder)]) == 0
    return folder


def without_model_entry(run: Path, copy: Path) -> Path:
    shutil.copytree(run, copy)
    document = json.loads((copy / META_FILE).read_text())
    del document["meta"]["model"]
    (copy / META_FILE).write_text(json.dumps(document))
    return copy


def test_train_with_unknown_data_name_exits_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", *SMALL, "--data", "nope", "--out", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("chainrule train: ")
    assert "'nope'" in error
    assert "Traceback" not in error


def test_train_with_folder_lacking_idx_files_exits_2_saying_what_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", *SMALL, "--data", str(tmp_path), "--out", str(tmp_path / "run")]) == 2
    assert "could not find the four MNIST files" in capsys.readouterr().err


def test_train_resume_of_checkpoint_without_model_exits_2(
    trained_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = without_model_entry(trained_run, tmp_path / "broken")
    capsys.readouterr()
    assert main(["train", "--resume", str(broken), "--no-progress"]) == 2
    assert "does not fit the run it describes" in capsys.readouterr().err


def test_evaluate_of_checkpoint_without_model_names_the_missing_entry(
    trained_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = without_model_entry(trained_run, tmp_path / "broken")
    capsys.readouterr()
    assert main(["evaluate", str(broken)]) == 2
    error = capsys.readouterr().err
    assert "'model'" in error
    assert "corrupt" in error


def test_evaluate_on_folder_lacking_idx_files_exits_2(
    trained_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["evaluate", str(trained_run), "--data", str(tmp_path)]) == 2
    assert "could not find the four MNIST files" in capsys.readouterr().err


def test_evaluate_on_unknown_data_names_the_option_under_its_own_command(
    trained_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    missing = tmp_path / "nothere"
    assert main(["evaluate", str(trained_run), "--data", str(missing)]) == 2
    assert capsys.readouterr().err.startswith(
        f"chainrule evaluate: --data {str(missing)!r} is neither digits, fashion-mnist, mnist "
        "nor a folder"
    )


def test_train_hidden_of_zero_is_refused_with_the_reason(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["train", "--hidden", "0"])
    assert exited.value.code == 2
    assert "positive layer sizes such as 256,128" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("options", "fix"),
    [
        (["--hidden", "10"], "add --model mlp"),
        (["--momentum", "0.5"], "add --optimizer momentum"),
    ],
)
def test_train_refuses_an_option_the_run_would_ignore(
    options: list[str], fix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", *options, "--out", str(tmp_path / "run")]) == 2
    assert fix in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_train_refuses_an_infinite_learning_rate_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", "--lr", "inf", "--out", str(tmp_path / "run")]) == 2
    assert "--lr must be positive and finite, got inf" in capsys.readouterr().err


def test_a_train_error_names_the_command_once(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["train", "--epochs", "0", "--out", str(tmp_path / "run")]) == 2
    message = capsys.readouterr().err
    assert message.startswith("chainrule train: --epochs")
    assert "train: train:" not in message


def write_idx_set(folder: Path, *, n_train: int, test_size: int = 28) -> Path:
    from chainrule.data import save_idx

    rng = np.random.default_rng(0)
    folder.mkdir()
    save_idx(
        folder / "train-images-idx3-ubyte.gz",
        rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
    )
    save_idx(folder / "train-labels-idx1-ubyte.gz", rng.integers(0, 10, n_train, dtype=np.uint8))
    save_idx(
        folder / "t10k-images-idx3-ubyte.gz",
        rng.integers(0, 256, (3, test_size, test_size), dtype=np.uint8),
    )
    save_idx(folder / "t10k-labels-idx1-ubyte.gz", rng.integers(0, 10, 3, dtype=np.uint8))
    return folder


def test_train_on_one_training_image_names_the_minimum_for_a_validation_split(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_idx_set(tmp_path / "data", n_train=1)
    assert main(["train", *SMALL, "--data", str(data), "--out", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err
    assert error == (
        f"chainrule train: --data {data} holds 1 training images; cutting off a "
        f"validation set of 0.1 needs at least 2\n"
    )


def test_train_with_test_images_of_another_size_stops_before_the_first_epoch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_idx_set(tmp_path / "data", n_train=20, test_size=14)
    assert main(["train", *SMALL, "--data", str(data), "--out", str(tmp_path / "run")]) == 2
    captured = capsys.readouterr()
    assert "holds images of 14x14 pixels but" in captured.err
    assert "epoch   1/" not in captured.out


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ["--optimizer", "momentum", "--momentum", "-0.5"],
            "--momentum must be a finite number >= 0, got -0.5",
        ),
        (
            ["--optimizer", "momentum", "--momentum", "nan"],
            "--momentum must be a finite number >= 0, got nan",
        ),
        (["--lr", "nan"], "--lr must be positive and finite, got nan"),
        (["--weight-decay", "inf"], "--weight-decay must be a finite number >= 0, got inf"),
        (["--weight-decay", "nan"], "--weight-decay must be a finite number >= 0, got nan"),
    ],
    ids=["momentum-negative", "momentum-nan", "lr-nan", "weight-decay-inf", "weight-decay-nan"],
)
def test_train_refuses_a_bad_hyperparameter_in_one_line_with_exit_2(
    options: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", *options, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err == f"chainrule train: {message}\n"
    assert not (tmp_path / "run").exists()


def test_evaluate_on_images_of_another_size_names_the_sizes_not_the_checkpoint(
    trained_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_idx_set(tmp_path / "data", n_train=20)
    capsys.readouterr()
    assert main(["evaluate", str(trained_run), "--data", str(data)]) == 2
    captured = capsys.readouterr()
    assert captured.err == (
        f"chainrule evaluate: the run's model takes 64 inputs (pixels per "
        f"image), but --data {data} holds images of 784 pixels; evaluate "
        f"on images of the size the run was trained on\n"
    )
    assert captured.out == ""
