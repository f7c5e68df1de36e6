"""`chainrule exercises init/check` end to end: a right answer passes, a wrong one of each
classic kind is named in its line, the starter runs, hints and derivations print."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from exercise_answers import RIGHT, WORKED_W1, WRONG, write_answers

from chainrule.cli import main
from chainrule.exercises import EXERCISES, get_exercise

SEED = "20261130"


def check_lines(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, str]]:
    """Exit status and each exercise's line, by exercise name."""
    status = main(["exercises", "check", *args])
    lines = capsys.readouterr().out.splitlines()
    by_name = {}
    for exercise in EXERCISES:
        found = [line for line in lines if line.split()[:1] == [exercise.function]]
        if found:
            by_name[exercise.name] = found[0]
    return status, by_name


def assert_each_named(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, kind: str, pattern: str
) -> None:
    path = write_answers(tmp_path / "exercises.py", WRONG[kind])
    status, lines = check_lines(capsys, str(path), "--seed", SEED, "--only", ",".join(WRONG[kind]))
    assert status == 1
    assert sorted(lines) == sorted(WRONG[kind])
    for name, line in lines.items():
        assert line.startswith(f"{get_exercise(name).function} ")
        assert " wrong at N=" in line, line
        assert re.search(pattern, line), line


def test_right_answers_to_every_exercise_pass_with_exit_0(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    path = write_answers(tmp_path / "exercises.py", RIGHT)
    status, lines = check_lines(capsys, str(path))
    assert status == 0
    assert lines == {name: f"{get_exercise(name).function:<15} ok" for name in RIGHT}


def test_a_flipped_sign_is_named_in_every_exercise(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    assert_each_named(capsys, tmp_path, "sign", r"sign flipped \(got = -expected\)")


def test_a_factor_n_is_named_in_every_exercise(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    assert_each_named(
        capsys, tmp_path, "factor_n", r"off by a factor of \S+ \(= (1/)?N( \* n_out)?\)"
    )


def test_the_factor_n_out_of_two_over_n_is_named(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    assert_each_named(
        capsys,
        tmp_path,
        "factor_n_out",
        r"off by a factor of \d+ \(= n_out\): 2 / N where the loss averages",
    )


def test_a_missing_2_is_named_in_every_exercise_with_a_square(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    assert_each_named(
        capsys,
        tmp_path,
        "missing_2",
        r"off by a factor of 0\.5: the 2 from d\(u\*\*2\)/du = 2u missing\?",
    )


def test_a_transpose_is_named_in_every_exercise_with_a_matrix_product(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    assert_each_named(capsys, tmp_path, "transpose", r": transposed: got \(\d+, \d+\) equals")


def test_a_sum_over_the_wrong_axis_is_named(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    assert_each_named(
        capsys,
        tmp_path,
        "wrong_axis",
        r": summed over (the wrong axis|axis 1 "
        r"instead of axis 0)",
    )


def test_a_relu_mask_from_the_wrong_tensor_is_named(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    assert_each_named(
        capsys, tmp_path, "mask", r"wrong entries zeroed: the ReLU mask comes from the wrong tensor"
    )


def test_a_wrong_shape_is_named_in_every_exercise(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    assert_each_named(
        capsys,
        tmp_path,
        "shape",
        r"shape differs: got \([\d, ]*\), expected \([\d, ]*\); the values are "
        r"right, only the shape",
    )


def test_a_line_of_a_wrong_answer_carries_a_hint_not_the_answer(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    path = write_answers(tmp_path / "exercises.py", {"b2": WRONG["sign"]["b2"]})
    _, lines = check_lines(capsys, str(path), "--only", "b2")
    assert "; hint: redo the sign of each local derivative along the chain" in lines["b2"]
    assert "sum(axis=0)" not in lines["b2"]


def test_a_solution_right_only_at_n_1_fails(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    only_one_sample = "return -2 * u4[0] / u4.shape[1]"
    path = write_answers(tmp_path / "exercises.py", {"b2": only_one_sample})
    status, lines = check_lines(capsys, str(path), "--only", "b2", "--seed", SEED)
    assert status == 1
    assert " wrong at N=" in lines["b2"]
    assert " wrong at N=1," not in lines["b2"]


def test_a_solution_wrong_only_at_n_1_fails_there(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    squeezed = "du1 = du2 * (u1 > 0)\nreturn np.squeeze(du1 @ w1.T)"
    path = write_answers(tmp_path / "exercises.py", {"x": squeezed})
    status, lines = check_lines(capsys, str(path), "--only", "x")
    assert status == 1
    assert re.search(
        r"wrong at N=1, .*: shape differs: got \(\d+,\), expected \(1, \d+\)", lines["x"]
    ), lines["x"]


def test_a_solution_wrong_only_at_one_hidden_unit_fails_there(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    squeezed = "du1 = du2 * (u1 > 0)\nreturn np.squeeze(du1.sum(axis=0))"
    path = write_answers(tmp_path / "exercises.py", {"b1": squeezed})
    _, lines = check_lines(capsys, str(path), "--only", "b1")
    assert re.search(
        r"wrong at N=\d+, n_in=\d+, n_hidden=1, .*shape differs: got \(\), "
        r"expected \(1,\)",
        lines["b1"],
    ), lines["b1"]


def test_init_writes_a_starter_that_check_reports_not_done_yet_with_exit_1(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    assert main(["exercises", "init", str(tmp_path)]) == 0
    status, lines = check_lines(capsys, str(tmp_path / "exercises.py"))
    assert status == 1
    assert lines["w1"] == "dloss_dw1       ok"
    assert {name: line.split(maxsplit=1)[1] for name, line in lines.items() if name != "w1"} == {
        exercise.name: "not done yet" for exercise in EXERCISES[1:]
    }


def test_the_starter_filled_in_with_right_answers_passes_with_exit_0(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    main(["exercises", "init", str(tmp_path)])
    path = tmp_path / "exercises.py"
    text = path.read_text()
    for exercise in EXERCISES[1:]:
        stub = f'    raise NotImplementedError("{exercise.function}: not done yet")\n'
        assert text.count(stub) == 1, exercise.function
        body = "".join(f"    {line}\n" for line in RIGHT[exercise.name].splitlines())
        text = text.replace(stub, body)
    path.write_text(text)
    status, lines = check_lines(capsys, str(path))
    assert status == 0
    assert all(line.endswith(" ok") for line in lines.values())
    assert len(lines) == len(EXERCISES)


def test_the_starters_worked_example_is_the_tutorials_chain() -> None:
    assert get_exercise("w1").worked is not None
    code_lines = [line.split("#")[0].strip() for line in get_exercise("w1").worked.splitlines()]
    assert code_lines == WORKED_W1.splitlines()


def test_init_refuses_to_overwrite_existing_work_without_force(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    (tmp_path / "exercises.py").write_text("# my work\n")
    assert main(["exercises", "init", str(tmp_path)]) == 2
    assert "already exists" in one_line(capsys.readouterr().err)
    assert (tmp_path / "exercises.py").read_text() == "# my work\n"


def test_init_with_force_overwrites(tmp_path: Path) -> None:
    (tmp_path / "exercises.py").write_text("# my work\n")
    assert main(["exercises", "init", str(tmp_path), "--force"]) == 0
    assert "def dloss_dx(" in (tmp_path / "exercises.py").read_text()


def test_check_grades_a_notebooks_code_cells(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    assert main(["exercises", "init", str(tmp_path), "--notebook"]) == 0
    status, lines = check_lines(capsys, str(tmp_path / "exercises.ipynb"))
    assert status == 1
    assert lines["w1"].endswith(" ok")
    assert lines["x"].endswith(" not done yet")


def test_check_without_a_file_names_the_fix(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    assert main(["exercises", "check", str(tmp_path / "missing.py")]) == 2
    assert "run `chainrule exercises init`" in one_line(capsys.readouterr().err)


def test_hint_levels_add_stronger_hints_under_unsolved_exercises(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    path = write_answers(tmp_path / "exercises.py", {"b1": WRONG["mask"]["b1"], "b2": RIGHT["b2"]})
    main(["exercises", "check", str(path), "--only", "b1,b2", "--hint", "2"])
    lines = capsys.readouterr().out.splitlines()
    b1 = next(index for index, line in enumerate(lines) if line.startswith("dloss_db1"))
    assert lines[b1 + 1].startswith("    hint 1: b1 shares every factor with w1's")
    assert lines[b1 + 2].startswith("    hint 2: b1 is added to every row")
    assert lines[b1 + 3].startswith("dloss_db2")


def test_a_hint_level_out_of_range_is_an_error(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    path = write_answers(tmp_path / "exercises.py", {"b2": RIGHT["b2"]})
    assert main(["exercises", "check", str(path), "--hint", "4"]) == 2
    assert "--hint takes a level from 0 to 3, got 4" in one_line(capsys.readouterr().err)


def test_solution_prints_the_derivation_with_the_minus_sign_and_the_row_sum(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["exercises", "check", "--solution", "b2"]) == 0
    derivation = capsys.readouterr().out
    assert "dloss/du3 = -dloss/du4" in derivation
    assert "du4/du3 = -1" in derivation
    assert "sum over the rows of dloss/du3" in derivation
    assert "2 u4 / (N * n_out)" in derivation


def test_solution_of_an_unknown_exercise_lists_the_exercises(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["exercises", "check", "--solution", "w3"]) == 2
    captured = capsys.readouterr()
    assert "no exercise called 'w3'; the exercises are w1, x, b1" in one_line(captured.err)
    assert captured.out == ""


def one_line(text: str) -> str:
    """The one line a refused command writes to stderr (README: every command reports a
    problem in one line on stderr with status 2)."""
    lines = text.splitlines()
    assert len(lines) == 1, text
    return lines[0]
