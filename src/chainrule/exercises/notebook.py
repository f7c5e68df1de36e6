"""Notebooks as plain JSON (nbformat v4, no dependency): writing the starter notebook, and
reading a learner's notebook back as a Python script of its code cells.

Cells tagged `chainrule-check` (the in-notebook `check(...)` calls) are left out of the
script, and IPython's `%magic` and `!shell` lines are commented out.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CHECK_TAG = "chainrule-check"


def markdown_cell(source: str, cell_id: str) -> dict[str, Any]:
    return {
        "cell_type": "markdown",
        "id": cell_id,
        "metadata": {},
        "source": source.splitlines(keepends=True),
    }


def code_cell(source: str, cell_id: str, *, tags: tuple[str, ...] = ()) -> dict[str, Any]:
    metadata: dict[str, Any] = {"tags": list(tags)} if tags else {}
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": cell_id,
        "metadata": metadata,
        "outputs": [],
        "source": source.splitlines(keepends=True),
    }


def notebook(cells: list[dict[str, Any]]) -> dict[str, Any]:
    """An nbformat 4.5 notebook of `cells`, for a Python 3 kernel."""
    return {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def notebook_code(path: Path) -> str:
    """The code cells of the notebook at `path` as one script, cells in order."""
    return SCRIPT_SEPARATOR.join(_code_cells(path)) + "\n"


SCRIPT_SEPARATOR = "\n\n"


def cell_of_line(path: Path, line: int) -> str | None:
    """Where line `line` of `notebook_code(path)` comes from, in words a reader of the
    notebook can find: "line 3 of the cell that begins 'def dloss_db2(u4):'" (None when the
    line is past the script)."""
    start = 1
    for text in _code_cells(path):
        lines = text.split("\n")
        if start <= line < start + len(lines):
            first = next((text.strip() for text in lines if text.strip()), "")
            return f"line {line - start + 1} of the cell that begins {first!r}"
        start += len(lines) - 1 + SCRIPT_SEPARATOR.count("\n")
    return None


def _code_cells(path: Path) -> list[str]:
    """The text of each code cell not tagged `CHECK_TAG`, with magics and shell lines
    commented out."""
    try:
        document = json.loads(path.read_text())
        cells = document["cells"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise _not_a_notebook(path, str(error)) from error
    if not isinstance(cells, list):
        raise _not_a_notebook(path, f"its cells are {json.dumps(cells)[:40]}, not a list")
    chunks: list[str] = []
    for index, cell in enumerate(cells):
        if not isinstance(cell, dict):
            raise _not_a_notebook(path, f"cell {index} is {json.dumps(cell)[:40]}, not an object")
        metadata = cell.get("metadata", {})
        if not isinstance(metadata, dict):
            raise _not_a_notebook(
                path, f"cell {index}'s metadata is {json.dumps(metadata)[:40]}, not an object"
            )
        tags = metadata.get("tags", [])
        if not isinstance(tags, list):
            raise _not_a_notebook(
                path, f"cell {index}'s tags are {json.dumps(tags)[:40]}, not a list"
            )
        if cell.get("cell_type") != "code" or CHECK_TAG in tags:
            continue
        source = cell.get("source", "")
        text = "".join(source) if isinstance(source, list) else str(source)
        chunks.append(
            "\n".join(
                f"# {line}" if line.lstrip().startswith(("%", "!")) else line
                for line in text.splitlines()
            )
        )
    return chunks


def _not_a_notebook(path: Path, why: str) -> ValueError:
    return ValueError(
        f"{path} is not a Jupyter notebook ({why}); check a .py file instead, or save the "
        "notebook again from Jupyter"
    )
