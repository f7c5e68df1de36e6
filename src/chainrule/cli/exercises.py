"""`chainrule exercises`: write the tutorial's exercises to fill in (`init`), and grade them
(`check`), with hints in levels and the derivations on request.

Under mpiexec rank 0 alone writes, grades and prints; the others end at once."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from chainrule.cli._common import not_lead_rank


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "exercises",
        help="the tutorial's exercises: write a starter file, then check it",
        description=__doc__,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    init = actions.add_parser(
        "init",
        help="write exercises.py (and exercises.ipynb) to fill in",
        description="Write exercises.py (with --notebook also exercises.ipynb): one function "
        "per gradient of the tutorial network, dloss/dw1 worked as the example, each stating "
        "what it receives and the shape it returns. Refuses to overwrite work without --force.",
    )
    init.add_argument(
        "folder", nargs="?", type=Path, default=Path("."), help="where to write (default: here)"
    )
    init.add_argument(
        "--notebook",
        action="store_true",
        help="also write the exercises as a Jupyter notebook, exercises.ipynb",
    )
    init.add_argument("--force", action="store_true", help="overwrite existing files")
    init.set_defaults(run=run_init)
    check = actions.add_parser(
        "check",
        help="grade a filled-in exercises.py or .ipynb",
        description="Import the file in a subprocess with a time limit, run each function on "
        "fresh random shapes and print one line an exercise: ok, not done yet, or what is "
        "wrong (a sign, a factor N, a transpose, ...). Exit status 0 when all pass, 1 "
        "otherwise; progress is kept in exercises-progress.json beside the file.",
    )
    check.add_argument(
        "file",
        nargs="?",
        type=Path,
        default=Path("exercises.py"),
        help="the file to grade (default: ./exercises.py)",
    )
    check.add_argument(
        "--hint",
        type=int,
        default=0,
        metavar="LEVEL",
        help="print hints up to this level (1 to 3) under each unsolved exercise",
    )
    check.add_argument(
        "--solution",
        metavar="NAME",
        help="print the derivation of exercise NAME (x, b1, w2, ...) and stop",
    )
    check.add_argument(
        "--only", metavar="NAMES", help="grade only these exercises, comma-separated (default: all)"
    )
    check.add_argument(
        "--time-limit",
        type=float,
        default=None,
        metavar="SECONDS",
        help="time the file may take to import, and each exercise to run (default 10)",
    )
    check.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed of the random shapes (default: fresh ones every run)",
    )
    check.set_defaults(run=run_check)


def run_init(args: argparse.Namespace) -> int:
    from chainrule.exercises import write_starter

    ended = not_lead_rank("exercises init")
    if ended is not None:
        return ended
    try:
        written = write_starter(args.folder, notebook=args.notebook, force=args.force)
    except FileExistsError as error:
        print(f"chainrule exercises init: {error}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    print(f"Fill in the functions, then run: chainrule exercises check {written[0]}")
    return 0


def run_check(args: argparse.Namespace) -> int:
    from chainrule.exercises import (
        DEFAULT_TIME_LIMIT,
        EXERCISES,
        HINTS,
        SOLUTIONS,
        get_exercise,
        grade_file,
        load_progress,
        record_progress,
    )
    from chainrule.exercises.hints import MAX_HINT_LEVEL
    from chainrule.exercises.progress import progress_summary

    ended = not_lead_rank("exercises check")
    if ended is not None:
        return ended
    try:
        if args.solution is not None:
            print(SOLUTIONS[get_exercise(args.solution).name], end="")
            return 0
        if not 0 <= args.hint <= MAX_HINT_LEVEL:
            raise ValueError(f"--hint takes a level from 0 to {MAX_HINT_LEVEL}, got {args.hint}")
        names = args.only.split(",") if args.only else None
        time_limit = DEFAULT_TIME_LIMIT if args.time_limit is None else args.time_limit
        folder = args.file.parent
        previous = load_progress(folder)
        report = grade_file(args.file, names=names, time_limit=time_limit, seed=args.seed)
    except ValueError as error:
        print(f"chainrule exercises check: {error}", file=sys.stderr)
        return 2
    for line, result in zip(report.lines(), report.results or (None,), strict=False):
        print(line)
        if result is not None and not result.passed:
            for level in range(args.hint):
                print(f"    hint {level + 1}: {HINTS[result.name][level]}")
    if report.problem is None:
        every = [exercise.name for exercise in EXERCISES]
        try:
            record_progress(folder, report.results)
        except OSError as error:  # a read-only folder, a full disk: the grades still stand
            print(
                f"chainrule exercises check: could not write the progress file in {folder} "
                f"({error}); the results above are not recorded",
                file=sys.stderr,
            )
            print(progress_summary(report.results, previous, kept=False, every=every))
        else:
            print(progress_summary(report.results, previous, every=every))
    return 0 if report.passed else 1
