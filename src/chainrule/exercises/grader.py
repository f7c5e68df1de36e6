"""Grading a learner's file: import it in a subprocess under a time limit and collect one
result an exercise, so that a hang, a crash or an exit in their code is reported, never
taking the checker down.

A hang or crash during one exercise is charged to that exercise alone: a fresh subprocess
then grades the ones after it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import chainrule
from chainrule.exercises.catalogue import EXERCISES, get_exercise
from chainrule.exercises.grading import CheckResult, Status
from chainrule.exercises.notebook import cell_of_line, notebook_code

DEFAULT_TIME_LIMIT = 10.0
"""Seconds the learner's file may take to import, and each exercise to run on all shapes."""

STARTUP_LIMIT = 120.0
"""Seconds the subprocess may take to start (import NumPy and chainrule) on a busy machine."""


@dataclass(frozen=True)
class FileReport:
    """The results of one file: one per exercise, or `problem`, one line saying why the file
    could not be imported at all (then `results` is empty)."""

    path: Path
    results: tuple[CheckResult, ...]
    problem: str | None = None

    @property
    def passed(self) -> bool:
        return self.problem is None and all(result.passed for result in self.results)

    def lines(self) -> list[str]:
        if self.problem is not None:
            return [f"{self.path.name}: {self.problem}"]
        return [str(result) for result in self.results]


@dataclass
class _RunOutcome:
    results: dict[str, CheckResult]
    problem: str | None = None


def grade_file(
    path: Path,
    *,
    names: Sequence[str] | None = None,
    time_limit: float = DEFAULT_TIME_LIMIT,
    seed: int | None = None,
) -> FileReport:
    """Grade the exercises `names` (default all) as defined in the Python file or notebook
    (.ipynb: its code cells) at `path`, each on fresh random shapes (fixed by `seed`)."""
    if not path.is_file():
        raise ValueError(
            f"no exercise file at {path}: run `chainrule exercises init` to write "
            "one, or give the path to yours"
        )
    if time_limit <= 0:
        raise ValueError(f"the time limit must be positive, got {time_limit} s")
    # Each once, in the order first asked: "b2,dloss_db2" names one exercise.
    wanted = list(
        dict.fromkeys(
            [get_exercise(name).name for name in names]
            if names
            else [exercise.name for exercise in EXERCISES]
        )
    )
    chosen_seed = int(np.random.default_rng(seed).integers(2**31))
    with tempfile.TemporaryDirectory() as scratch:
        script = path
        if path.suffix == ".ipynb":
            script = Path(scratch) / f"{path.stem}.py"
            script.write_text(notebook_code(path))
        results: dict[str, CheckResult] = {}
        while len(results) < len(wanted):
            remaining = [name for name in wanted if name not in results]
            outcome = _run(script, path.parent, remaining, chosen_seed, time_limit)
            if outcome.problem is not None:
                return FileReport(path, (), _where_in(path, outcome.problem))
            if not outcome.results:
                # It ended between exercises without a word; charge the next one, so that
                # every round makes progress.
                outcome.results[remaining[0]] = _stopped(
                    remaining[0], Status.CRASHED, "the process ended unexpectedly"
                )
            results.update(outcome.results)
    return FileReport(
        path,
        tuple(
            dataclasses.replace(results[name], message=_where_in(path, results[name].message))
            for name in wanted
        ),
    )


_SCRIPT_LINE = re.compile(r"\(line (\d+)\)$")
"""How `describe_error` ends a message: the line of the learner's file."""


def _where_in(path: Path, message: str) -> str:
    """`message` with its closing "(line N)" named by cell when `path` is a notebook: the
    line is one of the script made of its code cells, which the learner never sees."""
    found = _SCRIPT_LINE.search(message)
    if path.suffix != ".ipynb" or found is None:
        return message
    where = cell_of_line(path, int(found.group(1)))
    return message if where is None else f"{message[: found.start()]}({where})"


def _run(script: Path, folder: Path, names: list[str], seed: int, time_limit: float) -> _RunOutcome:
    """One subprocess over `names`; it stops at the first exercise that hangs or crashes."""
    package_root = str(Path(chainrule.__file__).resolve().parents[1])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [package_root, *filter(None, [os.environ.get("PYTHONPATH")])]
        ),
    }
    command = [
        sys.executable,
        "-m",
        "chainrule.exercises.runner",
        str(script.resolve()),
        "--names",
        ",".join(names),
        "--seed",
        str(seed),
    ]
    process = subprocess.Popen(
        command,
        cwd=folder,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    stream = process.stdout
    if stream is None:
        raise RuntimeError("the grader's subprocess has no stdout pipe to report on")
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    outcome = _RunOutcome({})
    try:
        _follow(process, lines, outcome, time_limit)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        stream.close()
    return outcome


def _follow(
    process: subprocess.Popen[str],
    lines: queue.Queue[str | None],
    outcome: _RunOutcome,
    time_limit: float,
) -> None:
    """Read the runner's events until it ends, fills `outcome` or runs out of time."""
    stage, current, limit = "starting", "", STARTUP_LIMIT
    while True:
        try:
            line = lines.get(timeout=limit)
        except queue.Empty:
            if stage == "running" and current:
                outcome.results[current] = _stopped(
                    current,
                    Status.TIMED_OUT,
                    (f"took longer than {time_limit:g} s: a loop that never ends?"),
                )
            else:
                outcome.problem = (
                    f"{stage} took longer than {limit:g} s: a loop that never "
                    "ends at the top level of the file?"
                )
            return
        if line is None:
            died = _how_it_died(process.wait())
            if stage == "running" and current:
                outcome.results[current] = _stopped(current, Status.CRASHED, died)
            elif stage != "running":
                outcome.problem = f"crashed while {stage}: {died}"
            return
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        kind = event.get("event")
        if kind == "importing":
            stage, limit = "importing", time_limit
        elif kind == "import_failed":
            outcome.problem = f"could not be imported: {event['message']}"
            return
        elif kind == "imported":
            stage = "running"
        elif kind == "start":
            current, limit = event["name"], time_limit
        elif kind == "result":
            result = CheckResult.from_json(event["result"])
            outcome.results[result.name] = result
            current = ""


def _stopped(name: str, status: Status, message: str) -> CheckResult:
    exercise = get_exercise(name)
    return CheckResult(exercise.name, exercise.function, status, message)


def _how_it_died(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"the process died of {name}"
    return f"the process exited with status {returncode} without finishing (os._exit?)"
