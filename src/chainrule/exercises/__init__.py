"""The tutorial's exercises, graded: a starter file to fill in, a checker that runs it on
random shapes and names what is wrong, hints, derivations, and progress kept on disk.

From Python: `check("b1", my_fn)` grades one function in this process and returns a
`CheckResult` (`passed`, `message`; printing it gives the checker's one line).
"""

from chainrule.exercises.catalogue import EXERCISES, Exercise, get_exercise
from chainrule.exercises.grader import DEFAULT_TIME_LIMIT, FileReport, grade_file
from chainrule.exercises.grading import CheckResult, Status, check
from chainrule.exercises.hints import HINTS, SOLUTIONS
from chainrule.exercises.progress import PROGRESS_FILE, load_progress, record_progress
from chainrule.exercises.starter import starter_notebook, starter_source, write_starter

__all__ = [
    "DEFAULT_TIME_LIMIT",
    "EXERCISES",
    "HINTS",
    "PROGRESS_FILE",
    "SOLUTIONS",
    "CheckResult",
    "Exercise",
    "FileReport",
    "Status",
    "check",
    "get_exercise",
    "grade_file",
    "load_progress",
    "record_progress",
    "starter_notebook",
    "starter_source",
    "write_starter",
]
