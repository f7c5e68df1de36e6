"""`--compile xla` where JAX is missing: `chainrule train` refuses it in one line before any
work, and `chainrule evaluate` scores an xla run without JAX (evaluating runs no step)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from chainrule.cli import main
from chainrule.train.checkpoint import META_FILE

SMALL = ["--model", "mlp", "--hidden", "16", "--batch-size", "256", "--no-progress"]


def _without_jax(monkeypatch: pytest.MonkeyPatch) -> None:
    for module in ("jax", "jaxlib"):
        monkeypatch.setitem(sys.modules, module, None)  # `import jax` fails, as where absent
    # The XLA backend imported by an earlier test would not import JAX again.
    monkeypatch.delitem(sys.modules, "chainrule.compiler.xla", raising=False)


def test_train_compile_xla_without_jax_exits_2_in_one_line_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # It failed with an ImportError traceback when the first step was compiled.
    _without_jax(monkeypatch)
    folder = tmp_path / "run"
    argv = ["train", *SMALL, "--epochs", "1", "--compile", "xla", "--out", str(folder)]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.strip().splitlines() == [
        "chainrule train: --compile xla needs JAX, which is not installed; install it with "
        "pip install 'chainrule[xla]', or use --compile (the NumPy replay)"
    ]
    assert captured.out == ""
    assert not folder.exists()


def test_evaluate_scores_an_xla_run_without_jax(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Evaluating built the run's compiled engine, and failed with an ImportError traceback.
    folder = tmp_path / "run"
    assert main(["train", *SMALL, "--epochs", "1", "--compile", "--out", str(folder)]) == 0
    meta_path = folder / META_FILE
    document = json.loads(meta_path.read_text())
    document["meta"]["config"]["compile_backend"] = "xla"  # as an --compile xla run saves it
    meta_path.write_text(json.dumps(document))
    capsys.readouterr()
    with monkeypatch.context() as patched:
        _without_jax(patched)
        assert main(["evaluate", str(folder)]) == 0
        without = capsys.readouterr().out.splitlines()[-1]
    assert without.startswith("test accuracy 0.")
    document["meta"]["config"]["compile_backend"] = "numpy"
    meta_path.write_text(json.dumps(document))
    assert main(["evaluate", str(folder)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == without  # the numpy run's score
