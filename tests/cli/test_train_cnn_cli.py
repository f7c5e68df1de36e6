"""`chainrule train --model cnn`: a short run on the 8x8 digits, its checkpoint, evaluate,
resume and --compile; its defaults and refusals."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np
import pytest

from chainrule.cli import build_parser, main
from chainrule.data import save_idx
from chainrule.train import config as train_config
from chainrule.train.checkpoint import ARRAYS_FILE, META_FILE
from chainrule.train.config import CNN_DEFAULTS
from chainrule.train.metrics import TIMING_KEYS, read_metrics
from chainrule.train.models import image_side

README = Path(__file__).resolve().parents[2] / "README.md"
CNN = ["--model", "cnn", "--data", "digits", "--batch-size", "256", "--no-progress"]


def train(*args: str) -> int:
    return main(["train", *CNN, *args])


@pytest.fixture(scope="module")
def cnn_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One epoch of the CNN on the digits, shared by the tests that read its run folder."""
    folder = tmp_path_factory.mktemp("cnn") / "run"
    assert train("--epochs", "1", "--out", str(folder)) == 0
    return folder


def test_cnn_run_saves_its_conv_weights(cnn_run: Path) -> None:
    with np.load(cnn_run / ARRAYS_FILE, allow_pickle=False) as stored:
        assert stored["model/1.weight"].shape == (16, 1, 3, 3)
        assert stored["model/4.weight"].shape == (32, 16, 3, 3)
        assert stored["model/8.weight"].shape == (32 * 2 * 2, 128)


def test_cnn_run_evaluates(cnn_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", str(cnn_run / META_FILE)]) == 0
    assert capsys.readouterr().out.rstrip().splitlines()[-1].startswith("test accuracy 0.")


def test_explain_reads_the_cnn_run_down_to_its_first_conv_weight(
    cnn_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["explain", str(cnn_run), "--wrt", "1.weight", "--examples", "4"]) == 0
    output = capsys.readouterr().out
    assert "= conv2d(u3, 4.weight, 4.bias)" in output
    assert "conv_transpose(., 4.weight): 4.weight flipped, as a transposed convolution" in output
    assert "correlated with .   " in output  # du1/d1.weight: windows of the images
    assert ". routed to each window's max of u2" in output
    assert "all local gradients agree with finite differences" in output


def test_explain_of_the_cnn_run_names_its_images_x(
    cnn_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: "u1 = conv2d(leaf1, 1.weight, 1.bias)": the CNN reshapes x to images without
    # recording it (x needs no gradient), so the graph's leaf was a new, unnamed tensor.
    assert main(["explain", str(cnn_run), "--wrt", "1.weight", "--examples", "2"]) == 0
    output = capsys.readouterr().out
    assert re.search(r"\n  x +\(2, 1, 8, 8\) +data\n", output), output
    assert re.search(r"\n  u1 += conv2d\(x, 1\.weight, 1\.bias\) +\(2, 16, 8, 8\)\n", output)
    assert "leaf" not in output


def test_cnn_run_resumed_matches_the_straight_run(tmp_path: Path) -> None:
    # A constant learning rate, so that a run of 1 epoch may be continued to 2.
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert train("--epochs", "2", "--schedule", "constant", "--out", str(straight)) == 0
    assert train("--epochs", "1", "--schedule", "constant", "--out", str(resumed)) == 0
    assert main(["train", "--resume", str(resumed), "--epochs", "2", "--no-progress"]) == 0

    def losses(folder: Path) -> list[dict]:
        return [
            {key: value for key, value in record.items() if key not in TIMING_KEYS}
            for record in read_metrics(folder)
        ]

    assert losses(resumed) == losses(straight)


def test_cnn_run_compiled_matches_the_eager_run(tmp_path: Path) -> None:
    eager, compiled = tmp_path / "eager", tmp_path / "compiled"
    assert train("--epochs", "1", "--out", str(eager)) == 0
    assert train("--epochs", "1", "--compile", "--out", str(compiled)) == 0
    (eager_record,) = read_metrics(eager)
    (compiled_record,) = read_metrics(compiled)
    assert compiled_record["train_loss"] == pytest.approx(eager_record["train_loss"], rel=1e-5)


def test_cnn_takes_its_own_defaults_where_the_command_line_is_silent(tmp_path: Path) -> None:
    # One epoch given, the rest (batch size, optimizer, learning rate) from CNN_DEFAULTS.
    assert main(["train", "--model", "cnn", "--epochs", "1", "--out", str(tmp_path)]) == 0
    config = json.loads((tmp_path / META_FILE).read_text())["meta"]["config"]
    assert config["epochs"] == 1
    for name in ("batch_size", "optimizer"):
        assert config[name] == CNN_DEFAULTS[name]
    assert config["lr"] == train_config.CNN_DEFAULT_LR[config["optimizer"]] == 0.001


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam", "adamw"])
def test_the_cnns_default_learning_rate_is_its_optimizers_as_help_and_readme_state(
    optimizer: str,
) -> None:
    """`--model cnn --optimizer sgd` trained with Adam's 0.001 (from CNN_DEFAULTS), which
    leaves SGD near chance on the digits, while --lr's help said 0.1 for sgd."""
    from chainrule.cli.train import _plan

    def planned(optimizer: str) -> float | None:
        arguments = ["train", "--model", "cnn", "--optimizer", optimizer]
        return _plan(build_parser().parse_args(arguments))[0].lr

    lr = planned(optimizer)
    if optimizer in ("sgd", "momentum"):
        assert lr != planned("adam")
    lr_help = next(
        action.help or "" for action in _train_parser()._actions if "--lr" in action.option_strings
    )
    assert "with --model cnn" in lr_help
    assert lr == _stated_rates(lr_help.split("with --model cnn")[1])[optimizer]
    readme = " ".join(README.read_text().split())
    claim = re.search(r"a learning rate by optimizer \(([^)]*)\)", readme)
    assert claim is not None, "the README's --model cnn paragraph no longer states the rates"
    assert lr == _stated_rates(claim[1])[optimizer]


def _stated_rates(text: str) -> dict[str, float]:
    """ "0.3 sgd, 0.001 adam/adamw" -> {"sgd": 0.3, "adam": 0.001, "adamw": 0.001}."""
    return {
        name: float(rate)
        for rate, names in re.findall(r"([\d.]+) ([a-z/]+)", text)
        for name in names.split("/")
    }


def _train_parser() -> argparse.ArgumentParser:
    parser = build_parser()
    subparsers = next(
        action for action in parser._actions if isinstance(action, argparse._SubParsersAction)
    )
    return subparsers.choices["train"]


def test_cnn_refuses_the_manual_engine(capsys: pytest.CaptureFixture[str]) -> None:
    assert train("--engine", "manual") == 2
    assert "--engine manual differentiates Linear and ReLU layers by hand" in (
        capsys.readouterr().err
    )


def test_cnn_needs_square_images_with_a_side_divisible_by_four() -> None:
    assert image_side(784) == 28
    assert image_side(64) == 8
    with pytest.raises(ValueError, match=r"square one-channel images .* 100 pixels"):
        image_side(100)


def write_image_folder(folder: Path, rows: int, columns: int) -> Path:
    """An MNIST-format folder of 40 training and 10 test images of rows x columns pixels."""
    from chainrule.data import save_idx

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for prefix, count in (("train", 40), ("t10k", 10)):
        images = rng.integers(0, 256, (count, rows, columns), dtype=np.uint8)
        save_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
        labels = rng.integers(0, 10, count, dtype=np.uint8)
        save_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return folder


@pytest.mark.parametrize(
    ("rows", "columns", "message"),
    [
        # 256 pixels would pass for 16x16: the rows would be cut and restacked unnoticed.
        (32, 8, r"square one-channel images .* but the data's images are 32x8"),
        (10, 10, r"square one-channel images .* but the data's images are 10x10"),
    ],
)
def test_cnn_refuses_images_it_cannot_take_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rows: int, columns: int, message: str
) -> None:
    data = write_image_folder(tmp_path / "data", rows, columns)
    out = str(tmp_path / "run")
    status = main(["train", *CNN[:2], "--data", str(data), "--epochs", "1", "--out", out])
    assert status == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert re.match(r"chainrule train: --model cnn takes " + message, line)
    assert not (tmp_path / "run" / META_FILE).exists()


def test_evaluating_the_cnn_on_images_of_another_size_names_the_sizes_not_the_checkpoint(
    cnn_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 28x28 images pass the CNN's own size check, but its dense layer was built for the
    # 8x8 digits: the weights did not load, blamed on a "corrupt" checkpoint.
    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    for stem, count in (("train", 20), ("t10k", 10)):
        save_idx(
            data / f"{stem}-images-idx3-ubyte.gz", rng.integers(0, 256, (count, 28, 28), np.uint8)
        )
        save_idx(data / f"{stem}-labels-idx1-ubyte.gz", rng.integers(0, 10, count, np.uint8))
    capsys.readouterr()
    assert main(["evaluate", str(cnn_run), "--data", str(data)]) == 2
    captured = capsys.readouterr()
    assert captured.err == (
        f"chainrule evaluate: the run's model does not take the images of --data {data} "
        f"(784 pixels per image): its 8.weight is (128, 128) where these images need "
        f"(1568, 128); evaluate on images of the size the run was trained on\n"
    )
    assert captured.out == ""


def test_resuming_the_cnn_refuses_hidden_sizes_it_does_not_use(
    cnn_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # --hidden 256,128 (the unused default) was accepted and silently ignored.
    capsys.readouterr()
    assert main(["train", "--resume", str(cnn_run), "--hidden", "256,128"]) == 2
    assert "--hidden 256,128 (saved: none, --model cnn does not use it)" in (
        capsys.readouterr().err
    )
