"""The `chainrule` console script's entry point, outside the package so that it runs before
`import chainrule` (NumPy and the rest, most of a second): Ctrl-C during that start-up exits
with status 130 and one line, as Ctrl-C later does, instead of a traceback from an import.
`python -m chainrule` installs the same guard from the first line of chainrule/__init__.py.
"""

from __future__ import annotations

import os
import signal
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing and types are not imported at run time: this module runs first
    from types import FrameType

INTERRUPTED = 130
"""The exit status after Ctrl-C (128 + SIGINT), as shells report it."""

_guarded = False
"""Whether the guard replaced Python's own SIGINT handler (restored by `run`)."""


def _exit_interrupted(signum: int, frame: FrameType | None) -> None:
    # Nothing is written yet and imports are half done: leave at once, without unwinding.
    os.write(2, b"\nchainrule: interrupted\n")
    os._exit(INTERRUPTED)


def guard_start_up() -> None:
    """Until `run` starts the command line, Ctrl-C exits 130 with one line. A SIGINT that is
    ignored (a background job's child) stays ignored."""
    global _guarded
    if not _guarded and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        _guarded = True
        signal.signal(signal.SIGINT, _exit_interrupted)


def run_as_main() -> bool:
    """True when this interpreter was started as `python -m chainrule` (not a submodule):
    read from the interpreter's own options, which come before -m, -c or a script."""
    options: list[str] = list(getattr(sys, "orig_argv", []))[1:]
    position = 0
    while position < len(options) and options[position].startswith("-"):
        option = options[position]
        if option == "-m":
            return options[position + 1 : position + 2] == ["chainrule"]
        if option.startswith("-m"):
            return option == "-mchainrule"
        if option in ("-c", "-"):
            return False
        position += 2 if option in ("-W", "-X") else 1
    return False


def run() -> int:
    """Import and run the command line (chainrule.cli.main) behind the start-up guard, then
    hand Ctrl-C back to Python, so that a running command sees KeyboardInterrupt."""
    global _guarded
    guard_start_up()
    try:
        from chainrule.cli import main

        if _guarded:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            _guarded = False
        return main()
    except KeyboardInterrupt:
        print("\nchainrule: interrupted", file=sys.stderr)
        return INTERRUPTED


def main() -> int:
    """The console script: `chainrule COMMAND ...`."""
    return run()


if run_as_main():
    # Imported from chainrule/__init__.py's first line under `python -m chainrule`.
    guard_start_up()
