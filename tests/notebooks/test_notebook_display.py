"""Notebooks executed in a real Jupyter kernel (nbclient): each displayable chainrule result
arrives with its rich MIME types, checked on the kernel's own output."""

from __future__ import annotations

import gc
import json
import shutil
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

import chainrule

nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")
kernel_manager = pytest.importorskip("jupyter_client.manager")
kernel_spec = pytest.importorskip("jupyter_client.kernelspec")

SRC = Path(chainrule.__file__).resolve().parents[1]

SETUP = """\
import numpy as np
import chainrule
from chainrule.check import compare, gradcheck
from chainrule.explanation import tutorial_network
net = tutorial_network(4, 3, 5, 2, rng=np.random.default_rng(0))
"""

CELLS = {
    "explain": "chainrule.explain(net['loss'], net['w1'])",
    "draw": "chainrule.draw(net['loss'], net['w1'])",
    "gradcheck": (
        "point = np.array([1.0, -2.0])\n"
        "gradcheck(lambda a: float(np.sum(a['w'] ** 2)), {'w': point},\n"
        "          {'w': 2 * point})"
    ),
    "compare": "compare('dw1', np.ones(3), np.ones(3))",
    "train": (
        "from chainrule.train import TrainConfig, train\n"
        "run = train(TrainConfig(epochs=1, batch_size=256), RUN_FOLDER, progress=False,\n"
        "            echo=lambda line: None)\n"
        "run"
    ),
    "history": "run.history",
}


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Execute one notebook with a cell per display; the data bundle of each cell's result."""
    folder = tmp_path_factory.mktemp("notebook")
    spec_dir = folder / "kernels" / "chainrule-test"
    spec_dir.mkdir(parents=True)
    # This interpreter, with this chainrule on its path: the kernel sees exactly what the
    # tests import, in a fresh CI venv as on a laptop.
    (spec_dir / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "chainrule tests",
                "language": "python",
                "env": {"PYTHONPATH": str(SRC)},
            }
        )
    )
    specs = kernel_spec.KernelSpecManager(kernel_dirs=[str(folder / "kernels")])
    manager = kernel_manager.KernelManager(kernel_name="chainrule-test", kernel_spec_manager=specs)
    setup = SETUP + f"RUN_FOLDER = __import__('pathlib').Path({str(folder / 'run')!r})\n"
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(setup)] + [
        nbformat.v4.new_code_cell(source, metadata={"name": name}) for name, source in CELLS.items()
    ]
    client = nbclient.NotebookClient(
        notebook, km=manager, timeout=120, resources={"metadata": {"path": str(folder)}}
    )
    client.execute()
    # The Jupyter client leaves its zmq sockets to the garbage collector, which warns; collect
    # them here, where that warning is expected, instead of in some later test.
    del client, manager
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
    bundles: dict[str, dict[str, Any]] = {}
    for cell in notebook.cells[1:]:
        results = [output for output in cell.outputs if output.output_type == "execute_result"]
        assert len(results) == 1, f"cell {cell.metadata['name']}: outputs {cell.outputs}"
        bundles[cell.metadata["name"]] = dict(results[0]["data"])
    return bundles


def test_explain_displays_as_markdown_latex_and_html(outputs: dict[str, dict[str, Any]]) -> None:
    bundle = outputs["explain"]
    assert {"text/markdown", "text/latex", "text/html"} <= set(bundle)
    assert "| `u2` | `relu(u1)` |" in bundle["text/markdown"]
    assert r"\begin{aligned}" in bundle["text/latex"]
    assert "<details>" in bundle["text/html"]


@pytest.mark.skipif(
    shutil.which("dot") is None, reason="Graphviz's dot is not installed (CI installs it)"
)
def test_draw_displays_as_svg(outputs: dict[str, dict[str, Any]]) -> None:
    bundle = outputs["draw"]
    assert "image/svg+xml" in bundle
    assert "<svg" in bundle["image/svg+xml"]
    assert "text/html" not in bundle


def test_gradcheck_report_displays_as_an_html_table(outputs: dict[str, dict[str, Any]]) -> None:
    html = outputs["gradcheck"]["text/html"]
    assert "<table" in html
    assert "every gradient agrees" in html


def test_compare_displays_as_an_html_table(outputs: dict[str, dict[str, Any]]) -> None:
    html = outputs["compare"]["text/html"]
    assert "<td>exact</td>" in html


def test_a_finished_run_displays_its_loss_curve(outputs: dict[str, dict[str, Any]]) -> None:
    bundle = outputs["train"]
    assert "image/png" in bundle
    assert "text/html" not in bundle


def test_the_training_history_displays_as_an_html_table(outputs: dict[str, dict[str, Any]]) -> None:
    html = outputs["history"]["text/html"]
    assert "<th>val_accuracy</th>" in html
    assert html.count("<tr>") == 2
