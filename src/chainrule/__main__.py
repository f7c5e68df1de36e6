"""`python -m chainrule` runs the command line (Ctrl-C during start-up: see
chainrule_cli_entry, which chainrule/__init__.py imports first)."""

import sys

from chainrule_cli_entry import run

sys.exit(run())
