"""The starter a learner fills in: one function per exercise with its signature (what the
forward pass stored, with shapes) and a docstring stating the task, as `exercises.py` and,
on request, the same as a notebook `exercises.ipynb`."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from chainrule.exercises.catalogue import EXERCISES, Exercise
from chainrule.exercises.notebook import CHECK_TAG, code_cell, markdown_cell, notebook

STARTER_FILE = "exercises.py"
NOTEBOOK_FILE = "exercises.ipynb"

INTRODUCTION = """\
Backpropagation exercises, after the chainrule tutorial.

The tutorial network, for x (N, n_in) and y (N, n_out):
    u1 = x @ w1 + b1      w1 (n_in, n_hidden), b1 (n_hidden,)
    u2 = max(0, u1)
    u3 = u2 @ w2 + b2     w2 (n_hidden, n_out), b2 (n_out,)
    u4 = y - u3
    u5 = u4**2
    loss = mean(u5)       the mean over all N * n_out entries

Each function receives what the forward pass stored (and, where the docstring says so, an
upstream gradient already derived: du2 stands for dloss/du2) and returns dloss/d(name) as a
NumPy array of exactly the shape of what it differentiates. dloss_dw1 is worked for you.
Run `chainrule exercises check` in this folder to grade them on random shapes (N = 1 and
n_out > 1 among them), `--hint 1` (up to 3) for hints, `--solution NAME` for a derivation.
"""


def _signature(exercise: Exercise) -> str:
    arguments = ", ".join(f"{name}: np.ndarray" for name, _ in exercise.arguments)
    return f"def {exercise.function}({arguments}) -> np.ndarray:"


def function_source(exercise: Exercise) -> str:
    """The exercise's function: signature, docstring, and the worked body or a stub."""
    arguments = "\n".join(f"        {name}: {meaning}" for name, meaning in exercise.arguments)
    task = textwrap.fill(exercise.task, width=88, initial_indent="    ", subsequent_indent="    ")
    body = exercise.worked or f'raise NotImplementedError("{exercise.function}: not done yet")'
    return (
        f'{_signature(exercise)}\n    """{exercise.title}.\n\n{task}\n\n'
        f"    Arguments:\n{arguments}\n\n    Returns:\n        dloss/d"
        f'{exercise.name.split("_")[-1]}, shape {exercise.returns}.\n    """\n'
        + textwrap.indent(body, "    ")
        + "\n"
    )


def starter_source() -> str:
    """The text of exercises.py."""
    functions = "\n\n".join(function_source(exercise) for exercise in EXERCISES)
    return f'"""{INTRODUCTION}"""\n\nimport numpy as np\n\n\n{functions}'


def starter_notebook() -> str:
    """The text of exercises.ipynb: the introduction, then per exercise its task, its
    function and a cell (tagged chainrule-check) that checks it in the notebook."""
    cells = [
        markdown_cell(
            "# Backpropagation exercises\n\n```\n" + INTRODUCTION + "```\n", "introduction"
        ),
        code_cell("import numpy as np\n\nfrom chainrule.exercises import check\n", "imports"),
    ]
    for exercise in EXERCISES:
        cells.append(
            markdown_cell(f"## {exercise.title}\n\n{exercise.task}\n", f"{exercise.name}-task")
        )
        cells.append(code_cell(function_source(exercise), f"{exercise.name}-code"))
        cells.append(
            code_cell(
                f'print(check("{exercise.name}", {exercise.function}))\n',
                f"{exercise.name}-check",
                tags=(CHECK_TAG,),
            )
        )
    return json.dumps(notebook(cells), indent=1) + "\n"


def write_starter(folder: Path, *, notebook: bool = False, force: bool = False) -> list[Path]:
    """Write exercises.py (and exercises.ipynb with `notebook`) into `folder`, creating it;
    existing files are kept unless `force`. Returns the paths written."""
    contents = {folder / STARTER_FILE: starter_source()}
    if notebook:
        contents[folder / NOTEBOOK_FILE] = starter_notebook()
    existing = [path for path in contents if path.exists()]
    if existing and not force:
        names = ", ".join(str(path) for path in existing)
        verb = "exists and may hold" if len(existing) == 1 else "exist and may hold"
        raise FileExistsError(
            f"{names} already {verb} your work: check it with `chainrule "
            "exercises check`, or pass --force to overwrite"
        )
    folder.mkdir(parents=True, exist_ok=True)
    for path, text in contents.items():
        path.write_text(text)
    return list(contents)
