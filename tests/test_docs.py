"""The documentation's sources: tutorials as text notebooks without stored outputs, all in
the table of contents, executed on every build, and an API reference covering every public
package. (Building the docs, which executes the tutorials, is CI's sphinx-build -W step.)"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import chainrule

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
TUTORIALS = sorted((DOCS / "tutorials").glob("*.md"))


def _subpackages() -> list[str]:
    """Every public name of `chainrule` that is a module with its own `__all__`."""
    modules = [
        f"chainrule.{name}"
        for name in chainrule.__all__
        if type(getattr(chainrule, name)).__name__ == "module"
    ]
    others = ["chainrule.data", "chainrule.train", "chainrule.compiler", "chainrule.explanation"]
    return sorted(modules + others)


def test_there_are_five_tutorials_in_the_table_of_contents() -> None:
    index = (DOCS / "index.md").read_text()
    assert len(TUTORIALS) == 5
    for path in TUTORIALS:
        assert f"tutorials/{path.stem}\n" in index


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda path: path.stem)
def test_tutorial_is_a_myst_notebook_with_code_cells(path: Path) -> None:
    text = path.read_text()
    assert text.startswith("---\nfile_format: mystnb\n")
    assert text.count("```{code-cell} ipython3") >= 3


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda path: path.stem)
def test_tutorial_stores_no_outputs(path: Path) -> None:
    text = path.read_text()
    assert "execution_count" not in text
    assert '"outputs"' not in text


def test_tutorials_execute_on_every_build_and_a_failing_cell_fails_it() -> None:
    conf = (DOCS / "conf.py").read_text()
    assert re.search(r'^nb_execution_mode = "force"$', conf, re.M)
    assert re.search(r"^nb_execution_raise_on_error = True$", conf, re.M)


@pytest.mark.parametrize("module", _subpackages())
def test_api_reference_documents_each_public_package(module: str) -> None:
    importlib.import_module(module)
    assert f".. automodule:: {module}\n   :members:\n" in (DOCS / "api.md").read_text()


def test_docs_extra_has_what_the_build_needs() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    names = {re.split(r"[<>=\[]", requirement)[0] for requirement in extras["docs"]}
    assert {"sphinx", "myst-nb", "furo", "ipykernel", "nbclient"} <= names
    test_names = {re.split(r"[<>=\[]", requirement)[0] for requirement in extras["test"]}
    assert {"nbclient", "nbformat", "ipykernel"} <= test_names


def test_the_build_documents_and_executes_this_checkouts_chainrule(tmp_path: Path) -> None:
    # Another chainrule first on the path, as a venv shared between worktrees has one.
    other = tmp_path / "other" / "chainrule"
    other.mkdir(parents=True)
    (other / "__init__.py").write_text('__version__ = "other"\n')
    script = (
        "import os, runpy, sys; conf = runpy.run_path(sys.argv[1]); "
        "print(conf['chainrule'].__file__); print(os.environ['PYTHONPATH'])"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(DOCS / "conf.py")],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(other.parent)},
    )
    module_file, pythonpath = done.stdout.splitlines()
    src = ROOT / "src"
    assert Path(module_file).resolve().is_relative_to(src.resolve())
    assert pythonpath.split(os.pathsep)[0] == str(src)


@pytest.mark.parametrize(
    ("module", "name"),
    [
        *[
            ("chainrule", name)
            for name in [
                "chunk",
                "unbind",
                "amax",
                "amin",
                "bmm",
                "mm",
                "addmm",
                "baddbmm",
                "scatter",
                "put_along_axis",
                "nan_to_num",
                "narrow",
                "clone",
                "zeros",
                "ones",
                "full",
                "zeros_like",
                "ones_like",
                "full_like",
                "arange",
                "linspace",
                "eye",
                "rand",
                "randn",
            ]
        ],
        *[
            ("chainrule.functional", name)
            for name in [
                "normalize",
                "cosine_similarity",
                "pairwise_distance",
                "cdist",
                "interpolate",
            ]
        ],
    ],
)
def test_the_vocabulary_added_last_is_public_so_the_api_reference_lists_it(
    module: str, name: str
) -> None:
    # api.md documents each module's __all__ (automodule :members:); Tensor's methods (view,
    # view_as, expand_as) and nn.Embedding's max_norm come with their classes.
    assert name in importlib.import_module(module).__all__
    assert getattr(importlib.import_module(module), name).__doc__


def test_tutorial_3s_learning_rates_are_the_ones_a_default_six_epoch_run_uses(
    tmp_path: Path,
) -> None:
    from chainrule.train import TrainConfig, train

    text = " ".join((DOCS / "tutorials" / "03-training.md").read_text().split())
    claim = re.search(r"starts at ([\d.]+) and runs its sixth and last epoch at ([\d.]+)", text)
    assert claim is not None
    run = train(TrainConfig(epochs=6), tmp_path / "run", progress=False, echo=lambda line: None)
    first, last = run.history[0]["lr"], run.history[-1]["lr"]
    assert f"{first:.3g}" == claim[1]
    assert f"{last:.1g}" == claim[2]
    assert last > 0  # the cosine reaches 0 one epoch after the last, never during the run


def test_tutorial_3s_training_loss_is_the_mean_the_training_loop_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tutorial said "the mean over the epoch's mini-batches"; the loop weights each
    batch's loss by its size (the mean over the samples), which differs when the last batch
    is short. A step whose loss is its batch size tells the two apart."""
    from chainrule.train import TrainConfig
    from chainrule.train.loop import Trainer, _Hang

    text = " ".join((DOCS / "tutorials" / "03-training.md").read_text().split())
    assert "The **training** loss is the mean over the epoch's samples" in text
    trainer = Trainer(TrainConfig(epochs=1, batch_size=500), tmp_path / "run")
    monkeypatch.setattr(trainer.engine, "train_step", lambda x, y, optimizer: float(len(x)))
    sizes = [len(x) for x, _ in trainer.loader]
    assert len(set(sizes)) == 2  # a short last batch
    record = trainer.run_epoch(progress=False, hang=_Hang(tmp_path))
    per_sample = sum(size * size for size in sizes) / sum(sizes)
    assert record["train_loss"] == pytest.approx(per_sample, rel=1e-12)
    assert record["train_loss"] != pytest.approx(sum(sizes) / len(sizes), rel=1e-3)


def test_tutorial_1_runs_each_slip_of_the_tutorial_and_the_check_names_it() -> None:
    """Page 1 says each of the tutorial's slips is run and caught: run its cells and read
    what the checks print for each (the dropped minus, 2/N with ten outputs, the scalar w1
    and b1 gradients, x summed over every sample, the mask outside the sum)."""
    text = (DOCS / "tutorials" / "01-chain-rule-by-hand.md").read_text()
    cells = re.findall(r"```\{code-cell\} ipython3\n(.*?)```", text, flags=re.S)
    printed = io.StringIO()
    namespace: dict[str, object] = {"__name__": "__main__"}
    with contextlib.redirect_stdout(printed):
        for cell in cells:
            exec(compile(cell, "01-chain-rule-by-hand", "exec"), namespace)
    out = printed.getvalue()
    for said in (
        "sign flipped (got = -expected): a dropped minus",
        "off by a factor of 10 (= n_out)",
        "w1  SHAPE MISMATCH  got () expected (64, 16)",
        "summed over the wrong axis: got () and expected (16,)",
        "summed over axis 0 where no sum belongs: got (64,) is expected (8, 64)",
        "ReLU mask from the wrong tensor?",
    ):
        assert said in out, said
    assert out.count("  close  ") == 5  # w2, b2, w1, b1, x against finite differences
