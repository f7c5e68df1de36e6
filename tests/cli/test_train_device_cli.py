"""`chainrule train --device`: cpu (NumPy, the default) or cuda (CuPy on an NVIDIA GPU). Where
CuPy or a GPU is missing, --device cuda exits with status 2 and one line saying what is
missing and how to install it; this machine has no GPU, so the CuPy run itself is not here."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from chainrule.cli import main
from chainrule.train.config import TrainConfig

SMALL = ["--model", "mlp", "--hidden", "16", "--epochs", "1", "--no-progress"]


def test_device_cuda_without_cupy_exits_2_with_one_line_naming_the_install(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "cupy", None)  # `import cupy` fails, as where it is absent
    folder = tmp_path / "run"
    assert main(["train", *SMALL, "--device", "cuda", "--out", str(folder)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert lines == [
        "chainrule train: --device cuda: CuPy is not installed; install it with "
        "pip install 'chainrule[cuda]'"
    ]
    assert captured.out == ""
    assert not folder.exists()


def test_device_cuda_with_compile_or_the_manual_engine_is_refused_by_name(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["train", *SMALL, "--device", "cuda", "--compile"]) == 2
    assert "--engine manual and --compile compute in NumPy" in capsys.readouterr().err
    assert main(["train", *SMALL, "--device", "cuda", "--engine", "manual"]) == 2
    assert "use --device cpu" in capsys.readouterr().err


def test_an_unknown_device_is_refused_by_argparse(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["train", *SMALL, "--device", "tpu"])
    assert exited.value.code == 2
    assert "invalid choice: 'tpu'" in capsys.readouterr().err


def test_the_device_is_saved_with_the_config_and_older_configs_train_on_the_cpu() -> None:
    assert TrainConfig().device == "cpu"
    assert TrainConfig(device="cuda").to_json()["device"] == "cuda"
    saved = TrainConfig().to_json()
    del saved["device"]  # written before --device existed
    assert TrainConfig.from_json(saved).device == "cpu"


def test_evaluating_a_cuda_run_without_cupy_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The weights are saved as NumPy arrays, but the run's model is rebuilt on its device:
    # without CuPy that was a RuntimeError traceback from deep inside Tensor.to.
    folder = tmp_path / "run"
    assert main(["train", *SMALL, "--out", str(folder)]) == 0
    meta_path = folder / "checkpoint.json"
    document = json.loads(meta_path.read_text())
    document["meta"]["config"]["device"] = "cuda"  # as a run trained on a GPU saves it
    meta_path.write_text(json.dumps(document))
    capsys.readouterr()
    monkeypatch.setitem(sys.modules, "cupy", None)  # `import cupy` fails, as where it is absent
    assert main(["evaluate", str(folder)]) == 2
    captured = capsys.readouterr()
    assert captured.err.strip().splitlines() == [
        "chainrule evaluate: the run was trained with --device cuda, which it is evaluated "
        "on: CuPy is not installed; install it with pip install 'chainrule[cuda]'"
    ]
    assert captured.out == ""
    assert not (folder / "confusion.png").exists()
