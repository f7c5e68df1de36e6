"""The starter: exercises.py with a function per exercise (signature with shapes, the task,
no answer) and the same as an nbformat v4 notebook written with the json module."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from chainrule.exercises import EXERCISES, starter_notebook, starter_source, write_starter
from chainrule.exercises.notebook import CHECK_TAG, notebook_code


def functions_of(source: str) -> dict[str, ast.FunctionDef]:
    tree = ast.parse(source)
    return {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}


def test_the_starter_defines_one_function_per_exercise_with_its_arguments() -> None:
    functions = functions_of(starter_source())
    assert list(functions) == [exercise.function for exercise in EXERCISES]
    for exercise in EXERCISES:
        arguments = [argument.arg for argument in functions[exercise.function].args.args]
        assert arguments == [name for name, _ in exercise.arguments]


def test_each_docstring_states_the_argument_and_answer_shapes() -> None:
    functions = functions_of(starter_source())
    for exercise in EXERCISES:
        docstring = ast.get_docstring(functions[exercise.function]) or ""
        for name, meaning in exercise.arguments:
            assert f"{name}: {meaning}" in docstring
        assert f"shape {exercise.returns}." in docstring


def test_only_the_worked_example_has_a_body_the_rest_are_stubs() -> None:
    functions = functions_of(starter_source())
    for exercise in EXERCISES:
        last = functions[exercise.function].body[-1]
        if exercise.name == "w1":
            assert isinstance(last, ast.Return)
        else:
            assert isinstance(last, ast.Raise)
            assert "NotImplementedError" in ast.unparse(last)


def test_the_notebook_is_nbformat_4_json_with_a_task_code_and_check_cell_per_exercise() -> None:
    document = json.loads(starter_notebook())
    assert (document["nbformat"], document["nbformat_minor"]) == (4, 5)
    assert document["metadata"]["kernelspec"]["name"] == "python3"
    cells = document["cells"]
    assert [cell["cell_type"] for cell in cells] == ["markdown", "code"] + [
        "markdown",
        "code",
        "code",
    ] * len(EXERCISES)
    for index, exercise in enumerate(EXERCISES):
        task, code, check = cells[2 + 3 * index : 5 + 3 * index]
        assert "".join(task["source"]).startswith(f"## {exercise.title}")
        assert f"def {exercise.function}(" in "".join(code["source"])
        assert "".join(check["source"]) == (
            f'print(check("{exercise.name}", {exercise.function}))\n'
        )
        assert check["metadata"]["tags"] == [CHECK_TAG]
        assert code["outputs"] == []
        assert code["execution_count"] is None
    assert len({cell["id"] for cell in cells}) == len(cells)


def test_the_notebook_validates_against_nbformat_where_it_is_installed() -> None:
    try:
        import nbformat
    except ImportError:
        return  # nbformat is not a dependency; the JSON structure is checked above
    nbformat.validate(nbformat.reads(starter_notebook(), as_version=4))


def test_the_notebooks_code_without_check_cells_is_the_starters_functions(
    tmp_path: Path,
) -> None:
    path = tmp_path / "exercises.ipynb"
    path.write_text(starter_notebook())
    script = notebook_code(path)
    assert functions_of(script).keys() == functions_of(starter_source()).keys()
    assert "print(check(" not in script


def test_magics_in_a_notebook_are_commented_out_when_checked(tmp_path: Path) -> None:
    path = tmp_path / "work.ipynb"
    cell = {"cell_type": "code", "metadata": {}, "source": ["%matplotlib inline\n", "x = 1\n"]}
    path.write_text(json.dumps({"cells": [cell], "nbformat": 4, "nbformat_minor": 5}))
    assert notebook_code(path) == "# %matplotlib inline\nx = 1\n"


def test_a_file_that_is_not_a_notebook_is_a_value_error_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "broken.ipynb"
    path.write_text("{")
    with pytest.raises(ValueError, match=r"is not a Jupyter notebook .*save the notebook again"):
        notebook_code(path)


@pytest.mark.parametrize(
    ("cells", "why"),
    [
        ('{"a": 1}', 'its cells are {"a": 1}, not a list'),
        ('["x = 1"]', 'cell 0 is "x = 1", not an object'),
        ('[{"cell_type": "code", "metadata": null}]', "cell 0's metadata is null, not an object"),
        (
            '[{"cell_type": "code", "metadata": {"tags": "chainrule-check"}}]',
            'cell 0\'s tags are "chainrule-check", not a list',
        ),
    ],
)
def test_a_hand_edited_notebook_with_a_bad_cell_names_it(
    tmp_path: Path, cells: str, why: str
) -> None:
    path = tmp_path / "exercises.ipynb"
    path.write_text('{"nbformat": 4, "cells": ' + cells + "}")
    with pytest.raises(ValueError, match="save the notebook again") as error:
        notebook_code(path)
    assert str(error.value).startswith(f"{path} is not a Jupyter notebook ({why}); ")


def test_write_starter_refuses_to_overwrite_and_names_the_file(tmp_path: Path) -> None:
    write_starter(tmp_path, notebook=True)
    with pytest.raises(FileExistsError, match=r"exercises.py, .*exercises.ipynb already exist and"):
        write_starter(tmp_path, notebook=True)


def test_write_starter_creates_the_folder(tmp_path: Path) -> None:
    written = write_starter(tmp_path / "course" / "week1")
    assert written == [tmp_path / "course" / "week1" / "exercises.py"]
    assert written[0].read_text() == starter_source()
