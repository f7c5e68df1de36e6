"""Progress kept in the exercise folder: which passed and when, so a rerun says what is left."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from chainrule.cli import main
from chainrule.exercises import PROGRESS_FILE, CheckResult, Status, load_progress, record_progress

RIGHT_B2 = "def dloss_db2(u4):\n    return (-2 * u4 / u4.size).sum(axis=0)\n"
WRONG_B2 = "def dloss_db2(u4):\n    return (2 * u4 / u4.size).sum(axis=0)\n"
RIGHT_W2 = "def dloss_dw2(u2, u4):\n    return u2.T @ (-2 * u4 / u4.size)\n"
STUB_W2 = "def dloss_dw2(u2, u4):\n    raise NotImplementedError\n"


def check_folder(capsys: pytest.CaptureFixture[str], folder: Path, text: str) -> list[str]:
    (folder / "exercises.py").write_text(text)
    main(["exercises", "check", str(folder / "exercises.py"), "--only", "b2,w2"])
    return capsys.readouterr().out.splitlines()


def test_check_records_which_passed_and_when_in_the_folder(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    before = datetime.now(timezone.utc).replace(microsecond=0)
    check_folder(capsys, tmp_path, RIGHT_B2 + STUB_W2)
    progress = json.loads((tmp_path / PROGRESS_FILE).read_text())
    assert sorted(progress) == ["b2", "w2"]
    assert progress["b2"]["passed"] is True
    assert progress["w2"]["passed"] is False
    assert "first_passed" not in progress["w2"]
    assert datetime.fromisoformat(progress["b2"]["first_passed"]) >= before


def test_the_summary_says_what_is_left(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    lines = check_folder(capsys, tmp_path, RIGHT_B2 + STUB_W2)
    assert lines[-1] == (
        "1 of 2 checked passed (left: w2); of all 8 exercises 1 passed so far, not yet: "
        f"w1, x, b1, w2, u2, deep_w2, logits (progress kept in {PROGRESS_FILE})"
    )


def test_a_rerun_keeps_the_first_pass_time(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    check_folder(capsys, tmp_path, RIGHT_B2 + STUB_W2)
    first = load_progress(tmp_path)["b2"]["first_passed"]
    lines = check_folder(capsys, tmp_path, RIGHT_B2 + RIGHT_W2)
    assert load_progress(tmp_path)["b2"]["first_passed"] == first
    assert lines[-1].startswith("2 of 2 checked passed; of all 8 exercises 2 passed so far")


def test_a_pass_of_the_chosen_few_is_not_the_whole_set_done(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    check_folder(capsys, tmp_path, RIGHT_B2 + RIGHT_W2)
    progress = load_progress(tmp_path)
    assert "all done" not in capsys.readouterr().out
    others = ["w1", "x", "b1", "u2", "deep_w2", "logits"]
    record_progress(tmp_path, [CheckResult(name, name, Status.PASSED) for name in others[:-1]])
    lines = check_folder(capsys, tmp_path, RIGHT_B2 + RIGHT_W2)
    assert lines[-1] == (
        "2 of 2 checked passed; of all 8 exercises 7 passed so far, not yet: logits "
        f"(progress kept in {PROGRESS_FILE})"
    )
    record_progress(tmp_path, [CheckResult("logits", "logits", Status.PASSED)])
    lines = check_folder(capsys, tmp_path, RIGHT_B2 + RIGHT_W2)
    assert lines[-1] == (
        "2 of 2 checked passed; of all 8 exercises 8 passed so far: all done "
        f"(progress kept in {PROGRESS_FILE})"
    )
    assert load_progress(tmp_path)["b2"]["first_passed"] == progress["b2"]["first_passed"]


def test_a_rerun_names_an_exercise_that_passed_before_and_fails_now(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    check_folder(capsys, tmp_path, RIGHT_B2 + RIGHT_W2)
    lines = check_folder(capsys, tmp_path, WRONG_B2 + RIGHT_W2)
    assert lines[-1] == (
        "1 of 2 checked passed (left: b2); of all 8 exercises 1 passed so far, not yet: "
        "w1, x, b1, b2, u2, deep_w2, logits (passed at the last check, failing now: b2) "
        f"(progress kept in {PROGRESS_FILE})"
    )


def test_record_progress_stamps_the_time_given(tmp_path: Path) -> None:
    when = datetime(2026, 11, 30, 7, 0, tzinfo=timezone.utc)
    record_progress(tmp_path, [CheckResult("x", "dloss_dx", Status.PASSED)], now=when)
    assert load_progress(tmp_path) == {
        "x": {
            "passed": True,
            "first_passed": "2026-11-30T07:00:00+00:00",
            "last_checked": "2026-11-30T07:00:00+00:00",
        }
    }


def test_a_corrupt_progress_file_names_the_file_and_the_fix(tmp_path: Path) -> None:
    (tmp_path / PROGRESS_FILE).write_text("{not json")
    with pytest.raises(ValueError, match=r"is not valid JSON .*; delete it and check again"):
        load_progress(tmp_path)


@pytest.mark.parametrize(
    ("entry", "what"),
    [
        ('"yes"', 'it holds "yes", not an object'),
        ("null", "it holds null, not an object"),
        ('{"passed": "false"}', '"passed" is "false", not true or false'),
        ('{"last_checked": "2026-11-30T07:00:00+00:00"}', '"passed" is null, not true or false'),
        ('{"passed": true, "first_passed": 5}', '"first_passed" is 5, not a time like'),
        ('{"passed": false, "last_checked": "2026-13-45"}', '"last_checked" is "2026-13-45"'),
    ],
)
def test_a_bad_entry_in_the_progress_file_names_the_file_the_entry_and_the_fix(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, entry: str, what: str
) -> None:
    progress = tmp_path / PROGRESS_FILE
    text = '{"w2": {"passed": true}, "b2": ' + entry + "}\n"
    progress.write_text(text)
    (tmp_path / "exercises.py").write_text(RIGHT_B2)
    status = main(["exercises", "check", str(tmp_path / "exercises.py"), "--only", "b2"])
    captured = capsys.readouterr()
    assert status == 2
    assert captured.out == ""
    assert captured.err.startswith(
        f"chainrule exercises check: the progress file {progress} has a bad entry 'b2': {what}"
    ), captured.err
    assert captured.err.rstrip().endswith("or delete it (or the file) and check again")
    assert progress.read_text() == text  # left as it was, for the learner to mend


def test_a_write_cut_short_leaves_the_previous_record_whole(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    when = datetime(2026, 11, 30, 7, 0, tzinfo=timezone.utc)
    record_progress(tmp_path, [CheckResult("x", "dloss_dx", Status.PASSED)], now=when)
    before = (tmp_path / PROGRESS_FILE).read_text()
    write_text = Path.write_text

    def cut_short(path: Path, text: str, *args: object, **kwargs: object) -> int:
        write_text(path, text[: len(text) // 2])
        raise KeyboardInterrupt  # Ctrl-C halfway through the write

    monkeypatch.setattr(Path, "write_text", cut_short)
    with pytest.raises(KeyboardInterrupt):
        record_progress(tmp_path, [CheckResult("b1", "dloss_db1", Status.WRONG)], now=when)
    monkeypatch.undo()
    assert (tmp_path / PROGRESS_FILE).read_text() == before
    assert sorted(path.name for path in tmp_path.iterdir()) == [PROGRESS_FILE]


def test_a_progress_file_of_bytes_that_are_not_text_names_the_file_and_the_fix(
    tmp_path: Path,
) -> None:
    (tmp_path / PROGRESS_FILE).write_bytes(b'\xff\xfe{"b2"')
    with pytest.raises(
        ValueError, match=r"is not valid JSON .*; delete it and check again"
    ) as error:
        load_progress(tmp_path)
    assert str(error.value).startswith(f"the progress file {tmp_path / PROGRESS_FILE} ")


def test_a_progress_path_that_is_a_folder_names_it_and_the_fix(tmp_path: Path) -> None:
    (tmp_path / PROGRESS_FILE).mkdir()
    with pytest.raises(ValueError, match=r"cannot be read .*; delete it and check again") as error:
        load_progress(tmp_path)
    assert str(error.value).startswith(f"the progress file {tmp_path / PROGRESS_FILE} ")


def test_a_folder_the_progress_cannot_be_written_to_still_shows_the_grades(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "exercises.py").write_text(RIGHT_B2)
    write_text = Path.write_text

    def read_only(path: Path, text: str, *args: object, **kwargs: object) -> int:
        if path.parent == tmp_path:
            raise PermissionError(13, "Permission denied", str(path))
        return write_text(path, text)

    monkeypatch.setattr(Path, "write_text", read_only)
    status = main(["exercises", "check", str(tmp_path / "exercises.py"), "--only", "b2"])
    captured = capsys.readouterr()
    assert status == 0
    assert captured.out.splitlines() == [
        "dloss_db2       ok",
        "1 of 1 checked passed; of all 8 exercises 1 passed so far, not yet: w1, x, b1, w2, "
        f"u2, deep_w2, logits (progress NOT kept: could not write {PROGRESS_FILE})",
    ]
    assert captured.err.startswith(
        f"chainrule exercises check: could not write the progress file in {tmp_path} "
        "([Errno 13] Permission denied"
    ), captured.err
    assert not (tmp_path / PROGRESS_FILE).exists()
