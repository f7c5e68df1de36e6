"""The file grader contains the learner's code: a hang, a crash, an exit or an import
failure is reported in one line and never takes the checker down."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chainrule.cli import main
from chainrule.exercises import starter_notebook

RIGHT_B2 = """
def dloss_db2(u4):
    return (-2 * u4 / u4.size).sum(axis=0)
"""

RIGHT_W2 = """
def dloss_dw2(u2, u4):
    return u2.T @ (-2 * u4 / u4.size)
"""


def run_check(capsys: pytest.CaptureFixture[str], path: Path, *extra: str) -> tuple[int, list[str]]:
    status = main(
        ["exercises", "check", str(path), "--only", "w2,b2,u2", "--time-limit", "3", *extra]
    )
    return status, capsys.readouterr().out.splitlines()


def learner_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exercises.py"
    path.write_text("import numpy as np\n" + text)
    return path


def test_a_hang_in_one_exercise_times_out_and_the_others_are_still_graded(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    hang = "\ndef dloss_db2(u4):\n    while True:\n        pass\n"
    status, lines = run_check(capsys, learner_file(tmp_path, RIGHT_W2 + hang))
    assert status == 1
    assert lines[:3] == [
        "dloss_dw2       ok",
        "dloss_db2       timed out: took longer than 3 s: a loop that never ends?",
        "dloss_du2       missing: no function dloss_du2 in exercises.py",
    ]


def test_a_segfault_in_one_exercise_is_reported_as_a_crash(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    crash = (
        "\ndef dloss_db2(u4):\n    import os, signal\n    os.kill(os.getpid(), signal.SIGSEGV)\n"
    )
    status, lines = run_check(capsys, learner_file(tmp_path, RIGHT_W2 + crash))
    assert status == 1
    assert lines[:2] == [
        "dloss_dw2       ok",
        "dloss_db2       crashed: the process died of SIGSEGV",
    ]


def test_os_exit_in_one_exercise_is_reported_as_a_crash(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    exits = "\ndef dloss_db2(u4):\n    import os\n    os._exit(0)\n"
    _, lines = run_check(capsys, learner_file(tmp_path, exits + RIGHT_W2))
    assert lines[1] == (
        "dloss_db2       crashed: the process exited with status 0 without finishing (os._exit?)"
    )
    assert lines[0] == "dloss_dw2       ok"


def test_sys_exit_in_an_exercise_is_an_error_of_that_exercise(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    exits = "\ndef dloss_db2(u4):\n    import sys\n    sys.exit('done')\n"
    _, lines = run_check(capsys, learner_file(tmp_path, exits))
    assert lines[1].startswith("dloss_db2       error at N=")
    assert lines[1].endswith(": called sys.exit('done')")


def test_a_syntax_error_is_one_line_with_its_line_number(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    status, lines = run_check(capsys, learner_file(tmp_path, "def dloss_db2(u4)\n    pass\n"))
    assert status == 1
    assert lines == ["exercises.py: could not be imported: SyntaxError: expected ':' (line 2)"]


def test_an_exception_at_import_is_one_line_with_its_line_number(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    status, lines = run_check(capsys, learner_file(tmp_path, RIGHT_B2 + "\n1 / 0\n"))
    assert status == 1
    assert lines == [
        "exercises.py: could not be imported: raised ZeroDivisionError: division by zero (line 6)"
    ]


def test_a_hang_at_import_is_one_line(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    status, lines = run_check(capsys, learner_file(tmp_path, "import time\ntime.sleep(60)\n"))
    assert status == 1
    assert lines == [
        "exercises.py: importing took longer than 3 s: a loop that never ends at "
        "the top level of the file?"
    ]


def test_sys_exit_at_import_is_one_line(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    _, lines = run_check(capsys, learner_file(tmp_path, "import sys\nsys.exit(2)\n"))
    assert lines == ["exercises.py: could not be imported: called sys.exit(2)"]


def test_the_learners_prints_do_not_disturb_the_report(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    noisy = 'print("{\\"event\\": \\"result\\"}")\n' + RIGHT_B2.replace(
        "return", "print('debugging', u4.shape)\n    return"
    )
    status, lines = (
        main(["exercises", "check", str(learner_file(tmp_path, noisy)), "--only", "b2"]),
        capsys.readouterr().out.splitlines(),
    )
    assert status == 0
    assert lines[0] == "dloss_db2       ok"


def test_a_time_limit_that_is_not_positive_is_an_error(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    status = main(
        ["exercises", "check", str(learner_file(tmp_path, RIGHT_B2)), "--time-limit", "0"]
    )
    captured = capsys.readouterr()
    assert status == 2
    assert captured.err == "chainrule exercises check: the time limit must be positive, got 0.0 s\n"
    assert captured.out == ""


def test_the_file_grader_refuses_an_in_place_answer_and_one_chainrule_computed(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    text = (
        "from chainrule import manual\n\n"
        "def dloss_dw2(u2, u4):\n    u4 *= -2 / u4.size\n    return u2.T @ u4\n\n"
        "def dloss_db2(u4):\n    criterion = manual.MSE()\n"
        "    criterion.forward(-u4, np.zeros_like(u4))\n"
        "    return criterion.backward().sum(axis=0)\n"
    )
    status, lines = run_check(capsys, learner_file(tmp_path, text))
    assert status == 1
    assert lines[0].startswith("dloss_dw2       wrong at N=")
    assert ": changed its argument u4 in place" in lines[0]
    assert lines[1].startswith("dloss_db2       wrong at N=")
    assert ": called chainrule's own chainrule.manual.layers.MSE." in lines[1]


def test_an_exercise_named_twice_is_graded_once(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    path = learner_file(tmp_path, RIGHT_B2)
    status = main(["exercises", "check", str(path), "--only", "b2,dloss_db2,b2"])
    assert capsys.readouterr().out.splitlines() == [
        "dloss_db2       ok",
        "1 of 1 checked passed; of all 8 exercises 1 passed so far, not yet: w1, x, b1, w2, "
        "u2, deep_w2, logits (progress kept in exercises-progress.json)",
    ]
    assert status == 0


def notebook_with(tmp_path: Path, cell_id: str, source: str) -> Path:
    document = json.loads(starter_notebook())
    for cell in document["cells"]:
        if cell["id"] == cell_id:
            cell["source"] = source.splitlines(keepends=True)
    path = tmp_path / "exercises.ipynb"
    path.write_text(json.dumps(document))
    return path


def test_an_error_in_a_notebook_names_the_cell_and_its_line_not_the_scripts(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    broken = "def dloss_db2(u4):\n    return u4 @ np.ones((u4.shape[1] + 1, 2))\n"
    path = notebook_with(tmp_path, "b2-code", broken)
    main(["exercises", "check", str(path), "--only", "b2"])
    line = capsys.readouterr().out.splitlines()[0]
    assert line.startswith("dloss_db2       error at N="), line
    assert line.endswith("(line 2 of the cell that begins 'def dloss_db2(u4):')"), line


def test_a_failure_to_import_a_notebook_names_the_cell_and_its_line(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    path = notebook_with(tmp_path, "x-code", "\nscale = 2\nscale / 0\n")
    main(["exercises", "check", str(path), "--only", "b2"])
    assert capsys.readouterr().out.splitlines() == [
        "exercises.ipynb: could not be imported: raised ZeroDivisionError: division by zero "
        "(line 3 of the cell that begins 'scale = 2')"
    ]
