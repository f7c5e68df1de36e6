"""`mpiexec -n 2 chainrule evaluate`: rank 0 alone evaluates, prints and writes
confusion.png, as `chainrule train` has rank 0 alone write."""

from __future__ import annotations

from pathlib import Path

from mpi_helpers import Launch

from chainrule.cli import main

EVALUATE_RECORDING_WRITERS = (
    "import os, sys\n"
    "import chainrule.train.plots as plots\n"
    "from chainrule.cli import main\n"
    "real = plots.plot_confusion\n"
    "def recording(matrix, names, path, **keywords):\n"
    "    (path.parent / ('wrote-confusion.' + os.environ['PMI_RANK'])).write_text('')\n"
    "    real(matrix, names, path, **keywords)\n"
    "plots.plot_confusion = recording\n"
    "sys.exit(main(['evaluate', sys.argv[1]]))\n"
)


def test_only_rank_0_evaluates_and_writes_confusion_png(tmp_path: Path, launch: Launch) -> None:
    small = [
        "--model",
        "mlp",
        "--hidden",
        "16",
        "--batch-size",
        "64",
        "--no-progress",
        "--epochs",
        "1",
    ]
    assert main(["train", *small, "--out", str(tmp_path)]) == 0
    result = launch(2, "-c", EVALUATE_RECORDING_WRITERS, str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in tmp_path.glob("wrote-confusion.*")) == ["wrote-confusion.0"]
    assert result.stdout.count("test accuracy") == 1, result.stdout
    assert result.stderr == ""
    assert (tmp_path / "confusion.png").stat().st_size > 0
