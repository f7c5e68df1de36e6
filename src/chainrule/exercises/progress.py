"""Progress kept in the exercise folder: which exercises passed, and when, in a small JSON
file, so that a rerun says what is left."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from chainrule.exercises.grading import CheckResult

PROGRESS_FILE = "exercises-progress.json"


def load_progress(folder: Path) -> dict[str, dict[str, Any]]:
    """{name: {"passed": bool, "first_passed": iso time or absent, "last_checked": iso time}}."""
    path = folder / PROGRESS_FILE
    if not path.exists():
        return {}
    try:
        progress = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:  # JSONDecodeError and UnicodeDecodeError included
        what = "cannot be read" if isinstance(error, OSError) else "is not valid JSON"
        raise ValueError(
            f"the progress file {path} {what} ({error}); delete it "
            "and check again to start the record afresh"
        ) from error
    if not isinstance(progress, dict):
        raise ValueError(
            f"the progress file {path} holds {type(progress).__name__}, not an "
            "object; delete it and check again to start the record afresh"
        )
    for name, entry in progress.items():
        problem = _entry_problem(entry)
        if problem is not None:
            raise ValueError(
                f"the progress file {path} has a bad entry {name!r}: {problem}; fix the "
                f'entry as {{"passed": true or false, "first_passed": "{_EXAMPLE_TIME}", '
                f'"last_checked": "{_EXAMPLE_TIME}"}} (the times optional), or delete it '
                "(or the file) and check again"
            )
    return progress


_EXAMPLE_TIME = "2026-12-02T14:00:00+00:00"


def _entry_problem(entry: object) -> str | None:
    """What is wrong with one exercise's record, or None: a hand edit or a truncated write
    can leave a value the summary would misread (the string "false" is true) or that
    `record_progress` cannot update."""
    if not isinstance(entry, dict):
        return f"it holds {json.dumps(entry)}, not an object"
    passed = entry.get("passed")
    if not isinstance(passed, bool):
        return f'"passed" is {json.dumps(passed)}, not true or false'
    for key in ("first_passed", "last_checked"):
        if key not in entry:
            continue
        stamp = entry[key]
        try:
            datetime.fromisoformat(stamp)
        except (TypeError, ValueError):
            return f'"{key}" is {json.dumps(stamp)}, not a time like "{_EXAMPLE_TIME}"'
    return None


def record_progress(
    folder: Path, results: Iterable[CheckResult], *, now: datetime | None = None
) -> dict[str, dict[str, Any]]:
    """Update the folder's progress file with `results` and return the whole record."""
    progress = load_progress(folder)
    stamp = (now or datetime.now(timezone.utc)).isoformat(timespec="seconds")
    for result in results:
        entry = progress.setdefault(result.name, {})
        entry["passed"] = result.passed
        entry["last_checked"] = stamp
        if result.passed:
            entry.setdefault("first_passed", stamp)
    _write_whole(folder / PROGRESS_FILE, json.dumps(progress, indent=2, sort_keys=True) + "\n")
    return progress


def _write_whole(path: Path, text: str) -> None:
    """Write `text` to `path` all or nothing: to a file beside it, then renamed over it, so a
    write cut short (Ctrl-C, a full disk) leaves the old record, never half a new one."""
    partial = path.with_name(f"{path.name}.partial")
    try:
        partial.write_text(text)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def progress_summary(
    results: Iterable[CheckResult],
    previous: dict[str, dict[str, Any]],
    *,
    kept: bool = True,
    every: Iterable[str] = (),
) -> str:
    """One line: how many pass, which are left, which passed before but fail now, and
    whether the record was `kept`. Where only some of the exercises named in `every` were
    checked (`--only`), it also says where the whole set stands, from the record and these
    results, so a pass of the chosen few never reads as the whole set done."""
    results = tuple(results)
    left = [result.name for result in results if not result.passed]
    slipped = [name for name in left if previous.get(name, {}).get("passed")]
    passed = len(results) - len(left)
    every = tuple(every)
    checked = {result.name for result in results}
    if not set(every) - checked:
        line = f"{passed} of {len(results)} passed"
        line += f"; left: {', '.join(left)}" if left else ": all done"
    else:
        line = f"{passed} of {len(results)} checked passed"
        if left:
            line += f" (left: {', '.join(left)})"
        now = {result.name: result.passed for result in results}
        standing = [now.get(name, previous.get(name, {}).get("passed", False)) for name in every]
        not_yet = [name for name, done in zip(every, standing, strict=True) if not done]
        line += f"; of all {len(every)} exercises {len(every) - len(not_yet)} passed so far"
        line += f", not yet: {', '.join(not_yet)}" if not_yet else ": all done"
    if slipped:
        line += f" (passed at the last check, failing now: {', '.join(slipped)})"
    return f"{line} (progress {'kept in' if kept else 'NOT kept: could not write'} {PROGRESS_FILE})"
