"""The subprocess side of the file grader: import the learner's file, grade the exercises
asked for, and report each as one JSON line on the original stdout.

Run as `python -m chainrule.exercises.runner FILE --names x,b1 --seed S`. The learner's own
output (print, C-level writes) goes to stderr, so it can never corrupt the report. Events:
{"event": "importing"}, {"event": "import_failed", "message": ...}, {"event": "imported"},
{"event": "start", "name": ...}, {"event": "result", "result": {...}}.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import IO, Any

import numpy as np

from chainrule.exercises.catalogue import EXERCISES, get_exercise
from chainrule.exercises.grading import CheckResult, Status, describe_error, grade_function


def _emit(channel: IO[str], event: str, **fields: Any) -> None:
    channel.write(json.dumps({"event": event, **fields}) + "\n")
    channel.flush()


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("learner_exercises", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chainrule.exercises.runner")
    parser.add_argument("file", type=Path)
    parser.add_argument("--names", required=True, help="exercise names, comma-separated")
    parser.add_argument("--seed", type=int, required=True)
    args = parser.parse_args(argv)
    report = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    sys.path[:0] = [str(args.file.resolve().parent), os.getcwd()]
    _emit(report, "importing")
    try:
        module = _load(args.file)
    except (Exception, SystemExit) as error:
        _emit(report, "import_failed", message=describe_error(error, str(args.file)))
        return 0
    _emit(report, "imported")
    for name in args.names.split(","):
        exercise = get_exercise(name)
        _emit(report, "start", name=name)
        function = getattr(module, exercise.function, None)
        if callable(function):
            # Seeded by exercise, so a rerun after a hang or crash poses the same problems.
            rng = np.random.default_rng([args.seed, EXERCISES.index(exercise)])
            result = grade_function(exercise, function, rng=rng)
        else:
            result = CheckResult(
                exercise.name,
                exercise.function,
                Status.MISSING,
                f"no function {exercise.function} in {args.file.name}",
            )
        _emit(report, "result", result=result.to_json())
    return 0


if __name__ == "__main__":
    sys.exit(main())
